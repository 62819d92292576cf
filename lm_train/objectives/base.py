"""The interface every objective implements; the trainer calls only these methods.

Losses come back as ``(loss_sum, count)``, never a mean: the trainer divides by the count
of the whole global batch (``count`` is asked before the forward pass, on every rank), so
the gradient does not depend on how the batch is split over ranks and micro-steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from lm_train.config import TrainConfig
    from schemas import Manifest

Batch = dict[str, Tensor]
AutocastFactory = Callable[[], contextlib.AbstractContextManager]


class Objective:
    """What one training objective decides: data, batch shaping, loss, metrics, the task head.

    Subclasses set ``name`` and implement ``loss`` and ``evaluate``; the rest has defaults
    that suit language modelling over the packed loader.
    """

    name: ClassVar[str] = ""

    def __init__(self, cfg: TrainConfig, manifest: Manifest) -> None:
        self.cfg, self.manifest = cfg, manifest

    # -- data ------------------------------------------------------------------------------
    def check_dataset(self, data: str) -> None:
        """Refuse a dataset this objective cannot train on (default: any dataset will do)."""

    def make_loader(self, data: str, split: str, rank: int, world_size: int, epochs: int | None) -> Any:
        """The loader of ``split`` (default: packed sequences, ``lm_train.inputs.make_loader``)."""
        from lm_train.inputs import make_loader

        return make_loader(data, split, self.cfg, rank, world_size, epochs)

    def collate(self, batch: Batch) -> Batch:
        """Shape a loader batch for the loss (masking, say); default: unchanged."""
        return batch

    def count(self, batch: Batch) -> Tensor:
        """What the loss of ``batch`` is summed over (tokens, masked tokens, examples), float64."""
        return batch["loss_mask"].double().sum()

    # -- model -----------------------------------------------------------------------------
    def build_model(self, body: nn.Module) -> nn.Module:
        """The trained network around the language model ``body`` (default: the body itself)."""
        return body

    def init_module(self, model: nn.Module) -> nn.Module:
        """The part of ``model`` that ``--init-from`` loads pretrained weights into."""
        return model

    # -- loss and metrics -------------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def evaluate(
        self,
        model: nn.Module,
        batches: Iterable[Batch],
        *,
        device: torch.device | None = None,
        autocast: AutocastFactory = contextlib.nullcontext,
    ) -> dict[str, Any]:
        """Flat metrics over ``batches`` (the loader's, collated here), summed over every rank."""
        raise NotImplementedError

    def eval_record(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The keys an evaluation adds to its ``metrics.jsonl`` record (default: the metrics)."""
        return dict(metrics)

    def report_extras(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """What this objective adds to the run report (default: nothing)."""
        return {}

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The objective's own state (its RNG, if it draws random numbers); default: none."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s result."""


def eval_mode(model: nn.Module) -> contextlib.AbstractContextManager:
    """``model.eval()`` and ``no_grad`` inside, the previous mode restored after."""

    @contextlib.contextmanager
    def scope():
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            model.train(was_training)

    return scope()


def model_device(model: nn.Module, device: torch.device | None) -> torch.device:
    return device if device is not None else next(model.parameters()).device


__all__ = ["AutocastFactory", "Batch", "Objective", "eval_mode", "model_device"]

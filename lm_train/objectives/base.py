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

from lm_train.distributed import all_reduce_sum
from lmcore.config import ConfigError

if TYPE_CHECKING:
    from lm_train.config import TrainConfig
    from schemas import Manifest

Batch = dict[str, Tensor]
AutocastFactory = Callable[[], contextlib.AbstractContextManager]


class Objective:
    """What one training objective decides: data, batch shaping, loss, metrics, the task head.

    Subclasses set ``name`` and implement ``loss`` and the evaluation sums (``num_eval_sums``,
    ``eval_sums``, ``eval_metrics``); the rest has defaults
    that suit language modelling over the packed loader.
    """

    name: ClassVar[str] = ""

    def __init__(self, cfg: TrainConfig, manifest: Manifest) -> None:
        self.cfg, self.manifest = cfg, manifest
        if (cfg.model.name == "seq2seq") != (self.name == "seq2seq"):
            raise ConfigError(
                "model=seq2seq and objective=seq2seq go together (an encoder-decoder trains on pairs); "
                f"got model={cfg.model.name}, objective={self.name}"
            )

    # -- data ------------------------------------------------------------------------------
    def check_dataset(self, data: str) -> None:
        """Refuse a dataset this objective cannot train on (default: any dataset will do)."""

    def make_loader(self, data: str, split: str, rank: int, world_size: int, epochs: int | None) -> Any:
        """The loader of ``split`` (default: packed sequences, ``lm_train.inputs.make_loader``)."""
        from lm_train.inputs import make_loader

        return make_loader(data, split, self.cfg, rank, world_size, epochs)

    def example_loader_settings(
        self, split: str, rank: int, world_size: int, epochs: int | None
    ) -> dict[str, Any]:
        """What a one-example-per-row loader (``TaskLoader`` and its kin) takes from the config:
        the global batch of ``split`` (accumulation only while training), the seed, the rank."""
        data = self.cfg.data
        accum = data.grad_accum if split == "train" else 1
        return {
            "seq_len": data.seq_len,
            "global_batch_size": data.batch_size * accum * world_size,
            "micro_batch_size": data.batch_size,
            "seed": self.cfg.runtime.seed,
            "rank": rank,
            "world_size": world_size,
            "num_epochs": epochs,
            "bucket_by_length": data.bucket_by_length,
        }

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

    def init_from(self, model: nn.Module, source: str, tokenizer_sha256: str | None, data: str) -> int | None:
        """``--init-from``: start ``model`` from a pretrained run (default: its whole state dict
        into ``init_module(model)``, refused unless it fits); returns the step it was saved at."""
        from lm_train.restore import init_weights

        return init_weights(self.init_module(model), source, tokenizer_sha256, data)

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
        """Flat metrics over ``batches`` (the loader's, shaped by ``eval_batch``), summed over every rank."""
        device = model_device(model, device)
        totals = torch.zeros(self.num_eval_sums(), dtype=torch.float64, device=device)
        with eval_mode(model):
            for batch in batches:
                batch = {k: v.to(device, non_blocking=True) for k, v in self.eval_batch(batch).items()}
                totals += self.eval_sums(model, batch, autocast)
        all_reduce_sum(totals)
        return self.eval_metrics(totals)

    def eval_batch(self, batch: Batch) -> Batch:
        """The batch an evaluation scores (default: shaped as for training)."""
        return self.collate(batch)

    def num_eval_sums(self) -> int:
        """How many sums ``eval_sums`` returns per batch."""
        raise NotImplementedError

    def eval_sums(self, model: nn.Module, batch: Batch, autocast: AutocastFactory) -> Tensor:
        """The float64 sums of one batch (losses, counts, ...) that ``eval_metrics`` turns into metrics;
        sums, so that batches and ranks add up exactly."""
        raise NotImplementedError

    def eval_metrics(self, totals: Tensor) -> dict[str, Any]:
        """Flat metrics from the sums over every batch and rank."""
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

"""``objective=causal_lm``: next-token prediction over packed rows (the pretraining objective).

Evaluation reports loss, perplexity and bits per byte: the summed loss (nats) over ln 2 ×
the UTF-8 bytes the predicted tokens stand for (the loader's ``token_bytes``), so runs with
different tokenizers compare. Its ``metrics.jsonl`` records keep the ``val_*`` names that
reports and tools read.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_train.models.base import LanguageModel
from lm_train.objectives.base import AutocastFactory, Batch, Objective
from lm_train.objectives.linear_ce import fused_applies, linear_cross_entropy

# Contract metric name -> the name in metrics.jsonl eval records.
RECORD_NAMES = {
    "loss": "val_loss",
    "perplexity": "val_ppl",
    "bits_per_byte": "val_bpb",
    "num_tokens": "val_tokens",
}


def causal_lm_loss(model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Next-token cross-entropy summed over ``loss_mask``; returns ``(loss_sum, num_tokens)``."""
    hidden = model(batch["input_ids"], batch.get("position_ids"), batch.get("segment_ids"))
    inner = inner_model(model)
    mask = batch["loss_mask"].reshape(-1).float()
    weight = plain_head_weight(inner)
    if weight is not None and fused_applies(hidden, weight):
        flat = hidden.reshape(-1, hidden.shape[-1])
        return linear_cross_entropy(flat, weight, batch["targets"].reshape(-1), mask), mask.sum()
    logits = inner.logits(hidden)
    per_token = F.cross_entropy(
        logits.float().view(-1, logits.shape[-1]), batch["targets"].view(-1), reduction="none"
    )
    return (per_token * mask).sum(), mask.sum()


def plain_head_weight(inner: nn.Module) -> Tensor | None:
    """The head's weight when ``logits()`` is just ``hidden @ weight.T`` (the fused loss applies)."""
    head = getattr(inner, "head", None)
    if type(inner).logits is not LanguageModel.logits or not isinstance(head, nn.Linear):
        return None
    return head.weight if head.bias is None else None


def per_token_loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """Unreduced next-token loss ``[B, T]`` (evaluation uses it for bits per byte)."""
    hidden = model(batch["input_ids"], batch.get("position_ids"), batch.get("segment_ids"))
    logits = model_logits(model, hidden)
    return F.cross_entropy(logits.float().transpose(1, 2), batch["targets"], reduction="none")


def inner_model(model: nn.Module) -> nn.Module:
    """The module with ``logits()`` under DDP / torch.compile wrappers."""
    inner = model
    while not hasattr(inner, "logits"):
        inner = getattr(inner, "module", None) or getattr(inner, "_orig_mod", None)
        if inner is None:
            raise TypeError("model has no logits() method")
    return inner


def model_logits(model: nn.Module, hidden: Tensor) -> Tensor:
    """``logits()`` of the model under DDP / torch.compile wrappers too."""
    return inner_model(model).logits(hidden)


def causal_metrics(loss_sum: float, num_tokens: float, num_bytes: float) -> dict[str, Any]:
    """Summed nats, predicted tokens and their bytes -> loss, perplexity, bits per byte."""
    if num_tokens <= 0:
        nan = float("nan")
        return {"loss": nan, "perplexity": nan, "bits_per_byte": nan, "num_tokens": 0}
    loss = loss_sum / num_tokens
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 80.0)),
        "bits_per_byte": loss_sum / (math.log(2) * num_bytes) if num_bytes > 0 else float("nan"),
        "num_tokens": int(num_tokens),
    }


class CausalLM(Objective):
    name = "causal_lm"

    def loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
        return causal_lm_loss(model, batch)

    def num_eval_sums(self) -> int:
        return 3  # loss, tokens, bytes

    def eval_sums(self, model: nn.Module, batch: Batch, autocast: AutocastFactory) -> Tensor:
        with autocast():
            losses = per_token_loss(model, batch).double()
        mask = batch["loss_mask"].double()
        return torch.stack([(losses * mask).sum(), mask.sum(), (batch["token_bytes"].double() * mask).sum()])

    def eval_metrics(self, totals: Tensor) -> dict[str, Any]:
        return causal_metrics(*totals.tolist())

    def eval_record(self, metrics: dict[str, Any]) -> dict[str, Any]:
        return {RECORD_NAMES.get(k, k): v for k, v in metrics.items()}


__all__ = ["CausalLM", "causal_lm_loss", "causal_metrics", "model_logits", "per_token_loss"]

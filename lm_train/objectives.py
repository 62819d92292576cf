"""Training objectives: a model's hidden states + a batch → summed loss and the token count.

Returning the *sum* and the count (not a mean) lets the trainer divide by the token count
of the whole global batch, so the gradient is the same whatever the split into ranks and
micro-steps. A masked-LM or fine-tuning objective adds a function with the same shape.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def causal_lm_loss(model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Next-token cross-entropy summed over ``loss_mask``; returns ``(loss_sum, num_tokens)``."""
    hidden = model(batch["input_ids"], batch.get("position_ids"), batch.get("segment_ids"))
    logits = model_logits(model, hidden)
    per_token = F.cross_entropy(
        logits.float().view(-1, logits.shape[-1]), batch["targets"].view(-1), reduction="none"
    )
    mask = batch["loss_mask"].view(-1).to(per_token.dtype)
    return (per_token * mask).sum(), mask.sum()


def per_token_loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """Unreduced next-token loss ``[B, T]`` (evaluation uses it for bits per byte)."""
    hidden = model(batch["input_ids"], batch.get("position_ids"), batch.get("segment_ids"))
    logits = model_logits(model, hidden)
    return F.cross_entropy(logits.float().transpose(1, 2), batch["targets"], reduction="none")


def model_logits(model: nn.Module, hidden: Tensor) -> Tensor:
    """``logits()`` of the model under DDP / torch.compile wrappers too."""
    inner = model
    while not hasattr(inner, "logits"):
        inner = getattr(inner, "module", None) or getattr(inner, "_orig_mod", None)
        if inner is None:
            raise TypeError("model has no logits() method")
    return inner.logits(hidden)


OBJECTIVES = {"causal_lm": causal_lm_loss}

__all__ = ["OBJECTIVES", "causal_lm_loss", "model_logits", "per_token_loss"]

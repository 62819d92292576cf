"""Validation: loss, perplexity and bits per byte over the dataset's held-out shards.

Bits per byte divides the summed loss (nats) by ln 2 × the UTF-8 bytes the predicted
tokens stand for (the loader's ``token_bytes``, from each document's ``num_bytes``), so
runs with different tokenizers are comparable. Every evaluation reads the validation
stream from its start, so evaluations of one run (and of runs sharing the dataset and
``seq_len``) score the same samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor, nn

from lm_train.distributed import all_reduce_sum
from lm_train.objectives import per_token_loss


def summarize(loss_sum: float, num_tokens: float, num_bytes: float) -> dict[str, float]:
    """Turn summed nats, predicted tokens and their bytes into the reported metrics."""
    if num_tokens <= 0:
        return {"val_loss": float("nan"), "val_ppl": float("nan"), "val_bpb": float("nan"), "val_tokens": 0}
    loss = loss_sum / num_tokens
    return {
        "val_loss": loss,
        "val_ppl": math.exp(min(loss, 80.0)),
        "val_bpb": loss_sum / (math.log(2) * num_bytes) if num_bytes > 0 else float("nan"),
        "val_tokens": int(num_tokens),
    }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[dict[str, Tensor]],
    max_batches: int,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager] = nullcontext,
) -> dict[str, float]:
    """Average the model's loss over up to ``max_batches`` micro-batches per rank, summed over ranks."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64, device=device)
    for i, batch in enumerate(batches):
        if i >= max_batches:
            break
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with autocast():
            losses = per_token_loss(model, batch).double()
        mask = batch["loss_mask"].double()
        totals += torch.stack(
            [(losses * mask).sum(), mask.sum(), (batch["token_bytes"].double() * mask).sum()]
        )
    all_reduce_sum(totals)
    model.train(was_training)
    loss_sum, num_tokens, num_bytes = totals.tolist()
    return summarize(loss_sum, num_tokens, num_bytes)

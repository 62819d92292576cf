"""The output head and the masked cross-entropy in one pass over row chunks.

The plain path materialises ``[tokens, vocab]`` logits, their log-softmax, and in the
backward pass a gradient of the same size: with a large vocabulary those passes over
memory cost as much as the head's matmuls. Here each chunk of rows computes its logits,
their log-sum-exp and, when gradients are wanted, ``softmax - onehot`` (the loss
gradient) while the chunk is still in cache, and folds it straight into the gradients of
the hidden states and of the head weight. ``backward`` then only scales them by the
incoming gradient. Same maths as ``F.cross_entropy`` on ``hidden @ weight.T``; only the
float rounding of the sums differs.
"""

from __future__ import annotations

import torch
from torch import Tensor

CHUNK_ELEMENTS = 1 << 22  # logits per chunk: small enough to stay in a core's cache


def chunk_rows(vocab_size: int) -> int:
    return max(16, CHUNK_ELEMENTS // max(vocab_size, 1))


def _chunk(logits: Tensor, targets: Tensor, mask: Tensor, want_grad: bool) -> Tensor:
    """Masked loss sum of one chunk of float32 logits; with ``want_grad``, ``logits`` becomes
    the loss gradient ``mask · (softmax - onehot)`` in place (the exponentials are computed once
    for both)."""
    picked = logits.gather(1, targets[:, None])
    top = logits.amax(dim=1, keepdim=True)
    exp = logits.sub_(top).exp_()
    total = exp.sum(dim=1, keepdim=True)
    loss = ((total.log() + top - picked).squeeze(1) * mask).sum()
    if want_grad:
        exp.mul_(mask[:, None] / total)
        exp.scatter_add_(1, targets[:, None], -mask[:, None])
    return loss


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, targets: Tensor, mask: Tensor) -> Tensor:  # type: ignore[override]
        want_h, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        rows = chunk_rows(weight.shape[0])
        total = hidden.new_zeros((), dtype=torch.float32)
        grad_h = torch.empty_like(hidden) if want_h else None
        grad_w = torch.zeros_like(weight) if want_w else None
        for lo in range(0, hidden.shape[0], rows):
            h, t, m = hidden[lo : lo + rows], targets[lo : lo + rows], mask[lo : lo + rows]
            g = h @ weight.t()
            total += _chunk(g, t, m, want_h or want_w)
            if grad_h is not None:
                torch.mm(g, weight, out=grad_h[lo : lo + rows])
            if grad_w is not None:
                grad_w.addmm_(g.t(), h)
        ctx.save_for_backward(*(x for x in (grad_h, grad_w) if x is not None))
        ctx.have = (grad_h is not None, grad_w is not None)
        return total

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        saved = list(ctx.saved_tensors)
        grad_h = saved.pop(0) * grad_out if ctx.have[0] else None
        grad_w = saved.pop(0) * grad_out if ctx.have[1] else None
        return grad_h, grad_w, None, None


def fused_applies(hidden: Tensor, weight: Tensor) -> bool:
    """float32 only, outside autocast: mixed precision keeps the plain path (its own casts)."""
    return (
        hidden.dtype == torch.float32
        and weight.dtype == torch.float32
        and not torch.is_autocast_enabled(hidden.device.type)
    )


def linear_cross_entropy(hidden: Tensor, weight: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Σ mask · cross_entropy(hidden @ weight.T, targets) over flattened rows; float32 scalar.

    ``hidden [N, d]``, ``weight [V, d]``, ``targets [N]`` (any id where ``mask`` is 0),
    ``mask [N]`` float.
    """
    return _LinearCrossEntropy.apply(hidden, weight, targets, mask.to(torch.float32))


__all__ = ["chunk_rows", "fused_applies", "linear_cross_entropy"]

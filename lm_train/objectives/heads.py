"""A classification head on any language model's hidden states, and freezing its body.

Pooling picks one vector per example from ``[B, T, d_model]``: ``last`` (the last text
token: what a causal model or an RNN has read the whole text by), ``first`` (a
bidirectional encoder's first token), or ``mean`` over the text. ``auto`` chooses per model
family: ``first`` for bert, ``last`` for the others.

The head is one linear layer (``head=linear``), or a ``d → d`` dense layer with GELU before
it (``head=dense_gelu``: the shape of RoBERTa's and EuroBERT's classification heads, so a
bert classifier exports as ``EuroBertForSequenceClassification``).

Freezing counts layers bottom-up: the embedding is below layer 0, Transformer blocks
``blocks.i`` and RNN layers ``*_l{i}`` are layer ``i``, the final norm sits on top. With
``all_but_top_N`` the top N layers, the final norm and the head train; ``body`` trains the
head only.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn

FIRST_TOKEN_MODELS = ("bert",)  # bidirectional encoders: the first token has seen the whole text
_BLOCK = re.compile(r"(?:^|\.)blocks\.(\d+)\.")
_RNN_LAYER = re.compile(r"_l(\d+)(?:_reverse)?$")


def resolve_pool(pool: str, model_name: str) -> str:
    if pool != "auto":
        return pool
    return "first" if model_name in FIRST_TOKEN_MODELS else "last"


def pool_hidden(hidden: Tensor, lengths: Tensor, pool: str) -> Tensor:
    """``[B, T, D]`` -> ``[B, D]``: the first token, the last text token, or the text's mean."""
    if pool == "first":
        return hidden[:, 0]
    if pool == "last":
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), (lengths - 1).clamp(min=0)]
    if pool == "mean":
        text = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < lengths[:, None]
        weights = text.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    raise ValueError(f"unknown pool {pool!r}")


def layer_of(name: str, n_layer: int) -> int:
    """Which layer a body parameter belongs to: -1 embedding, 0..n-1 blocks, n the final norm/head."""
    if name.startswith("embed."):
        return -1
    m = _BLOCK.search(name) or _RNN_LAYER.search(name)
    return int(m.group(1)) if m else n_layer


def freeze_body(body: nn.Module, train_top_layers: int | None, n_layer: int) -> int:
    """Stop gradients to the body below its top ``train_top_layers`` layers (None: train all,
    0: freeze every body weight); returns how many parameters stay trainable."""
    if train_top_layers is None:
        return sum(p.numel() for p in body.parameters())
    lowest = n_layer - train_top_layers if train_top_layers else n_layer + 1
    trainable = 0
    for name, p in body.named_parameters():
        p.requires_grad_(layer_of(name, n_layer) >= lowest)
        trainable += p.numel() if p.requires_grad else 0
    return trainable


HEADS = ("linear", "dense_gelu")


def _linear(d_in: int, d_out: int, bias: bool) -> nn.Linear:
    layer = nn.Linear(d_in, d_out, bias=bias)
    nn.init.normal_(layer.weight, std=0.02)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class DenseGeluHead(nn.Module):
    """pooled ``[B, d]`` -> dense ``d → d`` -> GELU (exact, erf) -> labels."""

    def __init__(self, d_model: int, num_labels: int, bias: bool = True) -> None:
        super().__init__()
        self.dense = _linear(d_model, d_model, bias)
        self.out = _linear(d_model, num_labels, bias)

    def forward(self, pooled: Tensor) -> Tensor:
        return self.out(nn.functional.gelu(self.dense(pooled)))


class Classifier(nn.Module):
    """``body`` (a language model without its vocabulary head in use) -> pooled -> label logits."""

    def __init__(
        self,
        body: nn.Module,
        num_labels: int,
        pool: str,
        dropout: float = 0.0,
        bias: bool = True,
        head: str = "linear",
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown classification head {head!r}; one of {', '.join(HEADS)}")
        self.body, self.pool = body, pool
        d_model = body.embed.weight.shape[1]
        self.drop = nn.Dropout(dropout)
        self.task_head: nn.Module = (
            _linear(d_model, num_labels, bias)
            if head == "linear"
            else DenseGeluHead(d_model, num_labels, bias)
        )

    def forward(
        self, input_ids: Tensor, position_ids: Tensor, segment_ids: Tensor, lengths: Tensor
    ) -> Tensor:
        hidden = self.body(input_ids, position_ids, segment_ids)
        return self.task_head(self.drop(pool_hidden(hidden, lengths, self.pool)))

    def num_params(self, non_embedding: bool = False) -> int:
        return self.body.num_params(non_embedding) + sum(p.numel() for p in self.task_head.parameters())

    def flops_per_token(self, seq_len: int) -> float:
        """The body's, less its vocabulary head (never run here; the task head runs once per
        example, not per token), so MFU counts the work done."""
        return self.body.flops_per_token(seq_len) - 6.0 * self.body.embed.weight.numel()


__all__ = ["HEADS", "Classifier", "DenseGeluHead", "freeze_body", "layer_of", "pool_hidden", "resolve_pool"]

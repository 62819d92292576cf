"""Model registry: ``model=gpt|rnn|lstm|gru`` in the config picks a builder here.

Every model follows one small interface, so objectives and the trainer never care which
one they drive:

* ``forward(input_ids, position_ids=None, segment_ids=None) -> hidden [B, T, d_model]``
  (documents never see each other: attention masks for GPT, state resets for RNNs);
* ``logits(hidden) -> [B, T, vocab]``;
* ``num_params(non_embedding=False)`` and ``flops_per_token(seq_len)`` for MFU.

A later objective (masked LM, classification) adds a head on ``hidden`` and a loss in
``lm_train.objectives``; a bidirectional model registers here under a new name.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from lm_train.config import TrainConfig
from lm_train.models.gpt import GPT
from lm_train.models.rnn import RecurrentLM

Builder = Callable[[TrainConfig, int], nn.Module]


def _gpt(cfg: TrainConfig, vocab_size: int) -> nn.Module:
    return GPT(
        vocab_size,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        d_model=cfg.d_model,
        d_ff=cfg.d_ff,
        max_seq_len=cfg.seq_len,
        dropout=cfg.dropout,
        rope_theta=cfg.rope_theta,
        tie_embeddings=cfg.tie_embeddings,
        attention="sdpa" if cfg.attention == "auto" else cfg.attention,
    )


def _recurrent(cell: str) -> Builder:
    def build(cfg: TrainConfig, vocab_size: int) -> nn.Module:
        return RecurrentLM(
            vocab_size,
            cell=cell,
            n_layer=cfg.n_layer,
            d_model=cfg.d_model,
            dropout=cfg.dropout,
            tie_embeddings=cfg.tie_embeddings,
        )

    return build


MODEL_REGISTRY: dict[str, Builder] = {
    "gpt": _gpt,
    "rnn": _recurrent("rnn"),
    "lstm": _recurrent("lstm"),
    "gru": _recurrent("gru"),
}


def build_model(cfg: TrainConfig, vocab_size: int) -> nn.Module:
    """The model named by ``cfg.model`` for a vocabulary of ``vocab_size`` ids."""
    if cfg.model not in MODEL_REGISTRY:
        raise ValueError(f"unknown model {cfg.model!r}; registered: {sorted(MODEL_REGISTRY)}")
    return MODEL_REGISTRY[cfg.model](cfg, vocab_size)


__all__ = ["GPT", "MODEL_REGISTRY", "RecurrentLM", "build_model"]

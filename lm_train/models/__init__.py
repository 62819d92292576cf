"""Model registry: ``model=gpt|rnn|lstm|gru`` in the config picks a settings class here.

Every model follows one small interface, so objectives and the trainer never care which
one they drive:

* ``forward(input_ids, position_ids=None, segment_ids=None) -> hidden [B, T, d_model]``
  (documents never see each other: attention masks for GPT, state resets for RNNs);
* ``logits(hidden) -> [B, T, vocab]``;
* ``num_params(non_embedding=False)`` and ``flops_per_token(seq_len)`` for MFU.

The encoder–decoder models (``model=seq2seq``) have their own interface instead
(``forward(src, src_lengths, tgt_in) -> logits``, ``encode``, ``decode_step``; see
``seq2seq_base.py``) and train with ``objective=seq2seq`` only.

A model is its network (``gpt.py``), its settings (``gpt_config.py``: a ``ModelConfig``
whose ``build`` makes the network) and one line in ``MODEL_REGISTRY``. This module and the
settings import no torch, so ``--help`` and config errors answer at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from lm_train.models.bert_config import BertConfig
from lm_train.models.config import ModelConfig
from lm_train.models.gpt_config import GPTConfig
from lm_train.models.rnn_config import RNNConfig
from lm_train.models.seq2seq_config import Seq2SeqConfig

if TYPE_CHECKING:
    from torch import nn


class ModelSettings(Protocol):
    """What ``build_model`` reads of a training config (``lm_train.config.TrainConfig``)."""

    model: ModelConfig
    data: Any


MODEL_REGISTRY: dict[str, type[ModelConfig]] = {
    "gpt": GPTConfig,
    "rnn": RNNConfig,
    "lstm": RNNConfig,
    "gru": RNNConfig,
    "bert": BertConfig,
    "seq2seq": Seq2SeqConfig,  # encoder-decoder (gru | lstm | transformer), objective=seq2seq
}


def build_model(cfg: ModelSettings, vocab_size: int) -> nn.Module:
    """The model of ``cfg.model`` for a vocabulary of ``vocab_size`` ids and ``cfg.data.seq_len``."""
    return cfg.model.build(vocab_size, cfg.data.seq_len)


__all__ = [
    "MODEL_REGISTRY",
    "BertConfig",
    "GPTConfig",
    "ModelConfig",
    "RNNConfig",
    "Seq2SeqConfig",
    "build_model",
]

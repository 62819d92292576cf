"""Settings of the recurrent language models (``lm_train.models.rnn``); ``name`` is the cell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lm_train.models.config import ModelConfig
from lmcore.config import one_of

if TYPE_CHECKING:
    from torch import nn

CELLS = ("rnn", "lstm", "gru")


@dataclass
class RNNConfig(ModelConfig):
    name: str = "lstm"  # rnn (Elman) | lstm | gru
    n_layer: int = 4  # stacked recurrent layers
    d_model: int = 128  # hidden state width
    dropout: float = 0.0  # dropout probability while training (0: off)
    tie_embeddings: bool = True  # output head shares the input embedding matrix

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of(self.name, CELLS, "model")

    def build(self, vocab_size: int, max_seq_len: int) -> nn.Module:
        from lm_train.models.rnn import RecurrentLM

        return RecurrentLM(
            vocab_size,
            cell=self.name,
            n_layer=self.n_layer,
            d_model=self.d_model,
            dropout=self.dropout,
            tie_embeddings=self.tie_embeddings,
        )

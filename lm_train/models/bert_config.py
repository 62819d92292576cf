"""Settings of the BERT-style encoder (``lm_train.models.bert``), checked before torch is imported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lm_train.models.config import ModelConfig
from lm_train.models.gpt_config import MLPS
from lmcore.config import one_of, require

if TYPE_CHECKING:
    from torch import nn


@dataclass
class BertConfig(ModelConfig):
    name: str = "bert"
    n_layer: int = 4  # encoder blocks
    n_head: int = 4  # attention heads
    d_model: int = 128  # width of the residual stream
    d_ff: int = 0  # 0: 4 × d_model
    dropout: float = 0.0  # dropout probability while training (0: off)
    rope_theta: float = 10000.0  # RoPE base frequency
    tie_embeddings: bool = True  # the masked-LM head shares the input embedding matrix
    mlp: str = "gelu"  # gelu | swiglu (gated; d_ff 0: 8/3 × d_model)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.n_head >= 1 and self.d_ff >= 0, "n_head must be >= 1 and d_ff >= 0")
        require(self.d_model % self.n_head == 0, "d_model must be divisible by n_head")
        require((self.d_model // self.n_head) % 2 == 0, "head size must be even (RoPE)")
        require(self.rope_theta > 0, "rope_theta must be > 0")
        one_of(self.mlp, MLPS, "mlp")

    def build(self, vocab_size: int, max_seq_len: int) -> nn.Module:
        from lm_train.models.bert import Bert

        return Bert(
            vocab_size,
            n_layer=self.n_layer,
            n_head=self.n_head,
            d_model=self.d_model,
            d_ff=self.d_ff,
            max_seq_len=max_seq_len,
            dropout=self.dropout,
            rope_theta=self.rope_theta,
            tie_embeddings=self.tie_embeddings,
            mlp=self.mlp,
        )

"""Settings of the GPT decoder (``lm_train.models.gpt``), checked before torch is imported."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lm_train.models.config import ModelConfig
from lmcore.config import one_of, require

if TYPE_CHECKING:
    from torch import nn

ATTENTION = ("auto", "sdpa", "flex")
MLPS = ("gelu", "swiglu")  # lm_train.models.gpt.MLP


@dataclass
class GPTConfig(ModelConfig):
    name: str = "gpt"  # gpt | rnn | lstm | gru
    n_layer: int = 4  # transformer blocks, or stacked recurrent layers
    n_head: int = 4  # attention heads (gpt)
    d_model: int = 128  # width of the residual stream / hidden state
    d_ff: int = 0  # 0: 4 × d_model
    dropout: float = 0.0  # dropout probability while training (0: off)
    rope_theta: float = 10000.0  # RoPE base frequency (gpt)
    tie_embeddings: bool = True  # output head shares the input embedding matrix
    attention: str = "auto"  # auto | sdpa (block-diagonal mask) | flex (FlexAttention, CUDA)
    mlp: str = "gelu"  # gelu (GPT-2's MLP) | swiglu (gated, Llama's; d_ff 0: 8/3 × d_model)
    document_mask: bool = True  # attention stays inside each packed document (false: the whole row)

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of(self.attention, ATTENTION, "attention")
        one_of(self.mlp, MLPS, "mlp")
        require(self.n_head >= 1 and self.d_ff >= 0, "n_head must be >= 1 and d_ff >= 0")
        require(self.d_model % self.n_head == 0, "d_model must be divisible by n_head")
        require((self.d_model // self.n_head) % 2 == 0, "head size must be even (RoPE)")
        require(self.rope_theta > 0, "rope_theta must be > 0")

    def build(self, vocab_size: int, max_seq_len: int) -> nn.Module:
        from lm_train.models.gpt import GPT

        return GPT(
            vocab_size,
            n_layer=self.n_layer,
            n_head=self.n_head,
            d_model=self.d_model,
            d_ff=self.d_ff,
            max_seq_len=max_seq_len,
            dropout=self.dropout,
            rope_theta=self.rope_theta,
            tie_embeddings=self.tie_embeddings,
            attention="sdpa" if self.attention == "auto" else self.attention,
            mlp=self.mlp,
            document_mask=self.document_mask,
        )

    def for_device(self, device_type: str, compiled: bool) -> GPTConfig:
        """FlexAttention pays off only compiled on CUDA; the SDPA mask path works everywhere."""
        if self.attention != "auto":
            return self
        attention = "flex" if device_type == "cuda" and compiled else "sdpa"
        return dataclasses.replace(self, attention=attention)

"""A BERT-style encoder: token embedding → N × (pre-norm bidirectional attention + MLP) → norm → tied head.

The same trunk as ``gpt.py`` (its RoPE, MLP and initialisation), with one difference that
matters: every token attends to every token *of its own document*, before and after it.
The loader packs several documents into a row, so ``segment_ids`` become a block-diagonal
(non-causal) mask for ``scaled_dot_product_attention``; padding (segment -1) attends only
to padding, so no query is left with nothing to attend to. A row holding one document and
no padding needs no mask at all.

The head shares the embedding matrix (``tie_embeddings``), which is what a masked-LM
objective (``lm_train.objectives.masked_lm``) projects the masked positions with; a
classification head pools the hidden states instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_train.models.base import LanguageModel
from lm_train.models.gpt import MLP, apply_rope, is_single_document, rope_tables


def document_mask(segment_ids: Tensor) -> Tensor:
    """``[B, 1, T, T]`` bool: query i sees key j iff both are in the same document (or both padding)."""
    return (segment_ids[:, :, None] == segment_ids[:, None, :])[:, None]


class BidirectionalAttention(nn.Module):
    def __init__(self, d_model: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head, self.head_dim = n_head, d_model // n_head
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.dropout = dropout

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | None) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_head, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=False, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class EncoderBlock(nn.Module):
    def __init__(self, d_model: int, n_head: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.RMSNorm(d_model)
        self.attn = BidirectionalAttention(d_model, n_head, dropout)
        self.norm2 = nn.RMSNorm(d_model)
        self.mlp = MLP(d_model, d_ff)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | None) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), cos, sin, mask))
        return x + self.drop(self.mlp(self.norm2(x)))


class Bert(LanguageModel):
    """Bidirectional Transformer encoder; ``forward`` → hidden states ``[B, T, d_model]``."""

    def __init__(
        self,
        vocab_size: int,
        n_layer: int = 4,
        n_head: int = 4,
        d_model: int = 128,
        d_ff: int = 0,
        max_seq_len: int = 1024,
        dropout: float = 0.0,
        rope_theta: float = 10000.0,
        tie_embeddings: bool = True,
    ) -> None:
        super().__init__()
        self.vocab_size, self.n_layer, self.n_head, self.d_model = vocab_size, n_layer, n_head, d_model
        self.max_seq_len = max_seq_len
        self.embed = nn.Embedding(vocab_size, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(d_model, n_head, d_ff or 4 * d_model, dropout) for _ in range(n_layer)
        )
        self.norm = nn.RMSNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_embeddings:
            self.head.weight = self.embed.weight
        cos, sin = rope_tables(d_model // n_head, max_seq_len, rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # residual projections: scaled so depth does not blow up
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(
        self, input_ids: Tensor, position_ids: Tensor | None = None, segment_ids: Tensor | None = None
    ) -> Tensor:
        b, t = input_ids.shape
        if position_ids is None:
            position_ids = torch.arange(t, device=input_ids.device).expand(b, t)
        if not input_ids.is_cuda and int(position_ids.max()) >= self.max_seq_len:  # no GPU sync
            raise ValueError(f"position {int(position_ids.max())} exceeds max_seq_len {self.max_seq_len}")
        cos = self.rope_cos[position_ids][:, None]
        sin = self.rope_sin[position_ids][:, None]
        mask = None if is_single_document(segment_ids) else document_mask(segment_ids)
        x = self.drop(self.embed(input_ids))
        for block in self.blocks:
            x = block(x, cos, sin, mask)
        return self.norm(x)

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token: 6N for the matmuls (head included) + 12·L·d·T for attention scores."""
        return 6.0 * self.matmul_params() + 12.0 * self.n_layer * self.d_model * seq_len

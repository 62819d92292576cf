"""A GPT-style decoder: token embedding → N × (pre-norm attention + MLP) → norm → tied LM head.

Rotary position embeddings use the loader's ``position_ids`` (which restart at 0 at every
document), and attention never crosses a document boundary: ``segment_ids`` become a
block-diagonal causal mask for ``scaled_dot_product_attention`` (works everywhere, CPU
included), or a FlexAttention block mask on CUDA, which skips the masked blocks instead
of computing and discarding them. A row holding one document uses the plain causal kernel.

The model returns hidden states; ``logits()`` applies the head. Losses live in
``lm_train.objectives`` so that a masked-LM objective or a task head can reuse the trunk.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_train.models.base import LanguageModel


def rope_tables(head_dim: int, max_len: int, theta: float) -> tuple[Tensor, Tensor]:
    """cos/sin tables ``[max_len, head_dim // 2]`` for rotary embeddings."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = torch.outer(torch.arange(max_len, dtype=torch.float64), inv_freq)
    return angles.cos().float(), angles.sin().float()


def rope_rotation(cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor]:
    """Full-width factors for ``apply_rope``: ``(cos | cos)`` and ``(-sin | sin)`` over the head dim.

    Built once per forward pass, so each layer rotates with two multiplies and one add.
    """
    return torch.cat((cos, cos), dim=-1), torch.cat((-sin, sin), dim=-1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate pairs (first half, second half) of ``x [..., D]`` by per-position angles.

    ``cos``/``sin`` broadcast against ``x`` and hold the full-width factors of
    ``rope_rotation``: ``(x1, x2) -> (x1·cos - x2·sin, x2·cos + x1·sin)``, bit for bit the
    half-split formula (negation and the order of a two-term sum are exact).
    """
    xf = x.float()
    x1, x2 = xf.chunk(2, dim=-1)
    out = xf * cos + torch.cat((x2, x1), dim=-1) * sin
    return out.type_as(x)


def document_causal_mask(segment_ids: Tensor) -> Tensor:
    """``[B, 1, T, T]`` bool: query i sees key j iff j <= i and both are in the same document.

    Padding (segment -1) sees earlier padding, so no row is fully masked (which would give NaN).
    """
    t = segment_ids.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=segment_ids.device).tril()
    same_doc = segment_ids[:, :, None] == segment_ids[:, None, :]
    return (same_doc & causal)[:, None]


def is_single_document(segment_ids: Tensor | None) -> bool:
    """True when every row is one document with no padding: the plain causal kernel is exact."""
    return segment_ids is None or bool((segment_ids == segment_ids[:, :1]).all())


def _flex_block_mask(segment_ids: Tensor):  # pragma: no cover - CUDA only
    from torch.nn.attention.flex_attention import create_block_mask

    seg = segment_ids

    def doc_causal(b, h, q, k):
        return (k <= q) & (seg[b, q] == seg[b, k])

    b, t = seg.shape
    return create_block_mask(doc_causal, B=b, H=None, Q_LEN=t, KV_LEN=t, device=seg.device)


class Attention(nn.Module):
    def __init__(self, d_model: int, n_head: int, dropout: float, causal: bool = True) -> None:
        super().__init__()
        self.causal = causal
        self.n_head, self.head_dim = n_head, d_model // n_head
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.dropout = dropout

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | None, flex_mask=None) -> Tensor:
        """``cos``/``sin``: ``[B, T, 1, 1, head_dim]`` from ``rope_rotation``; q and k rotate in one pass."""
        b, t, d = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.n_head, self.head_dim)
        qk = apply_rope(qkv[:, :, :2], cos, sin)
        q, k = qk[:, :, 0].transpose(1, 2), qk[:, :, 1].transpose(1, 2)
        v = qkv[:, :, 2].transpose(1, 2)
        if flex_mask is not None:  # pragma: no cover - CUDA only
            from torch.nn.attention.flex_attention import flex_attention

            y = flex_attention(q, k, v, block_mask=flex_mask)
        else:
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=mask,
                is_causal=self.causal and mask is None,
                dropout_p=self.dropout if self.training else 0.0,
            )
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


MLPS = ("gelu", "swiglu")


def default_d_ff(d_model: int, mlp: str) -> int:
    """4 × d_model; for the gated SwiGLU, 8/3 × d_model rounded up to a multiple of 16 (about the
    same parameters as the GELU MLP, as Llama sizes it)."""
    if mlp == "swiglu":
        return -(-(8 * d_model // 3) // 16) * 16
    return 4 * d_model


class MLP(nn.Module):
    """``gelu``: down(gelu(up x)) (GPT-2's, tanh approximation); ``swiglu``: down(silu(gate x) · up x)
    (Llama's and EuroBERT's)."""

    def __init__(self, d_model: int, d_ff: int, kind: str = "gelu") -> None:
        super().__init__()
        self.kind = kind
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)
        if kind == "swiglu":
            self.gate = nn.Linear(d_model, d_ff, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "swiglu":
            return self.down(F.silu(self.gate(x)) * self.up(x))
        return self.down(F.gelu(self.up(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(
        self, d_model: int, n_head: int, d_ff: int, dropout: float, causal: bool = True, mlp: str = "gelu"
    ) -> None:
        super().__init__()
        self.norm1 = nn.RMSNorm(d_model)
        self.attn = Attention(d_model, n_head, dropout, causal)
        self.norm2 = nn.RMSNorm(d_model)
        self.mlp = MLP(d_model, d_ff, mlp)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | None, flex_mask=None) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), cos, sin, mask, flex_mask))
        return x + self.drop(self.mlp(self.norm2(x)))


class GPT(LanguageModel):
    """Decoder-only Transformer; ``forward`` → hidden states ``[B, T, d_model]``."""

    causal = True  # a token sees the tokens before it (``bert.py`` sees both directions)

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
        attention: str = "sdpa",
        mlp: str = "gelu",
        document_mask: bool = True,
    ) -> None:
        super().__init__()
        self.document_mask = document_mask
        self.vocab_size, self.n_layer, self.n_head, self.d_model = vocab_size, n_layer, n_head, d_model
        self.max_seq_len, self.attention, self.mlp = max_seq_len, attention, mlp
        self.d_ff = d_ff or default_d_ff(d_model, mlp)
        self.rope_theta = rope_theta
        self.embed = nn.Embedding(vocab_size, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(d_model, n_head, self.d_ff, dropout, self.causal, mlp) for _ in range(n_layer)
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
        cos, sin = rope_rotation(self.rope_cos[position_ids], self.rope_sin[position_ids])
        cos, sin = cos[:, :, None, None], sin[:, :, None, None]  # against [B, T, 2 (q, k), H, D]
        mask, flex_mask = self.attention_masks(segment_ids, input_ids.is_cuda)
        x = self.drop(self.embed(input_ids))
        for block in self.blocks:
            x = block(x, cos, sin, mask, flex_mask)
        return self.norm(x)

    def attention_masks(self, segment_ids: Tensor | None, is_cuda: bool) -> tuple[Tensor | None, Any]:
        """(SDPA mask, FlexAttention block mask) keeping attention inside each document; both
        None for a row of one document (SDPA's own causal path) or without ``document_mask``."""
        if not self.document_mask or segment_ids is None:
            return None, None
        if self.attention == "flex" and is_cuda:  # no single-document check: it would sync the GPU
            return None, _flex_block_mask(segment_ids)  # pragma: no cover - CUDA only
        if is_single_document(segment_ids):
            return None, None
        return document_causal_mask(segment_ids), None

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token: 6N for the matmuls (head included) + 12·L·d·T for attention scores."""
        return 6.0 * self.matmul_params() + 12.0 * self.n_layer * self.d_model * seq_len

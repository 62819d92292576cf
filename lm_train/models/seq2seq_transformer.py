"""A Transformer encoder–decoder (``model=seq2seq cell=transformer``), Vaswani et al. 2017.

Built from ``torch.nn.TransformerEncoderLayer`` / ``TransformerDecoderLayer`` (pre-norm,
GELU, a final LayerNorm on each side). Tokens are embedded × √d_model plus sinusoidal
positions (no learned table, so no length limit is baked into the weights).

Masks: encoder self-attention and decoder cross-attention skip padded source positions
(a key-padding mask from ``src_lengths``); decoder self-attention is causal (position
``t`` attends to ``0..t``), so a target token never sees the ones after it. Target
padding needs no mask: it sits after every real token, which the causal mask already
hides from them.

``decode_step`` keeps the tokens decoded so far in the state and runs the decoder over
that prefix again at every step, taking the last position (no key/value cache: simple and
exact, quadratic in the target length, which is short).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lm_train.models.seq2seq_base import Seq2SeqModel, valid_mask

State = dict[str, Tensor]


def sinusoids(length: int, d_model: int, device: torch.device) -> Tensor:
    """``[length, d_model]`` sine/cosine position encodings."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(
        torch.arange(0, d_model, 2, device=device, dtype=torch.float32) * (-math.log(1e4) / d_model)
    )
    out = torch.zeros(length, d_model, device=device)
    out[:, 0::2] = torch.sin(position * freq)
    out[:, 1::2] = torch.cos(position * freq)[:, : d_model // 2]
    return out


def causal_mask(length: int, device: torch.device) -> Tensor:
    """``[T, T]`` bool, True where attention is forbidden: every key after the query."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


class Seq2SeqTransformer(Seq2SeqModel):
    def __init__(
        self,
        vocab_size: int,
        n_layer: int = 2,
        d_model: int = 128,
        n_head: int = 4,
        d_ff: int = 0,
        dropout: float = 0.0,
        share_embeddings: bool = True,
        tie_embeddings: bool = True,
    ) -> None:
        super().__init__()
        self.n_layer, self.d_model = n_layer, d_model
        self._embeddings(vocab_size, d_model, share_embeddings, tie_embeddings)
        layer = dict(
            d_model=d_model,
            nhead=n_head,
            dim_feedforward=d_ff or 4 * d_model,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(**layer),
            n_layer,
            norm=nn.LayerNorm(d_model),
            enable_nested_tensor=False,
        )
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(**layer), n_layer, norm=nn.LayerNorm(d_model)
        )
        self.drop = nn.Dropout(dropout)

    def _embed(self, emb: nn.Embedding, ids: Tensor) -> Tensor:
        x = emb(ids) * math.sqrt(self.d_model)
        return self.drop(x + sinusoids(ids.shape[1], self.d_model, ids.device).to(x.dtype))

    def encode(self, src: Tensor, src_lengths: Tensor) -> State:
        mask = valid_mask(src_lengths.clamp(min=1), src.shape[1])
        memory = self.encoder(self._embed(self.embed, src), src_key_padding_mask=~mask)
        return {"memory": memory, "mask": mask}

    def _decode(self, state: State, tgt_in: Tensor) -> Tensor:
        t = tgt_in.shape[1]
        return self.decoder(
            self._embed(self.tgt_embed, tgt_in),
            state["memory"],
            tgt_mask=causal_mask(t, tgt_in.device),
            memory_key_padding_mask=~state["mask"],
            tgt_is_causal=True,
        )

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        return self.logits(self._decode(self.encode(src, src_lengths), tgt_in))

    def decode_step(self, state: State, tokens: Tensor) -> tuple[Tensor, State]:
        prefix = (
            tokens[:, None] if "prefix" not in state else torch.cat([state["prefix"], tokens[:, None]], 1)
        )
        hidden = self._decode(state, prefix)
        return self.logits(hidden[:, -1]), {**state, "prefix": prefix}


__all__ = ["Seq2SeqTransformer", "causal_mask", "sinusoids"]

"""Classic recurrent language models (Elman RNN, LSTM, GRU) that restart at every document.

A packed row holds several documents; carrying the hidden state from one into the next
would let a document condition on an unrelated one. Instead each document piece of the
batch (a run of equal ``segment_ids``) becomes its own sequence with a zero initial
state, and all of them go through the fused ``nn.RNN/LSTM/GRU`` kernel at once as a
``PackedSequence``. The result is scattered back to ``[B, T]`` order.

Like ``GPT``, ``forward`` returns hidden states and ``logits()`` applies the head.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lm_train.models.base import LanguageModel

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def segment_layout(segment_ids: Tensor) -> tuple[Tensor, Tensor]:
    """Start index (in the flattened ``[B*T]`` batch) and length of every document piece.

    A piece ends where the segment id changes or a row ends, so rows never merge.
    """
    b, t = segment_ids.shape
    flat = segment_ids.reshape(-1)
    new = torch.ones_like(flat, dtype=torch.bool)
    new[1:] = flat[1:] != flat[:-1]
    new[::t] = True  # every row starts a piece
    starts = new.nonzero().squeeze(1)
    ends = torch.cat([starts[1:], torch.tensor([b * t], device=starts.device)])
    return starts, ends - starts


class RecurrentLM(LanguageModel):
    """Embedding → multi-layer RNN/LSTM/GRU → norm → (tied) head; ``forward`` → ``[B, T, d_model]``."""

    def __init__(
        self,
        vocab_size: int,
        cell: str = "lstm",
        n_layer: int = 2,
        d_model: int = 256,
        dropout: float = 0.0,
        tie_embeddings: bool = True,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.vocab_size, self.cell, self.n_layer, self.d_model = vocab_size, cell, n_layer, d_model
        self.embed = nn.Embedding(vocab_size, d_model)
        self.drop = nn.Dropout(dropout)
        self.rnn = CELLS[cell](d_model, d_model, num_layers=n_layer, batch_first=True, dropout=dropout)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        nn.init.normal_(self.embed.weight, std=0.02)
        if tie_embeddings:
            self.head.weight = self.embed.weight
        else:
            nn.init.normal_(self.head.weight, std=0.02)

    def forward(
        self, input_ids: Tensor, position_ids: Tensor | None = None, segment_ids: Tensor | None = None
    ) -> Tensor:
        x = self.drop(self.embed(input_ids))
        if segment_ids is None:
            out, _ = self.rnn(x)
            return self.norm(self.drop(out))
        b, t, d = x.shape
        starts, lengths = segment_layout(segment_ids)
        steps = torch.arange(int(lengths.max()), device=x.device)
        valid = steps[None, :] < lengths[:, None]  # [pieces, max_len]
        index = (starts[:, None] + steps[None, :]).clamp(max=b * t - 1)
        pieces = x.reshape(b * t, d)[index]  # [pieces, max_len, d]; tails beyond a piece are ignored
        packed = pack_padded_sequence(pieces, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=pieces.shape[1])
        flat = out[valid]  # row-major over (piece, step) == flattened batch order
        return self.norm(self.drop(flat.view(b, t, d)))

    def flops_per_token(self, seq_len: int) -> float:
        """6 × (recurrent + input matmul weights + head): the RNN has no sequence-length term."""
        return 6.0 * self.matmul_params()

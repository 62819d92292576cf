"""A GRU/LSTM encoder and an attentional GRU/LSTM decoder (``model=seq2seq cell=gru|lstm``).

Encoder: embedding → ``n_layer`` recurrent layers over the source (packed by length, so
padding never enters the state), bidirectional by default with ``d_model/2`` units per
direction; its outputs ``h_1..h_S`` (``[B, S, d_model]``) are the attention memory and
its final states (both directions concatenated, per layer) start the decoder.

Decoder: ``n_layer`` recurrent layers of ``d_model`` units, and attention over the
memory with padded source positions masked out. Two kinds (``rnn_attention``):

* ``bahdanau`` (additive, Bahdanau et al. 2015): the query is the decoder's top state
  before the step, ``s_{t-1}``; ``score_j = v·tanh(W_q s_{t-1} + W_k h_j)``; the context
  ``c_t`` goes into the recurrent cell with the embedded input token,
  ``s_t = RNN(s_{t-1}, [y_{t-1}; c_t])``. Training loops over the target steps.
* ``luong`` (multiplicative "general", Luong et al. 2015, without input feeding): the
  cell reads only the token, ``s_t = RNN(s_{t-1}, y_{t-1})``; the query is ``s_t``,
  ``score_j = s_t·W h_j``. Training runs the cell over the whole target at once.

Both predict from ``tanh(W_c [s_t; c_t])`` through the (tied) head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lm_train.models.seq2seq_base import Seq2SeqModel, valid_mask

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}
State = dict[str, Tensor]


class Seq2SeqRNN(Seq2SeqModel):
    def __init__(
        self,
        vocab_size: int,
        cell: str = "gru",
        attention: str = "bahdanau",
        bidirectional: bool = True,
        n_layer: int = 2,
        d_model: int = 128,
        dropout: float = 0.0,
        share_embeddings: bool = True,
        tie_embeddings: bool = True,
    ) -> None:
        super().__init__()
        if cell not in CELLS or attention not in ("bahdanau", "luong"):
            raise ValueError(
                f"cell must be gru|lstm and attention bahdanau|luong, got {cell!r}, {attention!r}"
            )
        self.cell, self.attention, self.n_layer, self.d_model = cell, attention, n_layer, d_model
        self.bidirectional = bidirectional
        self._embeddings(vocab_size, d_model, share_embeddings, tie_embeddings)
        rnn, drop = CELLS[cell], dropout if n_layer > 1 else 0.0
        enc_units = d_model // 2 if bidirectional else d_model
        self.encoder = rnn(
            d_model,
            enc_units,
            num_layers=n_layer,
            batch_first=True,
            dropout=drop,
            bidirectional=bidirectional,
        )
        feed = 2 * d_model if attention == "bahdanau" else d_model
        self.decoder = rnn(feed, d_model, num_layers=n_layer, batch_first=True, dropout=drop)
        self.attn_key = nn.Linear(d_model, d_model, bias=attention == "bahdanau")
        if attention == "bahdanau":
            self.attn_query = nn.Linear(d_model, d_model, bias=False)
            self.attn_v = nn.Linear(d_model, 1, bias=False)
        self.combine = nn.Linear(2 * d_model, d_model)
        self.drop = nn.Dropout(dropout)

    # -- encoder ---------------------------------------------------------------------------
    def encode(self, src: Tensor, src_lengths: Tensor) -> State:
        x = self.drop(self.embed(src))
        lengths = src_lengths.clamp(min=1)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, final = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        memory = self.drop(memory)
        state = {"memory": memory, "keys": self.attn_key(memory), "mask": valid_mask(lengths, src.shape[1])}
        finals = final if isinstance(final, tuple) else (final,)
        for name, h in zip(("h", "c"), finals):
            state[name] = self._decoder_init(h)
        return state

    def _decoder_init(self, h: Tensor) -> Tensor:
        """Encoder final states ``[L × dirs, B, units]`` -> decoder initial ``[B, L, d_model]``."""
        if self.bidirectional:
            h = h.view(self.n_layer, 2, h.shape[1], h.shape[2])
            h = torch.cat([h[:, 0], h[:, 1]], dim=-1)
        return h.transpose(0, 1).contiguous()

    # -- attention -------------------------------------------------------------------------
    def attend(self, query: Tensor, state: State) -> Tensor:
        """Context vectors ``[B, T, d_model]`` for queries ``[B, T, d_model]``; padding gets no weight."""
        keys = state["keys"]
        if self.attention == "bahdanau":
            scores = self.attn_v(torch.tanh(self.attn_query(query)[:, :, None] + keys[:, None])).squeeze(-1)
        else:
            scores = query @ keys.transpose(1, 2)
        scores = scores.float().masked_fill(~state["mask"][:, None, :], float("-inf"))
        weights = F.softmax(scores, dim=-1).to(state["memory"].dtype)
        return weights @ state["memory"]

    # -- decoder ---------------------------------------------------------------------------
    def _hidden(self, state: State) -> Tensor | tuple[Tensor, Tensor]:
        h = state["h"].transpose(0, 1).contiguous()
        return (h, state["c"].transpose(0, 1).contiguous()) if self.cell == "lstm" else h

    def _with_hidden(self, state: State, hidden: Tensor | tuple[Tensor, Tensor]) -> State:
        parts = hidden if isinstance(hidden, tuple) else (hidden,)
        return {**state, **{n: p.transpose(0, 1) for n, p in zip(("h", "c"), parts)}}

    def _output(self, top: Tensor, context: Tensor) -> Tensor:
        return self.drop(torch.tanh(self.combine(torch.cat([top, context], dim=-1))))

    def _steps(self, state: State, tokens: Tensor) -> tuple[Tensor, State]:
        """Decoder outputs ``[B, T, d_model]`` for input tokens ``[B, T]`` from ``state``."""
        y = self.drop(self.tgt_embed(tokens))
        if self.attention == "luong":
            top, hidden = self.decoder(y, self._hidden(state))
            return self._output(top, self.attend(top, state)), self._with_hidden(state, hidden)
        outs = []
        for t in range(tokens.shape[1]):
            context = self.attend(state["h"][:, -1:], state)  # query: the top state before the step
            top, hidden = self.decoder(torch.cat([y[:, t : t + 1], context], dim=-1), self._hidden(state))
            state = self._with_hidden(state, hidden)
            outs.append(self._output(top, context))
        return torch.cat(outs, dim=1), state

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        out, _ = self._steps(self.encode(src, src_lengths), tgt_in)
        return self.logits(out)

    def decode_step(self, state: State, tokens: Tensor) -> tuple[Tensor, State]:
        out, state = self._steps(state, tokens[:, None])
        return self.logits(out[:, 0]), state


__all__ = ["Seq2SeqRNN"]

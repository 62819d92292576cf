"""Settings of the encoder–decoder models (``seq2seq_rnn.py``, ``seq2seq_transformer.py``).

``model=seq2seq`` with ``cell=gru|lstm`` builds ``Seq2SeqRNN`` (a recurrent encoder and an
attentional recurrent decoder, ``rnn_attention=bahdanau|luong``), ``cell=transformer``
builds ``Seq2SeqTransformer``. It trains with ``objective=seq2seq`` only (the config
refuses any other pairing). Source and target share one embedding (one tokenizer) unless
``share_embeddings=false``; the decoder's output head is tied to the target embedding
unless ``tie_embeddings=false``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lm_train.models.config import ModelConfig
from lmcore.config import one_of, require

if TYPE_CHECKING:
    from torch import nn

SEQ2SEQ_CELLS = ("gru", "lstm", "transformer")
RNN_ATTENTION = ("bahdanau", "luong")


@dataclass
class Seq2SeqConfig(ModelConfig):
    name: str = "seq2seq"  # seq2seq: an encoder-decoder (objective=seq2seq)
    cell: str = "gru"  # seq2seq: gru | lstm | transformer
    n_layer: int = 2  # encoder layers, and as many decoder layers
    d_model: int = 128  # embedding and hidden width
    n_head: int = 4  # attention heads (transformer)
    d_ff: int = 0  # transformer feed-forward width (0: 4 × d_model)
    dropout: float = 0.0  # dropout probability while training (0: off)
    rnn_attention: str = "bahdanau"  # gru/lstm decoder attention: bahdanau (additive) | luong (general)
    bidirectional: bool = True  # gru/lstm: bidirectional encoder (d_model/2 per direction)
    share_embeddings: bool = True  # source and target use one embedding (same tokenizer)
    tie_embeddings: bool = True  # decoder output head shares the target embedding matrix
    max_target_len: int = 64  # target tokens kept per example (eos included), and the decode limit

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of(self.name, ("seq2seq",), "model")
        one_of(self.cell, SEQ2SEQ_CELLS, "cell")
        one_of(self.rnn_attention, RNN_ATTENTION, "rnn_attention")
        require(self.max_target_len >= 1, "max_target_len must be >= 1")
        require(self.n_head >= 1 and self.d_ff >= 0, "n_head must be >= 1 and d_ff >= 0")
        if self.cell == "transformer":
            require(self.d_model % self.n_head == 0, "d_model must be divisible by n_head")
        elif self.bidirectional:
            require(
                self.d_model % 2 == 0, "a bidirectional encoder needs an even d_model (half per direction)"
            )

    def build(self, vocab_size: int, max_seq_len: int) -> nn.Module:
        common = dict(
            n_layer=self.n_layer,
            d_model=self.d_model,
            dropout=self.dropout,
            share_embeddings=self.share_embeddings,
            tie_embeddings=self.tie_embeddings,
        )
        if self.cell == "transformer":
            from lm_train.models.seq2seq_transformer import Seq2SeqTransformer

            return Seq2SeqTransformer(vocab_size, n_head=self.n_head, d_ff=self.d_ff, **common)
        from lm_train.models.seq2seq_rnn import Seq2SeqRNN

        return Seq2SeqRNN(
            vocab_size,
            cell=self.cell,
            attention=self.rnn_attention,
            bidirectional=self.bidirectional,
            **common,
        )

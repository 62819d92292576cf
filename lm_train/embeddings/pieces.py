"""A word's vector in a token-embedding run: the mean of the embeddings of its tokenizer pieces.

A subword model has a row for ``▁cat`` but seldom for ``▁hippopotamus``; evaluating only the
words that happen to be one token would score a few hundred frequent words and call it the
model. So a word is encoded as it stands inside a sentence, with one leading space
(`` word``, which byte-level BPE spells ``Ġword``), and its vector is the mean of its pieces'
rows. ``num_pieces`` says how many pieces that took, so a report can say how much of an
evaluation rests on single-token words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


class PieceWords:
    """``words(word)`` -> the mean piece vector, or None when the word encodes to no piece."""

    def __init__(self, matrix: np.ndarray, encode: Callable[[str], Sequence[int]], prefix: str = " ") -> None:
        self.matrix = np.asarray(matrix)
        self.encode = encode
        self.prefix = prefix

    def pieces(self, word: str) -> list[int]:
        """The token ids of ``word`` as it stands inside a sentence (ids past the matrix dropped)."""
        rows = self.matrix.shape[0]
        return [i for i in self.encode(self.prefix + word) if 0 <= i < rows]

    def num_pieces(self, word: str) -> int:
        return len(self.pieces(word))

    def __call__(self, word: str) -> np.ndarray | None:
        ids = self.pieces(word)
        if not ids:
            return None
        return self.matrix[ids].mean(axis=0)


def tokenizer_encoder(tokenizer: object) -> Callable[[str], list[int]]:
    """An HF ``tokenizers.Tokenizer``'s ids for a text, without special tokens around them."""

    def encode(text: str) -> list[int]:
        return list(tokenizer.encode(text, add_special_tokens=False).ids)  # type: ignore[attr-defined]

    return encode


__all__ = ["PieceWords", "tokenizer_encoder"]

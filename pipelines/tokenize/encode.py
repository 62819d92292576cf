"""Batched encoding of documents, with long texts cut into pieces first.

HF tokenizers slow down more than linearly on very long inputs without breaks (one
pre-token of megabytes), and a single huge text also stalls a whole ``encode_batch``.
We cut texts longer than ``max_piece_chars`` at a newline, else at whitespace, else after
sentence punctuation (Chinese has no spaces), else anywhere, encode every piece of the
chunk in one ``encode_batch`` and concatenate each document's ids. Byte-level BPE maps
the concatenation of pieces to the concatenation of their bytes, so decoding is still
exact; cutting *before* whitespace keeps " word" together, so ids barely change.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer

_SENTENCE_END = "。！？；.!?;,，、)"


def _cut_point(text: str, start: int, limit: int) -> int:
    """Where to end the piece ``text[start:...]`` of at most ``limit`` characters."""
    end = start + limit
    lo = start + limit // 2  # never make pieces shorter than half the limit
    window = text[lo:end]
    nl = window.rfind("\n")
    if nl >= 0:
        return lo + nl + 1  # after the newline
    for i in range(len(window) - 1, 0, -1):
        if window[i].isspace() and not window[i - 1].isspace():
            return lo + i  # before the whitespace that precedes a word
    for i in range(len(window) - 1, -1, -1):
        if window[i] in _SENTENCE_END:
            return lo + i + 1
    return end


def split_long_text(text: str, max_piece_chars: int) -> list[str]:
    """Pieces of ``text`` of at most ``max_piece_chars`` characters; ``"".join(pieces) == text``."""
    if len(text) <= max_piece_chars:
        return [text]
    pieces: list[str] = []
    start = 0
    while len(text) - start > max_piece_chars:
        cut = _cut_point(text, start, max_piece_chars)
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def encode_texts(
    tokenizer: Tokenizer, texts: Sequence[str], eos_id: int, max_piece_chars: int, dtype: str = "uint32"
) -> list[np.ndarray]:
    """Token ids of every text, each followed by ``eos_id``, with one ``encode_batch`` call."""
    pieces: list[str] = []
    owners: list[int] = []
    for i, text in enumerate(texts):
        for piece in split_long_text(text, max_piece_chars):
            pieces.append(piece)
            owners.append(i)
    encodings = tokenizer.encode_batch_fast(pieces, add_special_tokens=False) if pieces else []
    per_doc: list[list[list[int]]] = [[] for _ in texts]
    for owner, enc in zip(owners, encodings, strict=True):
        per_doc[owner].append(enc.ids)
    out: list[np.ndarray] = []
    for parts in per_doc:
        arr = np.empty(sum(map(len, parts)) + 1, dtype=dtype)
        at = 0
        for ids in parts:  # piece by piece into the array: no Python list of a long document's ids
            arr[at : at + len(ids)] = ids
            at += len(ids)
        arr[at] = eos_id
        out.append(arr)
    return out


def decode_document(tokenizer: Tokenizer, ids: Sequence[int] | np.ndarray, eos_id: int) -> str:
    """The text of one document's ids (its trailing end-of-document id removed)."""
    ids = [int(t) for t in ids]
    if ids and ids[-1] == eos_id:
        ids = ids[:-1]
    return tokenizer.decode(ids, skip_special_tokens=False)

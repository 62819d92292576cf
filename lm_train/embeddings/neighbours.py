"""The nearest keys of a word or token by cosine similarity.

A word run looks the query up as given, then lowercased (its vocabulary is lowercased). A
token run tries, in order: the query as a word inside a sentence (``▁`` + query, one
token), the query as a key verbatim (``▁the``, ``的``, ``<0x0A>``), and last the mean of the
query's pieces (``pieces.PieceWords``), whose neighbours are searched among all tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lm_train.embeddings.keys import SPACE_MARK
from lm_train.embeddings.pieces import PieceWords


@dataclass(frozen=True)
class Neighbours:
    """The answer for one query: how it was found (None: not at all) and its nearest keys."""

    query: str
    found_as: str | None  # "key ▁word", "mean of 3 pieces: ▁w or d"
    neighbours: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "found_as": self.found_as,
            "neighbours": [{"key": k, "cosine": c} for k, c in self.neighbours],
        }


def _has(kv: Any, key: str) -> bool:
    return key in kv.key_to_index


def lookup_order(query: str, token_run: bool) -> list[str]:
    """The keys a query may stand for, most likely first."""
    if token_run:
        return list(dict.fromkeys([SPACE_MARK + query, query]))
    return list(dict.fromkeys([query, query.lower()]))


def nearest(kv: Any, query: str, topn: int = 10, word_vector: PieceWords | None = None) -> Neighbours:
    """The ``topn`` keys nearest ``query`` (itself left out when it is a key)."""
    token_run = word_vector is not None
    for key in lookup_order(query, token_run):
        if _has(kv, key):
            found = kv.most_similar(key, topn=topn) if len(kv) > 1 else []
            return Neighbours(query, f"key {key}", [(str(k), float(c)) for k, c in found])
    if word_vector is not None:
        pieces = word_vector.pieces(query)
        vector = word_vector(query)
        if vector is not None and vector.any():
            found = kv.similar_by_vector(vector, topn=topn)
            names = " ".join(str(kv.index_to_key[i]) for i in pieces)
            return Neighbours(
                query, f"mean of {len(pieces)} pieces: {names}", [(str(k), float(c)) for k, c in found]
            )
    return Neighbours(query, None)


def format_neighbours(answer: Neighbours) -> str:
    """Lines for a terminal: the query and how it was found, then ``rank  cosine  key``."""
    if answer.found_as is None:
        return f"{answer.query}: not in the vocabulary"
    lines = [f"{answer.query} ({answer.found_as}):"]
    lines += [f"  {rank:>3}  {cosine:+.4f}  {key}" for rank, (key, cosine) in enumerate(answer.neighbours, 1)]
    return "\n".join(lines)


__all__ = ["Neighbours", "format_neighbours", "lookup_order", "nearest"]

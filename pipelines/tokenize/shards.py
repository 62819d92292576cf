"""Deterministic shard layout: split by stable hash, shard count from token totals, sorted rows.

Everything here depends only on document ids, token counts and the config, never on the
order in which a runner delivers documents, so shard bytes are identical across runs,
runners and worker counts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from lmcore.hashing import stable_bucket, stable_fraction
from schemas import build_token_shard_table

NO_FLOOR = -1.0  # split key below every document's: no minimum validation size


def split_of(doc_id: str, validation_fraction: float, seed: int, floor_key: float = NO_FLOOR) -> str:
    """``validation`` for a stable ``validation_fraction`` of the document ids, else ``train``.

    Documents whose split key is at or below ``floor_key`` go to validation too (see
    ``validation_floor_key``): that is how a minimum validation size stays deterministic.
    """
    key = stable_fraction(doc_id, seed)
    return "validation" if key < validation_fraction or key <= floor_key else "train"


def validation_floor_key(smallest_keys: Sequence[float], num_docs: int, wanted: int) -> float:
    """The split key at or below which ``wanted`` documents fall (never more than half of ``num_docs``).

    ``smallest_keys``: the smallest split keys of the run's documents (at least ``wanted``
    of them when there are that many). Depends only on the document ids, never on order.
    """
    k = min(wanted, num_docs // 2, len(smallest_keys))
    return float(sorted(smallest_keys)[k - 1]) if k > 0 else NO_FLOOR


def num_shards_for(total_tokens: int, target_shard_tokens: int) -> int:
    """Shards of one split: at least one, about ``target_shard_tokens`` tokens each."""
    return max(1, math.ceil(total_tokens / target_shard_tokens))


def shard_of(doc_id: str, num_shards: int, seed: int) -> int:
    return stable_bucket(doc_id, num_shards, seed)


@dataclass
class TokenizedDocs:
    """Columns of tokenized documents (one chunk's worth, or a shard's); picklable and compact."""

    doc_ids: list[str]
    sources: list[str]
    langs: list[str | None]
    num_bytes: list[int]
    tokens: list[np.ndarray]

    @classmethod
    def empty(cls) -> TokenizedDocs:
        return cls([], [], [], [], [])

    def __len__(self) -> int:
        return len(self.doc_ids)

    def num_tokens(self) -> int:
        return int(sum(len(t) for t in self.tokens))

    def append(self, other: TokenizedDocs, index: int) -> None:
        self.doc_ids.append(other.doc_ids[index])
        self.sources.append(other.sources[index])
        self.langs.append(other.langs[index])
        self.num_bytes.append(other.num_bytes[index])
        self.tokens.append(other.tokens[index])

    def select(self, indices: Sequence[int]) -> TokenizedDocs:
        out = TokenizedDocs.empty()
        for i in indices:
            out.append(self, i)
        return out


def merge_sorted(parts: Iterable[TokenizedDocs]) -> TokenizedDocs:
    """Concatenate parts and sort the rows by ``(doc_id, source, num_bytes, tokens)``.

    Ids are unique after dedup; the tie-breakers keep the order deterministic even when
    they are not.
    """
    merged = TokenizedDocs.empty()
    for part in parts:
        for i in range(len(part)):
            merged.append(part, i)

    def key(i: int) -> tuple:
        return (merged.doc_ids[i], merged.sources[i], merged.num_bytes[i], merged.tokens[i].tobytes())

    order = sorted(range(len(merged)), key=lambda i: merged.doc_ids[i])
    ids = merged.doc_ids
    if any(ids[a] == ids[b] for a, b in itertools.pairwise(order)):
        order = sorted(range(len(merged)), key=key)
    return merged.select(order)


def shard_table(docs: TokenizedDocs, dtype: str, split: str) -> pa.Table:
    return build_token_shard_table(
        docs.doc_ids, docs.sources, docs.langs, docs.num_bytes, docs.tokens, dtype, split
    )

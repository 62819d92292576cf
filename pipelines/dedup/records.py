"""The records dedup moves between its steps, named: every one crosses a GroupByKey or a side input.

Row batches are numpy columns (one element per chunk and shard, never per document), so
each record holds arrays of equal length; the pair and edge records are per pair.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

EXACT, BANDS = "exact", "bands"  # the two kinds of key rows, grouped in one shuffle


ShardKey = tuple[str, int]  # key of the key-row shuffle: (EXACT or BANDS, hash shard); a plain
# tuple, since Beam encodes a NamedTuple key with its slower fallback coder (and warns)


class ExactRows(NamedTuple):
    """Exact-hash rows of some documents of one shard (``lsh.exact_pairs`` reads them in this order)."""

    exact: np.ndarray  # uint64 normalised-text hash
    uid: np.ndarray  # uint64 document uid
    old: np.ndarray  # bool: from an earlier run's index


class BandRows(NamedTuple):
    """LSH band-key rows of one shard, one row per (document, band) (``lsh.band_pairs`` order)."""

    band: np.ndarray  # uint64 band key
    uid: np.ndarray
    exact: np.ndarray
    old: np.ndarray


class ShardPairs(NamedTuple):
    """Candidate uid pairs found in one shard, and whether they still need a similarity check."""

    pairs: np.ndarray  # (k, 2) uint64
    verify: bool  # False for exact-hash pairs


class PairKey(NamedTuple):
    """One candidate pair (smaller uid first); both sides meet under this key."""

    uid_a: int
    uid_b: int
    verify: bool


class PairSide(NamedTuple):
    """What the check needs of one side of a pair, recomputed for candidate documents only."""

    id: str
    old: bool
    exact: int
    sig: np.ndarray | None  # MinHash signature, when verification or old documents need it
    shingles: np.ndarray | None  # sorted shingle hashes; None for an earlier run's document


class PairItem(NamedTuple):
    pair: PairKey
    side: PairSide


class Edge(NamedTuple):
    """A verified duplicate link between two documents."""

    id_a: str
    id_b: str
    exact_a: int
    exact_b: int
    old_a: bool
    old_b: bool


class Removal(NamedTuple):
    """Why a document goes: the document it duplicates and "exact" or "fuzzy"."""

    representative: str
    kind: str


Removals = dict[str, Removal]  # removed id -> Removal (the one-element side input)


class LineRows(NamedTuple):
    """Boilerplate candidate rows of one shard: line hash, document uid, document text hash."""

    line: np.ndarray
    uid: np.ndarray
    text: np.ndarray


class FrequentLines(NamedTuple):
    """Lines found in enough distinct documents, with the document that keeps each."""

    line: np.ndarray  # uint64 line hash
    keeper: np.ndarray  # uint64 uid of the document that keeps its copy
    documents: np.ndarray  # int64 distinct texts containing it


class KeptLine(NamedTuple):
    """A boilerplate line as its keeper holds it (ordered by count first, for ``Top``)."""

    documents: int
    line: str


class IndexRows(NamedTuple):
    """Index rows of one signed chunk (``index.to_parquet_bytes`` adds the band keys)."""

    id: list[str]
    uid: np.ndarray
    exact: np.ndarray
    sig: np.ndarray  # (n, num_perm) uint32

    def take(self, sel: np.ndarray) -> IndexRows:
        return IndexRows([self.id[i] for i in sel], self.uid[sel], self.exact[sel], self.sig[sel])

    @staticmethod
    def concat(parts: list[IndexRows]) -> IndexRows:
        return IndexRows(
            [i for part in parts for i in part.id],
            *(np.concatenate([getattr(part, k) for part in parts]) for k in ("uid", "exact", "sig")),
        )

    def as_batch(self) -> dict[str, Any]:
        return self._asdict()


# Earlier runs' documents take part under a salted uid (and a prefixed id in the union-find),
# so a document re-ingested under the same id is a duplicate of its old self, not the same node.
OLD_SALT = np.uint64(0x5A17_0000_0000_0001)
OLD_PREFIX = "\x00old:"

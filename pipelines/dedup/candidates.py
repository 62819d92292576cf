"""Candidate pairs, and both sides of each brought together for the similarity check.

Grouped key rows give candidate uid pairs per shard (``shard_pairs``); they reach every
worker as a side input (16 bytes a pair), where ``PairTable`` finds the pairs of each
document. The candidate documents' sides (``PairSide``: id, hashes, signature, shingles)
are recomputed there and grouped by a hash shard of the pair, one element per (chunk,
shard) rather than per (pair, side), which keeps Beam's per-element cost off this path.
Why recompute instead of carrying signatures: shuffling every signature would move
num_perm x 4 bytes per document (as much as the text); the candidates are a fraction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np

from pipelines.dedup import index, lsh
from pipelines.dedup.boilerplate import doc_uid
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.pool import PooledDoFn
from pipelines.dedup.records import EXACT, OLD_SALT, PairItem, PairKey, PairSide, ShardKey, ShardPairs
from pipelines.dedup.signing import sign_chunk
from pipelines.io.packing import unpack

Doc = dict[str, Any]
ShardItems = tuple[int, list[PairItem]]


def shard_pairs(kv: tuple[ShardKey, Iterable[tuple]], collapse_exact: bool) -> ShardPairs:
    """The candidate pairs of one shard of exact hashes or band keys."""
    (kind, _shard), rows = kv
    if kind == EXACT:
        return ShardPairs(lsh.exact_pairs(list(rows)), verify=False)
    return ShardPairs(lsh.band_pairs(list(rows), collapse_exact), verify=True)


class PairTable:
    """Distinct candidate pairs (uid_a < uid_b, needs verification) and, per uid, its pairs.

    Built once per worker from the side input; a pair found by the exact pass needs no
    verification even if LSH found it too.
    """

    def __init__(self, parts: list[ShardPairs]):
        found = [(part.pairs, np.full(len(part.pairs), part.verify)) for part in parts if len(part.pairs)]
        if not found:
            self.pairs, self.verify = np.zeros((0, 2), np.uint64), np.zeros(0, bool)
        else:
            pairs = np.concatenate([p for p, _ in found])
            verify = np.concatenate([v for _, v in found])
            pairs = np.stack((pairs.min(axis=1), pairs.max(axis=1)), axis=1)
            order = np.lexsort((verify, pairs[:, 1], pairs[:, 0]))
            pairs, verify = pairs[order], verify[order]
            first = np.concatenate(([True], np.any(pairs[1:] != pairs[:-1], axis=1)))
            self.pairs, self.verify = pairs[first], verify[first]
        ends = self.pairs.reshape(-1)
        self._order = np.argsort(ends, kind="stable")
        self._ends = ends[self._order]

    def __len__(self) -> int:
        return len(self.pairs)

    def pairs_of(self, uids: np.ndarray) -> list[np.ndarray]:
        """For each uid, the indices of the pairs it belongs to."""
        lo = np.searchsorted(self._ends, uids, side="left")
        hi = np.searchsorted(self._ends, uids, side="right")
        return [self._order[a:b] // 2 for a, b in zip(lo, hi, strict=True)]

    def items(self, idx: np.ndarray, side: PairSide) -> list[PairItem]:
        """One item per pair ``idx`` names, all carrying this side."""
        pairs, verify = self.pairs[idx].tolist(), self.verify[idx].tolist()
        return [PairItem(PairKey(a, b, v), side) for (a, b), v in zip(pairs, verify, strict=True)]


def by_shard(items: list[PairItem], shards: int) -> list[ShardItems]:
    """Group items by a hash shard of the pair (uids are hashes already)."""
    out: dict[int, list[PairItem]] = {}
    for item in items:
        out.setdefault(item.pair.uid_a % shards, []).append(item)
    return sorted(out.items())


def chunk_sides(
    docs: list[Doc], table: PairTable, cfg: DedupConfig, with_signatures: bool
) -> list[ShardItems]:
    """The pair items of a chunk's candidate documents, their shingles (and signatures) recomputed."""
    uids = np.fromiter((doc_uid(d["id"]) for d in docs), np.uint64, len(docs))
    members = table.pairs_of(uids)
    hit = [i for i, idx in enumerate(members) if len(idx)]
    if not hit:
        return []
    signed = sign_chunk([docs[i] for i in hit], cfg, with_signatures=with_signatures)
    items: list[PairItem] = []
    for j, i in enumerate(hit):
        side = PairSide(
            id=docs[i]["id"],
            old=False,
            exact=int(signed.exact[j]),
            sig=signed.sig[j] if signed.sig is not None else None,
            shingles=signed.shingles.of(j),
        )
        items += table.items(members[i], side)
    return by_shard(items, cfg.shuffle_shards)


def old_sides(path: str, table: PairTable, cfg: DedupConfig) -> Iterator[ShardItems]:
    """The pair items of an earlier run's candidate documents (stored signatures, no shingles)."""
    for batch in index.read_batches(path, cfg):
        items: list[PairItem] = []
        for j, idx in enumerate(table.pairs_of(batch["uid"] ^ OLD_SALT)):
            if len(idx):
                side = PairSide(batch["id"][j], True, int(batch["exact"][j]), batch["sig"][j], None)
                items += table.items(idx, side)
        yield from by_shard(items, cfg.shuffle_shards)


class _TableCache:
    """The side input's ``PairTable``, rebuilt only when the runner hands over a new list."""

    def __init__(self) -> None:
        self._source: Any = None
        self._table = PairTable([])

    def get(self, parts: list[ShardPairs]) -> PairTable:
        if parts is not self._source:
            self._source, self._table = parts, PairTable(parts)
        return self._table


class CandidateInfoFn(PooledDoFn):
    """Packed chunk -> (shard, [PairItem]) for the pairs its documents are in (side input: pairs)."""

    def __init__(self, config: DedupConfig, with_old: bool):
        super().__init__(config)
        # signatures are needed only to compare with earlier runs' documents (which have no
        # shingles here) or when verification uses them; otherwise skip computing them
        self.need_signatures = with_old or config.verify != "exact"

    def setup(self) -> None:
        super().setup()
        self.tables = _TableCache()

    def process(self, chunk: tuple[str, bytes | list[Doc]], parts: list[ShardPairs]) -> Iterator[Any]:
        table = self.tables.get(parts)
        if not len(table):
            return
        for outputs in self.pool.submit(self._sides, chunk[1], table):
            yield from outputs

    def _sides(self, packed: bytes | list[Doc], table: PairTable) -> list[ShardItems]:
        return chunk_sides(unpack(packed), table, self.config, self.need_signatures)


class OldCandidateInfoFn(beam.DoFn):
    """Index file of an earlier run -> (shard, [PairItem]) for its candidate documents."""

    def __init__(self, config: DedupConfig):
        self.config = config

    def setup(self) -> None:
        self.tables = _TableCache()

    def process(self, path: str, parts: list[ShardPairs]) -> Iterator[ShardItems]:
        table = self.tables.get(parts)
        if len(table):
            yield from old_sides(path, table, self.config)

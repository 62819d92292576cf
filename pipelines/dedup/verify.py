"""Both sides of each candidate pair -> verified duplicate edges.

LSH candidates are checked by the exact Jaccard of their shingle sets (or the signature
estimate when one side is an earlier run's document, whose shingles are not at hand);
exact-hash pairs need no check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from pipelines.dedup import lsh
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.minhash import estimated_jaccard
from pipelines.dedup.records import Edge, PairItem, PairKey, PairSide
from pipelines.stage.counting import COUNTS


def similar(a: PairSide, b: PairSide, cfg: DedupConfig) -> bool:
    """Is a verified edge: exact Jaccard of the shingle sets, or the signature estimate."""
    if cfg.verify == "none":
        return True
    if cfg.verify == "exact" and a.shingles is not None and b.shingles is not None:
        return lsh.jaccard(a.shingles, b.shingles) >= cfg.threshold
    return estimated_jaccard(a.sig, b.sig) >= cfg.signature_min_jaccard


def check_pairs(item_lists: Iterable[list[PairItem]], cfg: DedupConfig) -> tuple[list[Edge], Counter]:
    """Both sides of each pair -> verified edges and counts.

    A pair with one side missing (e.g. dropped earlier as too short) gives no edge.
    """
    sides: dict[PairKey, list[PairSide]] = {}
    for items in item_lists:
        for item in items:
            sides.setdefault(item.pair, []).append(item.side)
    edges: list[Edge] = []
    counts: Counter = Counter()
    for pair, found in sorted(sides.items(), key=lambda kv: kv[0]):
        if len(found) != 2:
            continue
        a, b = sorted(found, key=lambda side: side.id)
        if not pair.verify:
            counts["dedup_pairs/exact"] += 1
        else:
            counts["dedup_pairs/candidates"] += 1
            if not similar(a, b, cfg):
                continue
            counts["dedup_pairs/verified"] += 1
        edges.append(Edge(a.id, b.id, a.exact, b.exact, a.old, b.old))
    return edges, counts


class CheckPairsFn(beam.DoFn):
    """One shard of pair sides -> a list of verified edges (one element) and its counts."""

    def __init__(self, config: DedupConfig):
        self.config = config

    def process(self, kv: tuple[int, Iterable[list[PairItem]]]) -> Iterator[Any]:
        edges, counts = check_pairs(kv[1], self.config)
        if counts:
            yield pvalue.TaggedOutput(COUNTS, dict(counts))
        if edges:
            yield edges

"""Verified edges -> which documents go, each pointing at the one that stays (``Removals``).

One combiner sees every edge: a cluster's decision needs all of its edges. The edges are
about 100 bytes per duplicate document, so this holds tens of millions per worker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import apache_beam as beam

from pipelines.dedup import components
from pipelines.dedup.records import OLD_PREFIX, Edge, Removal, Removals


class UnionFind(beam.CombineFn):
    """All verified edges (lists of ``Edge``) -> the removal map."""

    def create_accumulator(self) -> list[Edge]:
        return []

    def add_input(self, acc: list[Edge], edges: list[Edge]) -> list[Edge]:
        acc.extend(edges)
        return acc

    def merge_accumulators(self, accs: Iterable[list[Edge]]) -> list[Edge]:
        return [e for acc in accs for e in acc]

    def extract_output(self, edges: list[Edge]) -> Removals:
        return removals_from_edges(edges)


def removals_from_edges(edges: list[Edge]) -> Removals:
    """Edges -> {removed id: Removal}; earlier runs' documents are nodes of their own (prefixed)."""
    named = [(_node(e.id_a, e.old_a), _node(e.id_b, e.old_b), e.exact_a, e.exact_b) for e in edges]
    old = {node for a, b, _, _ in named for node in (a, b) if node.startswith(OLD_PREFIX)}
    exact = {a: ea for a, _, ea, _ in named} | {b: eb for _, b, _, eb in named}
    out = components.removals(((a, b) for a, b, _, _ in named), old, exact)
    return {doc: Removal(rep.removeprefix(OLD_PREFIX), kind) for doc, (rep, kind) in out.items()}


def _node(doc_id: str, old: bool) -> str:
    return OLD_PREFIX + doc_id if old else doc_id


def cluster_sizes(removed: Removals) -> dict[str, int]:
    """Counts ``dedup_clusters/size_N``: how many clusters of N documents (kept one included)."""
    sizes = Counter(Counter(r.representative for r in removed.values()).values())
    return {f"dedup_clusters/size_{n + 1}": c for n, c in sorted(sizes.items())}

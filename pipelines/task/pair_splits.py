"""Exact duplicates, split conflicts and the split of paired text (pure functions over pairs).

Pairs are grouped by their normalised source, and a source's pairs always share one split,
so no source is seen in training and graded in test:

* Records whose normalised (source, target) are equal are one example: the one with the
  smallest id is kept, the others are ``duplicates/exact``.
* One source with several different targets (two translators, two references) keeps every
  distinct pair: they are all correct answers, unlike a text with two labels, and they go to
  the same split. ``stats.json`` counts such sources (``pairs/sources_with_several_targets``).
* Without a split field, a source's split comes from a stable hash of its normalised text
  (seeded by ``task.split_seed``): ``test`` below ``test_fraction``, ``validation`` below
  ``test_fraction + validation_fraction``, ``train`` above. The shares of the sources are
  within sampling noise of the fractions (no stratification: there are no labels), and a
  source's split depends only on its text and the seed, never on the other records, input
  order or the runner.
* With a split field, a source the input puts in two different splits would leak; all of its
  records are dropped (``dropped/split_conflict``), as a text with two labels is for
  classification (``split_conflicts/sources`` in ``stats.json``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from lmcore.hashing import stable_fraction
from pipelines.task.pairs import Pair


class ResolvedSource(NamedTuple):
    """Where one source's records went."""

    kept: list[tuple[str, Pair]]  # (split, pair), one per distinct target
    duplicates: list[tuple[Pair, str]]  # (pair, doc_id of the kept pair it repeats)
    conflicts: list[Pair]  # every record, when the input gave the source two splits


def split_of_source(source_key: str, fractions: Mapping[str, float], seed: int) -> str:
    """The split of every pair of a source, from a stable hash of its normalised text."""
    u = stable_fraction(source_key, seed)
    if u < fractions["test"]:
        return "test"
    if u < fractions["test"] + fractions["validation"]:
        return "validation"
    return "train"


def resolve_source(group: Iterable[Pair], fractions: Mapping[str, float], seed: int) -> ResolvedSource:
    """One source's records -> its kept pairs with their split, exact duplicates, or conflicts."""
    ordered = sorted(group, key=lambda p: (p.doc_id, p.source, p.target_key))
    if not ordered:
        return ResolvedSource([], [], [])
    given = {p.split for p in ordered}
    if len(given) > 1:
        return ResolvedSource([], [], ordered)
    split = ordered[0].split or split_of_source(ordered[0].source_key, fractions, seed)
    first: dict[str, Pair] = {}
    duplicates: list[tuple[Pair, str]] = []
    for p in ordered:
        kept = first.setdefault(p.target_key, p)
        if kept is not p:
            duplicates.append((p, kept.doc_id))
    return ResolvedSource([(split, p) for p in first.values()], duplicates, [])

"""Exact duplicates, label conflicts and the stratified split (pure functions over examples).

* Records whose normalised texts are equal are one example: the one with the smallest id
  is kept, the others are ``duplicates/exact``. When they carry different labels the text
  is ambiguous; all of its records are dropped (``dropped/label_conflict``), since keeping
  any one label would teach, or grade, a guess.
* Without a split field, each label's examples are ordered by a stable hash of their text
  (seeded by ``task.split_seed``): the first ``round(n × test_fraction)`` go to test, the
  next ``round(n × validation_fraction)`` to validation, the rest to train. Each split's
  share of every label is within one example of its target, and the assignment depends
  only on the texts and the seed, never on input order or the runner.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from lmcore.hashing import stable_hash64
from pipelines.task.examples import Example


class Resolved(NamedTuple):
    kept: Example | None
    duplicates: list[Example]
    conflicts: list[Example]


def resolve_duplicates(group: Iterable[Example]) -> Resolved:
    """One text's records -> the kept one, its exact duplicates, or all of them as conflicts."""
    ordered = sorted(group, key=lambda e: (e.doc_id, e.source, e.label))
    if len({e.label for e in ordered}) > 1:
        return Resolved(None, [], ordered)
    return Resolved(ordered[0], ordered[1:], [])


def split_sizes(n: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Examples per split for ``n`` examples of one label (test and validation rounded half up)."""
    test = math.floor(n * fractions["test"] + 0.5)
    validation = min(n - test, math.floor(n * fractions["validation"] + 0.5))
    return {"test": test, "validation": validation, "train": n - test - validation}


def assign_splits(
    examples: Sequence[Example], fractions: Mapping[str, float], seed: int
) -> list[tuple[str, Example]]:
    """One label's examples with their split: the given one, or the stratified assignment."""
    if examples and all(e.split is not None for e in examples):
        return [(e.split, e) for e in examples]
    ordered = sorted(examples, key=lambda e: (stable_hash64(e.text_key, seed), e.doc_id))
    sizes = split_sizes(len(ordered), fractions)
    out: list[tuple[str, Example]] = []
    start = 0
    for split in ("test", "validation", "train"):
        out.extend((split, e) for e in ordered[start : start + sizes[split]])
        start += sizes[split]
    return out


def label_list(found: Iterable[str], given: Sequence[str] | None) -> list[str]:
    """The labels in id order: ``task.labels`` as given, else the sorted names found."""
    return list(given) if given else sorted(set(found))

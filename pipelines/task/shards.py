"""Token shards of a task dataset: the shard plan, the table with its ``label`` column
(classification) or its ``target`` column (pairs: ``tokens`` holds the source side), and the
per-label counts a shard adds to the manifest (pure; the files go through
``lmcore.dataset_writer``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import pyarrow as pa

from lmcore.dataset_writer import DatasetWriter
from lmcore.hashing import stable_bucket
from pipelines.task.examples import Example
from pipelines.task.pairs import Pair
from schemas import build_token_shard_table

SHARD_SEED = 37


class ShardPlan(NamedTuple):
    """What every shard writer needs: shards per split, the token dtype, the labels in id order."""

    num_shards: dict[str, int]
    dtype: str
    labels: list[str]  # empty for pairs


def num_shards_for(total_tokens: int, target_shard_tokens: int) -> int:
    return max(1, math.ceil(total_tokens / target_shard_tokens))


def assign_shard(
    item: tuple[str, Example | Pair], plan: ShardPlan
) -> Iterator[tuple[tuple[str, int], Example | Pair]]:
    """(split, example) -> ((split, shard index), example), by a stable hash of the example's id."""
    split, ex = item
    yield (split, stable_bucket(ex.doc_id, plan.num_shards[split], SHARD_SEED)), ex


def sorted_examples(parts: Sequence[Example]) -> list[Example]:
    """A shard's rows in file order: by id (unique after ``UniqueIds``), then by text."""
    return sorted(parts, key=lambda e: (e.doc_id, e.text_key))


def shard_table(examples: Sequence[Example], dtype: str, split: str, labels: Sequence[str]) -> pa.Table:
    ids = {name: i for i, name in enumerate(labels)}
    return build_token_shard_table(
        [e.doc_id for e in examples],
        [e.source for e in examples],
        [e.lang for e in examples],
        [e.num_bytes for e in examples],
        [e.tokens for e in examples],
        dtype,
        split,
        labels=[ids[e.label] for e in examples],
    )


def label_counts(examples: Sequence[Example]) -> dict[str, int]:
    return dict(sorted(Counter(e.label for e in examples).items()))


class TaskShardWriter:
    """Writes one (split, index) shard; returns its ``ShardInfo`` dict plus its ``label_counts``."""

    def __init__(self, output_dir: str, shards_dir: str):
        self.output_dir = output_dir
        self.shards_dir = shards_dir

    def __call__(self, file_id: tuple[str, int], examples: list[Example], plan: ShardPlan) -> dict[str, Any]:
        split, index = file_id
        writer = DatasetWriter(self.output_dir, self.shards_dir)
        table = shard_table(examples, plan.dtype, split, plan.labels)
        info = writer.add_shard(split, index, plan.num_shards[split], table, plan.dtype)
        return {**info.to_dict(), "label_counts": label_counts(examples), "labels": list(plan.labels)}


def task_label_counts(shard_results: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """split -> label -> examples, summed over the shards written."""
    out: dict[str, Counter] = {}
    for res in shard_results:
        out.setdefault(res["split"], Counter()).update(res["label_counts"])
    return {split: dict(sorted(c.items())) for split, c in sorted(out.items())}


# -- pairs -----------------------------------------------------------------------------------------
def sorted_pairs(parts: Sequence[Pair]) -> list[Pair]:
    """A pairs shard's rows in file order: by id (unique after ``UniqueIds``), then by text."""
    return sorted(parts, key=lambda p: (p.doc_id, p.source_key, p.target_key))


def pair_table(pairs: Sequence[Pair], dtype: str, split: str) -> pa.Table:
    """The shard table: ``tokens`` the source ids, ``target`` the target ids (both end with EOD)."""
    return build_token_shard_table(
        [p.doc_id for p in pairs],
        [p.source for p in pairs],
        [p.lang for p in pairs],
        [p.num_bytes for p in pairs],
        [p.tokens for p in pairs],
        dtype,
        split,
        targets=[p.target_tokens for p in pairs],
    )


class PairShardWriter:
    """Writes one (split, index) pairs shard; returns its ``ShardInfo`` dict plus its target tokens."""

    def __init__(self, output_dir: str, shards_dir: str):
        self.output_dir = output_dir
        self.shards_dir = shards_dir

    def __call__(self, file_id: tuple[str, int], pairs: list[Pair], plan: ShardPlan) -> dict[str, Any]:
        split, index = file_id
        writer = DatasetWriter(self.output_dir, self.shards_dir)
        info = writer.add_shard(
            split, index, plan.num_shards[split], pair_table(pairs, plan.dtype, split), plan.dtype
        )
        return {**info.to_dict(), "target_tokens": sum(len(p.target_tokens) for p in pairs)}


def example_counts(shard_results: Sequence[dict[str, Any]]) -> dict[str, int]:
    """split -> examples (rows), summed over the shards written: a pairs manifest's ``task.example_counts``."""
    out: Counter = Counter()
    for res in shard_results:
        out[res["split"]] += res["num_docs"]
    return dict(out)

"""The contract of paired-text task datasets: a ``target`` token column and a ``pairs`` task."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from schemas import TARGET_COLUMN, TokenShardError, build_token_shard_table, validate_token_shard_table
from schemas.manifest import ManifestError, TaskInfo


def _pairs_table(targets, dtype="uint16"):
    return build_token_shard_table(
        ["a", "b"],
        ["f.jsonl", "f.jsonl"],
        ["en", "en"],
        [5, 7],
        [np.array([1, 2, 0]), np.array([3, 0])],
        dtype,
        split="train",
        targets=targets,
    )


def test_pairs_shard_round_trips_source_as_tokens_and_target_column():
    table = _pairs_table([np.array([4, 5, 0]), np.array([6, 7, 8, 0])])
    assert table.schema.metadata[b"lmforge.schema_version"] == b"2.0"
    assert table.schema.field(TARGET_COLUMN).type == table.schema.field("tokens").type
    validate_token_shard_table(table, vocab_size=9)
    assert table.column(TARGET_COLUMN).to_pylist() == [[4, 5, 0], [6, 7, 8, 0]]
    assert table.column("tokens").to_pylist() == [[1, 2, 0], [3, 0]]


def test_target_ids_past_the_vocabulary_are_refused():
    table = _pairs_table([np.array([4, 0]), np.array([60, 0])])
    with pytest.raises(TokenShardError, match="target token id 60"):
        validate_token_shard_table(table, vocab_size=9)


def test_target_of_another_dtype_is_a_schema_mismatch():
    table = _pairs_table([np.array([4, 0]), np.array([6, 0])])
    bad = table.set_column(5, TARGET_COLUMN, table.column(TARGET_COLUMN).cast(pa.list_(pa.uint32())))
    with pytest.raises(TokenShardError, match="schema mismatch"):
        validate_token_shard_table(bad)


def test_a_shard_without_optional_columns_declares_the_stream_container_2_0():
    table = build_token_shard_table(["a"], ["s"], [None], [1], [np.array([1, 0])], "uint16")
    assert table.schema.metadata[b"lmforge.schema_version"] == b"2.0"


def test_pairs_task_info_round_trips_and_counts_examples():
    info = TaskInfo.from_dict(
        {
            "kind": "pairs",
            "example_counts": {"train": 8, "test": 1},
            "source_field": "en",
            "target_field": "zh",
        }
    )
    assert info.is_pairs and info.labels == []
    assert info.split_total("train") == 8 and info.split_total("validation") == 0
    assert TaskInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info


def test_pairs_task_info_refuses_an_unknown_split():
    with pytest.raises(ManifestError, match=r"example_counts\.dev"):
        TaskInfo.from_dict({"kind": "pairs", "example_counts": {"dev": 1}})

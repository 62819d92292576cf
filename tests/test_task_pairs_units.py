"""Paired-text task datasets without Beam: the settings, the pair checks and their reasons,
exact duplicates, several targets and split conflicts, the split by source, the readers'
source reasons, the shard table, and verify's pairs checks."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lmcore.config import ConfigError
from lmcore.dataset_writer import shard_info
from pipelines.dataset.verify import check_shard_contents, example_count_faults
from pipelines.io.config import ReadConfig
from pipelines.io.formats.base import FileContext
from pipelines.task import pair_splits, pairs
from pipelines.task.command import flag_overrides, light_parser
from pipelines.task.config import TaskConfig, load_task_config
from pipelines.task.examples import Refused
from pipelines.task.records import labelled_records
from pipelines.task.shards import example_counts, pair_table, sorted_pairs
from schemas import TARGET_COLUMN, ShardInfo, build_token_shard_table

PAIRS = TaskConfig(kind="pairs")
FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


# -- settings -------------------------------------------------------------------------------------
def test_pairs_settings_name_their_fields_and_the_reader_follows_the_source():
    config = load_task_config(None, ["task.kind=pairs", "task.source_field=en", "task.target_field=zh"])
    assert config.task.is_pairs and config.read.text_field == "en"
    assert config.task.input_fields() == ("en", "zh")
    assert load_task_config(None, ["task.kind=pairs"]).read.text_field == "source"
    assert load_task_config(None, ["task.text_field=review"]).read.text_field == "review"


def test_flags_map_to_the_task_section():
    from pipelines.task.command import COMMAND

    ours, _ = light_parser(COMMAND).parse_known_args(
        ["--task=pairs", "--source-field=en", "--target_field=zh"]
    )
    assert flag_overrides(ours) == {"task": {"kind": "pairs", "source_field": "en", "target_field": "zh"}}


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["task.kind=pairs", "task.labels=[a, b]"], "task.labels is for classification"),
        (["task.kind=pairs", "task.source_field=x", "task.target_field=x"], "must be different fields"),
        (["task.kind=pairs", "task.split_field=source"], "must be different fields"),
        (["task.kind=pairs", "task.target_field="], "task.target_field must be a non-empty"),
        (["task.kind=translation"], "task.kind must be one of classification, pairs"),
    ],
)
def test_bad_pairs_settings_are_one_config_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_task_config(None, overrides)


def test_a_pairs_task_may_reuse_the_classification_field_names():
    # text_field/label_field do not apply to pairs, so "text" may be the target field
    config = load_task_config(None, ["task.kind=pairs", "task.target_field=text"])
    assert config.task.input_fields() == ("source", "text")


def test_recorded_settings_hold_only_the_kinds_own_fields():
    classification = TaskConfig().recorded()
    assert "source_field" not in classification and "target_field" not in classification
    assert list(classification)[:3] == ["kind", "text_field", "label_field"]
    recorded = PAIRS.recorded()
    assert {"text_field", "label_field", "labels"}.isdisjoint(recorded)
    assert recorded["source_field"] == "source" and recorded["target_field"] == "target"


# -- a record -> a pair -----------------------------------------------------------------------------
def _doc(text="Open", target="打开", **meta):
    return {"id": "d1", "text": text, "source": "f.jsonl", "lang": None, "meta": {"target": target, **meta}}


@pytest.mark.parametrize(
    "doc, reason",
    [
        (_doc(text=" \u200b "), "empty_source"),
        (_doc(target="\t"), "empty_target"),
        (_doc(target=None), "missing_target"),
        ({"id": "d", "text": "a", "source": "s", "meta": {}}, "missing_target"),
        (_doc(target=3), "bad_target"),
        (_doc(target={"zh": "打开"}), "bad_target"),
    ],
)
def test_pair_candidate_refuses_with_the_side_and_the_reason(doc, reason):
    with pytest.raises(Refused) as info:
        pairs.pair_candidate(doc, PAIRS)
    assert info.value.reason == reason


def test_pair_candidate_normalises_both_sides_and_reads_the_split():
    task = TaskConfig(kind="pairs", split_field="part")
    c = pairs.pair_candidate(_doc(text="Open\u00a0file  ", target="打开\u200b文件 ", part=" Test"), task)
    assert (c.source_text, c.target_text, c.split) == ("Open file", "打开文件", "test")
    with pytest.raises(Refused, match="not one of") as info:
        pairs.pair_candidate(_doc(part="dev"), task)
    assert info.value.reason == "bad_split"


def test_too_long_names_the_side():
    c = pairs.pair_candidate(_doc(), PAIRS)
    short, long = np.array([1, 0]), np.array([1, 2, 3, 0])
    assert pairs.pair(c, short, short, 3).num_bytes == len(b"Open")
    with pytest.raises(Refused, match="the target has 4 tokens"):
        pairs.pair(c, short, long, 3)
    with pytest.raises(Refused, match="the source has 4 tokens"):
        pairs.pair(c, long, short, 3)
    assert pairs.pair(c, long, long, None).target_tokens is long


# -- duplicates, several targets, split conflicts, splits -------------------------------------------
def _pair(doc_id, source="Open", target="打开", split=None, origin="f.jsonl"):
    c = pairs.PairCandidate(doc_id, source, target, split, origin, None)
    return pairs.pair(c, np.array([1, 0]), np.array([2, 0]), None)


def test_exact_duplicates_keep_the_smallest_id_and_other_targets_stay_in_the_same_split():
    group = [_pair("b"), _pair("a"), _pair("c", target="开启"), _pair("d", target="开启")]
    resolved = pair_splits.resolve_source(group, FRACTIONS, 31)
    assert [(p.doc_id, p.target_text) for _, p in resolved.kept] == [("a", "打开"), ("c", "开启")]
    assert len({split for split, _ in resolved.kept}) == 1
    assert [(p.doc_id, kept) for p, kept in resolved.duplicates] == [("b", "a"), ("d", "c")]
    assert resolved.conflicts == []
    assert pair_splits.resolve_source(list(reversed(group)), FRACTIONS, 31) == resolved


def test_a_given_split_is_kept_and_two_given_splits_drop_the_source():
    same = pair_splits.resolve_source(
        [_pair("a", split="test"), _pair("b", "Open", "开", "test")], FRACTIONS, 0
    )
    assert [split for split, _ in same.kept] == ["test", "test"]
    conflict = pair_splits.resolve_source([_pair("a", split="train"), _pair("b", split="test")], FRACTIONS, 0)
    assert conflict.kept == [] and conflict.duplicates == []
    assert [p.doc_id for p in conflict.conflicts] == ["a", "b"]


def test_the_split_of_a_source_is_a_stable_hash_with_the_configured_shares():
    keys = [_pair(str(i), source=f"message {i}").source_key for i in range(20_000)]
    got = Counter(pair_splits.split_of_source(k, FRACTIONS, 31) for k in keys)
    for split, share in FRACTIONS.items():
        assert abs(got[split] / len(keys) - share) < 0.01, got
    assert [pair_splits.split_of_source(k, FRACTIONS, 31) for k in keys[:50]] == [
        pair_splits.split_of_source(k, FRACTIONS, 31) for k in keys[:50]
    ]
    other_seed = [pair_splits.split_of_source(k, FRACTIONS, 32) for k in keys[:200]]
    assert other_seed != [pair_splits.split_of_source(k, FRACTIONS, 31) for k in keys[:200]]
    no_test = {"train": 0.9, "validation": 0.1, "test": 0.0}
    assert "test" not in {pair_splits.split_of_source(k, no_test, 31) for k in keys[:500]}


# -- readers: the source's reasons ------------------------------------------------------------------
def _read(path, fields=("target",), role="source", text_field="source"):
    return list(
        labelled_records(FileContext(str(path), None, ReadConfig(text_field=text_field)), fields, role)
    )


def test_jsonl_source_reasons(tmp_path):
    path = tmp_path / "a.jsonl"
    lines = [{"source": "Open", "target": "打开"}, {"target": "x"}, {"source": None}, {"source": 5}, [1]]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    first, *bad = _read(path)
    assert first["text"] == "Open" and first["meta"] == {"target": "打开"}
    assert [b.reason for b in bad] == ["missing_source", "missing_source", "bad_source", "wrong_type"]
    # classification keeps the readers' own reasons
    classic = _read(path, ("label",), "text", "source")
    assert [r.reason for r in classic[1:]] == ["missing_text", "wrong_type", "wrong_type", "wrong_type"]


def test_parquet_and_csv_source_reasons(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"source": ["Open", None], "target": ["打开", "关"]}), path)
    ok, bad = _read(path)
    assert ok["meta"] == {"target": "打开"} and bad.reason == "missing_source"
    pq.write_table(pa.table({"en": ["Open"]}), path)
    assert [r.reason for r in _read(path)] == ["missing_source"]
    csv = tmp_path / "b.csv"
    csv.write_text("en,target\nOpen,打开\n")
    assert [r.reason for r in _read(csv)] == ["missing_source"]
    csv.write_text("source,target\nOpen,打开\n")
    [row] = _read(csv)
    assert row["text"] == "Open" and row["meta"]["target"] == "打开"


# -- shards and verify ------------------------------------------------------------------------------
def test_pair_table_holds_source_tokens_and_a_target_column():
    rows = sorted_pairs([_pair("b", source="Close"), _pair("a")])
    table = pair_table(rows, "uint16", "train")
    assert table.column("doc_id").to_pylist() == ["a", "b"]
    assert table.column("tokens").to_pylist() == [[1, 0], [1, 0]]
    assert table.column(TARGET_COLUMN).to_pylist() == [[2, 0], [2, 0]]
    assert "label" not in table.schema.names
    assert example_counts([{"split": "train", "num_docs": 2}, {"split": "train", "num_docs": 1}]) == {
        "train": 3
    }


def _info(table) -> ShardInfo:
    return shard_info("shards/train-00000-of-00001.arrow", "train", "0" * 64, table, "uint16")


def test_verify_pairs_shard_checks():
    good = pair_table([_pair("a"), _pair("b", source="Close")], "uint16", "train")
    assert list(check_shard_contents(good, _info(good), 10, 0, None, pairs=True)) == []
    no_target = build_token_shard_table(["a"], ["s"], [None], [4], [np.array([1, 0])], "uint16", "train")
    assert "has no 'target' column" in next(
        check_shard_contents(no_target, _info(no_target), 10, 0, None, True)
    )
    both = build_token_shard_table(
        ["a"], ["s"], [None], [4], [np.array([1, 0])], "uint16", "train", [0], [np.array([2, 0])]
    )
    assert any(
        "has a 'label' column" in f for f in check_shard_contents(both, _info(both), 10, 0, None, True)
    )
    no_eos = build_token_shard_table(
        ["a"], ["s"], [None], [4], [np.array([1, 0])], "uint16", "train", targets=[np.array([2, 3])]
    )
    [fault] = check_shard_contents(no_eos, _info(no_eos), 10, 0, None, True)
    assert "1 target(s) do not end with the EOD id 0 (first: 'a')" in fault
    empty = build_token_shard_table(
        ["a"], ["s"], [None], [4], [np.array([1, 0])], "uint16", "train", targets=[np.array([], np.uint16)]
    )
    assert "target(s) have no tokens" in next(check_shard_contents(empty, _info(empty), 10, 0, None, True))
    assert example_count_faults({"train": 2, "test": 1}, {"train": 2, "test": 1}) == []
    assert example_count_faults({"train": 2}, {"train": 2, "validation": 1}) == [
        "task.example_counts.validation = 0, but the validation shards hold 1 example(s)"
    ]

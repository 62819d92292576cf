"""Task datasets without Beam: the label column and manifest.task contract, the example checks,
duplicates and label conflicts, the stratified split, the CSV/TSV and labelled readers, and
verify's label checks."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import numpy as np
import pytest

from lmcore.config import ConfigError
from pipelines.dataset.verify import check_shard_contents, label_count_faults
from pipelines.io.config import ReadConfig
from pipelines.io.file_reader import FileReader
from pipelines.io.formats.base import FileContext
from pipelines.task import examples as ex
from pipelines.task import splits
from pipelines.task.config import TaskConfig, load_task_config
from pipelines.task.records import labelled_records
from pipelines.task.shards import shard_table
from schemas import (
    Counts,
    Manifest,
    ShardInfo,
    TaskInfo,
    TokenizerInfo,
    TokenShardError,
    build_token_shard_table,
    open_token_shard,
    token_shard_to_bytes,
    validate_token_shard_table,
)
from schemas.manifest import ManifestError

SHA = "0" * 64


def _table(labels=None, split="train"):
    tokens = [np.array([5, 6, 0]), np.array([7, 0])]
    return build_token_shard_table(
        ["a", "b"], ["s", "s"], [None, "en"], [3, 2], tokens, "uint16", split, labels
    )


# -- the contract ------------------------------------------------------------------------------
def test_label_column_round_trips_and_declares_version_1_1():
    shard = open_token_shard(pa_buffer(token_shard_to_bytes(_table([2, 0]))))
    assert shard.labels.tolist() == [2, 0]
    assert shard.labels.dtype == np.int32
    assert shard.table.schema.metadata[b"lmforge.schema_version"] == b"2.0"


def test_shard_without_labels_loads_without_labels():
    table = _table()
    assert "label" not in table.schema.names
    assert open_token_shard(pa_buffer(token_shard_to_bytes(table))).labels is None


def test_label_ids_outside_the_label_list_are_refused():
    validate_token_shard_table(_table([0, 1]), num_labels=2)
    with pytest.raises(TokenShardError, match="label id 2"):
        validate_token_shard_table(_table([0, 2]), num_labels=2)


def test_shard_of_another_major_version_is_refused():
    table = _table([0, 1])
    meta = dict(table.schema.metadata)
    meta[b"lmforge.schema_version"] = b"3.0"
    with pytest.raises(TokenShardError, match="major versions 1, 2"):
        validate_token_shard_table(table.replace_schema_metadata(meta))


def _manifest(task=None, split="test"):
    tok = TokenizerInfo("tokenizer.json", SHA, 10, {"<|endoftext|>": 0}, 0)
    shard = ShardInfo(f"shards/{split}-00000-of-00001.arrow", split, SHA, 2, 5, 5, "uint16")
    return Manifest(tok, [shard], Counts(input=2, kept=2), created_at="x", code_version="y", task=task)


def test_manifest_task_round_trips_and_test_split_is_allowed():
    task = TaskInfo("classification", ["neg", "pos"], {"test": {"pos": 2}}, "review", "stars")
    data = json.loads(_manifest(task).to_json())
    assert data["schema_version"] == "1.1"
    assert data["task"]["label_counts"] == {"test": {"neg": 0, "pos": 2}}
    loaded = Manifest.from_dict(data)
    assert loaded.task.labels == ["neg", "pos"]
    assert loaded.task.text_field == "review" and loaded.task.label_field == "stars"
    assert loaded.fingerprint == data["fingerprint"]


def test_pretraining_manifest_stays_1_0_and_loads_with_task_none():
    data = json.loads(_manifest(split="train").to_json())
    assert data["schema_version"] == "1.0" and "task" not in data
    assert Manifest.from_dict(data).task is None


def test_manifest_task_counting_an_unlisted_label_is_refused():
    data = json.loads(_manifest(TaskInfo("classification", ["a", "b"], {"test": {"a": 2}})).to_json())
    data["task"]["label_counts"]["test"]["c"] = 1
    with pytest.raises(ManifestError, match=r"'c' is not in task\.labels"):
        Manifest.from_dict(data)


# -- settings ------------------------------------------------------------------------------------
def test_task_settings_are_checked_when_loaded():
    with pytest.raises(ConfigError, match=r"validation_fraction \+ task\.test_fraction"):
        load_task_config(None, ["task.validation_fraction=0.5", "task.test_fraction=0.5"])
    with pytest.raises(ConfigError, match=r"task\.kind"):
        load_task_config(None, ["task.kind=regression"])
    with pytest.raises(ConfigError, match="twice"):
        load_task_config(None, ["task.labels=[a, a]"])
    config = load_task_config(None, ["task.text_field=review"])
    assert config.read.text_field == "review"  # the readers take the text from the task's field


# -- examples --------------------------------------------------------------------------------------
def _doc(text, label="pos", split=None, doc_id="d"):
    meta = {"label": label} if label is not None else {}
    if split is not None:
        meta["split"] = split
    return {"id": doc_id, "text": text, "source": "s", "lang": None, "meta": meta}


@pytest.mark.parametrize(
    ("doc", "known", "reason"),
    [
        (_doc(" \u200b \n"), None, "empty_text"),
        (_doc("fine", label=None), None, "missing_label"),
        (_doc("fine", label="  "), None, "missing_label"),
        (_doc("fine", label=1.5), None, "bad_label"),
        (_doc("fine", label="meh"), ["pos", "neg"], "unknown_label"),
        (_doc("fine", split="dev"), None, "bad_split"),
        (_doc("fine"), None, "missing_split"),
    ],
)
def test_records_that_cannot_be_examples_say_why(doc, known, reason):
    task = TaskConfig(split_field="split") if reason.endswith("split") else TaskConfig()
    with pytest.raises(ex.Refused) as info:
        ex.candidate(doc, task, known)
    assert info.value.reason == reason


def test_text_is_normalised_like_clean_and_integer_labels_are_names():
    cand = ex.candidate(_doc("Caf\u0065\u0301 \u00a0 ok  \r\n", label=3), TaskConfig())
    assert cand.text == "Caf\u00e9   ok" and cand.label == "3"


def test_over_long_texts_are_refused():
    cand = ex.candidate(_doc("long text"), TaskConfig())
    assert ex.example(cand, np.arange(5), max_tokens=5).label == "pos"
    with pytest.raises(ex.Refused, match=r"task\.max_tokens"):
        ex.example(cand, np.arange(6), max_tokens=5)


def _example(doc_id, text, label, split=None):
    return ex.example(ex.Candidate(doc_id, text, label, split, "s", None), np.array([1, 0]), None)


def test_duplicates_keep_the_smallest_id_and_conflicts_drop_every_record():
    same = splits.resolve_duplicates([_example("b", "t", "pos"), _example("a", "t", "pos")])
    assert same.kept.doc_id == "a" and [d.doc_id for d in same.duplicates] == ["b"]
    conflict = splits.resolve_duplicates([_example("a", "t", "pos"), _example("b", "t", "neg")])
    assert conflict.kept is None and len(conflict.conflicts) == 2


@pytest.mark.parametrize("n", [1, 7, 10, 33, 101])
def test_each_label_share_per_split_is_within_one_of_its_target(n):
    fractions = TaskConfig(validation_fraction=0.15, test_fraction=0.2).fractions()
    items = [_example(f"id{i}", f"text {i}", "pos") for i in range(n)]
    got = Counter(split for split, _ in splits.assign_splits(items, fractions, seed=1))
    for split, share in fractions.items():
        assert abs(got[split] - n * share) <= 1, (split, got)
    assert sum(got.values()) == n


def test_split_depends_on_the_texts_and_seed_not_on_input_order():
    items = [_example(f"id{i}", f"text {i}", "pos") for i in range(50)]
    fractions = TaskConfig().fractions()
    a = {e.doc_id: s for s, e in splits.assign_splits(items, fractions, 3)}
    b = {e.doc_id: s for s, e in splits.assign_splits(items[::-1], fractions, 3)}
    c = {e.doc_id: s for s, e in splits.assign_splits(items, fractions, 4)}
    assert a == b and a != c


def test_a_given_split_is_kept():
    items = [_example("a", "x", "pos", "test"), _example("b", "y", "pos", "train")]
    assert [(s, e.doc_id) for s, e in splits.assign_splits(items, TaskConfig().fractions(), 0)] == [
        ("test", "a"),
        ("train", "b"),
    ]


def test_labels_are_sorted_names_unless_given():
    assert splits.label_list(["pos", "neg", "pos"], None) == ["neg", "pos"]
    assert splits.label_list(["pos"], ["pos", "neg"]) == ["pos", "neg"]


# -- readers -------------------------------------------------------------------------------------------
def test_csv_reads_quoted_multiline_fields_and_quarantines_a_bad_row(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('id,text,label\n1,"good, and\nlong",pos\n2,too,many,fields\n3,bad,neg\n')
    records = list(FileReader(ReadConfig()).read(str(path)))
    docs = [r for r in records if "text" in r]
    bad = [r for r in records if "reason" in r]
    assert [(d["id"], d["text"], d["meta"]) for d in docs] == [
        ("1", "good, and\nlong", {"label": "pos"}),
        ("3", "bad", {"label": "neg"}),
    ]
    assert [(b["reason"], b["offset"]) for b in bad] == [("bad_row", path.read_bytes().index(b"2,too"))]


def test_gzipped_tsv_with_invalid_utf8_row_and_a_file_without_the_text_column(tmp_path):
    tsv = tmp_path / "a.tsv.gz"
    tsv.write_bytes(gzip.compress(b"text\tlabel\nhello\tpos\n\xff\xfe\tneg\nbye\tneg\n"))
    records = list(FileReader(ReadConfig()).read(str(tsv)))
    assert [r.get("text") or r["reason"] for r in records] == ["hello", "invalid_utf8", "bye"]
    nocol = tmp_path / "b.csv"
    nocol.write_text("body,label\nx,pos\n")
    assert [r["reason"] for r in FileReader(ReadConfig()).read(str(nocol))] == ["missing_text"]


def test_labelled_jsonl_keeps_label_and_split_and_quarantines_bad_json(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a", "label": 1, "split": "test", "other": 5}\n{broken\n')
    file = FileContext(str(path), None, ReadConfig())
    records = list(labelled_records(file, ("label", "split")))
    assert records[0]["meta"] == {"label": 1, "split": "test"}
    assert records[1].reason == "bad_json"


def test_labelled_parquet_and_unlabelled_formats(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["x", None], "label": ["pos", "neg"]}), path)
    records = list(labelled_records(FileContext(str(path), None, ReadConfig()), ("label",)))
    assert records[0]["meta"] == {"label": "pos"} and records[1].reason == "wrong_type"
    txt = tmp_path / "a.txt"
    txt.write_text("no labels here")
    [only] = labelled_records(FileContext(str(txt), None, ReadConfig()), ("label",))
    assert only.reason == "unsupported_format"


# -- verify ------------------------------------------------------------------------------------------
def test_verify_finds_a_label_outside_the_list_and_counts_that_disagree():
    examples = [_example("a", "x", "pos"), _example("b", "y", "neg")]
    table = shard_table(examples, "uint16", "train", ["neg", "pos"])
    info = ShardInfo("shards/train-00000-of-00001.arrow", "train", SHA, 2, 4, 2, "uint16")
    assert list(check_shard_contents(table, info, 10, 0, ["neg", "pos"])) == []
    faults = list(check_shard_contents(table, info, 10, 0, ["neg"]))
    assert faults and "label id 1" in faults[0]
    unlabelled = list(check_shard_contents(_table(), info, 10, 0, ["neg", "pos"]))
    assert any("no 'label' column" in f for f in unlabelled)
    assert label_count_faults({"train": {"pos": 1, "neg": 1}}, {"train": {"pos": 1, "neg": 1}}) == []
    assert label_count_faults({"train": {"pos": 2}}, {"train": {"pos": 1, "neg": 1}}) == [
        "task.label_counts.train.neg = 0, but the train shards hold 1 such example(s)",
        "task.label_counts.train.pos = 2, but the train shards hold 1 such example(s)",
    ]


def pa_buffer(data: bytes):
    import pyarrow as pa

    return pa.py_buffer(data)

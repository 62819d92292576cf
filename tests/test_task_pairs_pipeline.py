"""``python -m pipelines.prepare_task --task=pairs`` end to end on tiny paired inputs and a tiny
pretraining dataset: where every record went, a source never in two splits, the token ids in
the shards, byte-identical reruns, the field flags, a split field, and ``verify`` on the output
(OK, then FAILED once a target is tampered with)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from tokenizers import Tokenizer

from lm_train.testing import write_text_dataset
from lmcore.dataset_writer import write_manifest
from pipelines.dataset.verify import main as verify_main
from pipelines.task.command import main as prepare_task
from schemas import (
    TARGET_COLUMN,
    build_token_shard_table,
    load_manifest,
    open_token_shard,
    sha256_file,
    token_shard_to_bytes,
)
from tests.task_pairs_fixtures import NUM_GOOD, flat_counts, write_pairs_inputs

pytestmark = pytest.mark.slow  # Beam pipelines


@pytest.fixture(scope="module")
def pretrain(tmp_path_factory) -> Path:
    return write_text_dataset(tmp_path_factory.mktemp("pretrain") / "ds")


def _run(inputs: Path, out: Path, pretrain: Path, *extra: str) -> int:
    return prepare_task(
        [
            "--task=pairs",
            f"--input={inputs}",
            f"--output={out}",
            f"--tokenizer={pretrain}",
            "--set",
            "task.max_tokens=200",
            *extra,
        ]
    )


def _rows(out: Path) -> dict[str, dict]:
    """doc id -> {split, tokens, target} of every row of every shard."""
    manifest = load_manifest(str(out))
    rows = {}
    for shard in manifest.shards:
        table = open_token_shard(manifest.path_of(shard.path)).table
        for doc_id, tokens, target in zip(
            table.column("doc_id").to_pylist(),
            table.column("tokens").to_pylist(),
            table.column(TARGET_COLUMN).to_pylist(),
            strict=True,
        ):
            rows[doc_id] = {"split": shard.split, "tokens": tokens, "target": target}
    return rows


def _inputs(tmp_path: Path, **fields: str) -> tuple[Path, dict, dict]:
    inputs = tmp_path / "in"
    inputs.mkdir()
    expected, kept = write_pairs_inputs(inputs, **fields)
    return inputs, expected, kept


def test_every_record_ends_in_one_place_and_a_source_stays_in_one_split(tmp_path, pretrain, capsys):
    inputs, expected, kept = _inputs(tmp_path)
    out = tmp_path / "task"
    assert _run(inputs, out, pretrain) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"]
    assert flat_counts(stats["counts"]) == expected
    assert stats["annotations"]["pairs"] == {"sources_with_several_targets": 1}

    manifest = load_manifest(str(out))
    assert manifest.schema_version == "1.2" and manifest.task.is_pairs
    assert manifest.task.source_field == "source" and manifest.task.target_field == "target"
    assert "labels" not in manifest.config["task"] and manifest.config["task"]["kind"] == "pairs"
    assert sha256_file(str(out / "tokenizer.json")) == sha256_file(str(pretrain / "tokenizer.json"))
    rows = _rows(out)
    assert sorted(rows) == sorted(kept)
    per_split = {s: sum(r["split"] == s for r in rows.values()) for s in ("train", "validation", "test")}
    assert manifest.task.example_counts == per_split
    assert sum(per_split.values()) == NUM_GOOD + 2 and per_split["train"] > per_split["test"] > 0
    # p001 and z-alt share a source: same split; no normalised source in two splits
    assert rows["p001"]["split"] == rows["z-alt"]["split"]
    split_of: dict[str, set] = {}
    for doc_id, row in rows.items():
        split_of.setdefault(kept[doc_id].split("\t")[0], set()).add(row["split"])
    assert all(len(s) == 1 for s in split_of.values())
    assert sum(s.num_tokens for s in manifest.shards) == stats["annotations"]["tokens"]["train"] + sum(
        stats["annotations"]["tokens"].get(s, 0) for s in ("validation", "test")
    )

    # the shards hold the tokenizer's ids of the normalised texts, each side ending with EOD
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    eos = manifest.tokenizer.eos_id
    for doc_id, row in rows.items():
        source, target = kept[doc_id].split("\t")
        assert row["tokens"][-1] == eos and row["target"][-1] == eos
        assert row["tokens"][:-1] == tok.encode(source).ids and row["target"][:-1] == tok.encode(target).ids
        assert tok.decode(row["tokens"][:-1]) == source and tok.decode(row["target"][:-1]) == target
    capsys.readouterr()
    assert verify_main([str(out)]) == 0
    assert "task pairs: source -> target" in capsys.readouterr().out


def test_two_runs_write_byte_identical_outputs(tmp_path, pretrain, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    inputs, _, _ = _inputs(tmp_path)
    assert _run(inputs, tmp_path / "one", pretrain, "--keep-dropped") == 0
    assert _run(inputs, tmp_path / "two", pretrain, "--keep-dropped", "--direct_num_workers=2") == 0
    one, two = load_manifest(str(tmp_path / "one")), load_manifest(str(tmp_path / "two"))
    assert [(s.path, s.sha256) for s in one.shards] == [(s.path, s.sha256) for s in two.shards]
    assert one.fingerprint == two.fingerprint and one.task == two.task
    assert (tmp_path / "one" / "stats.json").read_bytes() == (tmp_path / "two" / "stats.json").read_bytes()
    dropped = sorted(p.name for p in (tmp_path / "one" / "dropped").iterdir())
    assert dropped and dropped == sorted(p.name for p in (tmp_path / "two" / "dropped").iterdir())
    for name in dropped:
        assert (tmp_path / "one" / "dropped" / name).read_bytes() == (
            tmp_path / "two" / "dropped" / name
        ).read_bytes()


def test_source_and_target_field_flags_are_honoured(tmp_path, pretrain):
    inputs, expected, kept = _inputs(tmp_path, source_field="en", target_field="zh")
    out = tmp_path / "task"
    assert _run(inputs, out, pretrain, "--source-field=en", "--target-field=zh") == 0
    stats = json.loads((out / "stats.json").read_text())
    assert flat_counts(stats["counts"]) == expected
    manifest = load_manifest(str(out))
    assert (manifest.task.source_field, manifest.task.target_field) == ("en", "zh")
    assert sorted(_rows(out)) == sorted(kept)
    # the default fields find no source in these records (the CSV file: one record, its header)
    assert _run(inputs, tmp_path / "default", pretrain) == 0
    counts = json.loads((tmp_path / "default" / "stats.json").read_text())["counts"]
    assert counts["kept"] == 0 and counts["quarantined"]["missing_source"] == NUM_GOOD + 10 + 1


def test_a_split_field_decides_the_split_and_a_source_in_two_splits_is_dropped(tmp_path, pretrain):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rows = [
        ("a1", "Open", "打开", "train"),
        ("a2", "Close", "关闭", "train"),
        ("a3", "Save", "保存", "validation"),
        ("a4", "Quit", "退出", "test"),
        ("b1", "Undo", "撤销", "train"),  # Undo in train and test: both dropped
        ("b2", "Undo", "撤消", "test"),
        ("c1", "Redo", "重做", "dev"),
    ]
    text = "".join(
        json.dumps({"id": i, "en": s, "zh": t, "part": p}, ensure_ascii=False) + "\n" for i, s, t, p in rows
    )
    (inputs / "a.jsonl").write_text(text, encoding="utf-8")
    out = tmp_path / "task"
    code = _run(
        inputs,
        out,
        pretrain,
        "--source-field=en",
        "--target-field=zh",
        "--split-field=part",
        "--keep-dropped",
    )
    assert code == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["counts"]["kept"] == 4
    assert stats["counts"]["dropped"] == {"split_conflict": 2}
    assert stats["counts"]["quarantined"] == {"bad_split": 1}
    assert stats["annotations"]["split_conflicts"] == {"sources": 1}
    assert {k: v["split"] for k, v in _rows(out).items()} == {
        "a1": "train",
        "a2": "train",
        "a3": "validation",
        "a4": "test",
    }
    assert load_manifest(str(out)).task.example_counts == {"train": 2, "validation": 1, "test": 1}


def test_print_config_shows_the_pairs_settings(capsys):
    assert (
        prepare_task(["--task=pairs", "--source-field=en", "--print-config", "--set", "task.max_tokens=64"])
        == 0
    )
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["task"]["kind"] == "pairs" and printed["task"]["source_field"] == "en"
    assert printed["task"]["target_field"] == "target" and printed["read"]["text_field"] == "en"
    assert printed["task"]["max_tokens"] == 64


def test_set_task_kind_pairs_works_like_the_flag(capsys):
    assert prepare_task(["--print-config", "--set", "task.kind=pairs", "--set", "task.target_field=zh"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["task"]["kind"] == "pairs" and printed["task"]["target_field"] == "zh"


def test_a_classification_manifest_keeps_schema_1_1_and_its_own_settings(tmp_path, pretrain):
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps({"text": f"text {i}", "label": "ab"[i % 2]}) + "\n" for i in range(20))
    )
    out = tmp_path / "task"
    assert (
        prepare_task([f"--input={tmp_path / 'in.jsonl'}", f"--output={out}", f"--tokenizer={pretrain}"]) == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema_version"] == "1.1" and manifest["task"]["kind"] == "classification"
    assert (
        "source_field" not in manifest["config"]["task"] and "target_field" not in manifest["config"]["task"]
    )


def test_labels_are_refused_for_pairs(capsys):
    assert prepare_task(["--task=pairs", "--print-config", "--set", "task.labels=[a, b]"]) == 2
    assert "task.labels" in capsys.readouterr().err


# -- verify catches a tampered target ----------------------------------------------------------------
def _rewrite_targets(out: Path, change, relist: bool = True) -> None:
    """Rewrite the first train shard with changed targets; ``relist``: update its sha256 in the
    manifest too, so only the content checks can tell."""
    manifest = load_manifest(str(out))
    shard = next(s for s in manifest.shards if s.split == "train")
    opened = open_token_shard(manifest.path_of(shard.path))
    t = opened.table
    targets = [np.array(x, dtype=shard.dtype) for x in t.column(TARGET_COLUMN).to_pylist()]
    table = build_token_shard_table(
        t.column("doc_id").to_pylist(),
        t.column("source").to_pylist(),
        t.column("lang").to_pylist(),
        t.column("num_bytes").to_pylist(),
        [opened.document(i) for i in range(opened.num_docs)],
        shard.dtype,
        "train",
        targets=change(targets),
    )
    path = Path(manifest.path_of(shard.path))
    path.write_bytes(token_shard_to_bytes(table))
    if relist:
        fixed = dataclasses.replace(shard, sha256=sha256_file(str(path)))
        shards = [fixed if s.path == shard.path else s for s in manifest.shards]
        write_manifest(str(out), dataclasses.replace(manifest, shards=shards))


def test_verify_fails_on_a_tampered_target(tmp_path, pretrain, capsys):
    inputs, _, _ = _inputs(tmp_path)
    out = tmp_path / "task"
    assert _run(inputs, out, pretrain) == 0
    capsys.readouterr()

    def swap_first_token(targets):
        targets[0] = targets[0].copy()
        targets[0][0] = (int(targets[0][0]) + 1) % 100
        return targets

    _rewrite_targets(out, swap_first_token, relist=False)
    assert verify_main([str(out)]) == 1
    assert "is corrupted: sha256" in capsys.readouterr().err

    def drop_eos(targets):
        targets[0] = targets[0][:-1]
        return targets

    _rewrite_targets(out, drop_eos)
    assert verify_main([str(out)]) == 1
    assert "target(s) do not end with the EOD id" in capsys.readouterr().err

    def past_vocabulary(targets):
        targets[1] = np.array([60_000, targets[1][-1]], dtype=targets[1].dtype)
        return targets

    _rewrite_targets(out, lambda t: past_vocabulary(drop_eos(t)))
    assert verify_main([str(out)]) == 1
    assert "target token id 60000" in capsys.readouterr().err


def test_verify_fails_when_example_counts_disagree(tmp_path, pretrain, capsys):
    inputs, _, _ = _inputs(tmp_path)
    out = tmp_path / "task"
    assert _run(inputs, out, pretrain) == 0
    manifest = load_manifest(str(out))
    counts = dict(manifest.task.example_counts, train=manifest.task.example_counts["train"] + 1)
    write_manifest(
        str(out),
        dataclasses.replace(manifest, task=dataclasses.replace(manifest.task, example_counts=counts)),
    )
    capsys.readouterr()
    assert verify_main([str(out)]) == 1
    assert "task.example_counts.train" in capsys.readouterr().err

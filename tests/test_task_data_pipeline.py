"""``python -m pipelines.prepare_task`` end to end on tiny labelled inputs and a tiny pretraining
dataset: where every record went, stratified splits, label conflicts, determinism, a split
field, and ``verify`` on the output (OK, then FAILED once a label is tampered with)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest

from lm_train.testing import write_text_dataset
from lmcore.dataset_writer import write_manifest
from pipelines.dataset.verify import main as verify_main
from pipelines.task.command import main as prepare_task
from schemas import (
    build_token_shard_table,
    load_manifest,
    open_token_shard,
    sha256_file,
    token_shard_to_bytes,
)

pytestmark = pytest.mark.slow  # Beam pipelines
LABELS = ("neg", "neu", "pos")


@pytest.fixture(scope="module")
def pretrain(tmp_path_factory) -> Path:
    return write_text_dataset(tmp_path_factory.mktemp("pretrain") / "ds")


def _write_inputs(root: Path) -> dict[str, int]:
    """30 examples per label, plus one record for each way a record can go elsewhere."""
    lines = [
        {"id": f"r{i:03d}", "text": f"example {i} says {LABELS[i % 3]}", "label": LABELS[i % 3]}
        for i in range(90)
    ]
    lines += [
        {"id": "z-dup", "text": "example 0 says neg  ", "label": "neg"},  # same text once normalised
        {"id": "z-c1", "text": "ambiguous words", "label": "pos"},
        {"id": "z-c2", "text": "ambiguous words", "label": "neg"},
        {"id": "z-empty", "text": " \u200b ", "label": "pos"},
        {"id": "z-nolabel", "text": "no label at all"},
        {"id": "z-unknown", "text": "a new label", "label": "angry"},
        {"id": "z-long", "text": "word " * 400, "label": "pos"},
    ]
    body = "\n".join(json.dumps(x) for x in lines) + "\n{not json\n"
    (root / "a.jsonl").write_text(body)
    (root / "b.csv").write_text('id,text,label\nc1,"from a, csv",pos\nc2,one,field,too,many\n')
    return {"input": len(lines) + 1 + 2}


def _run(inputs: Path, out: Path, pretrain: Path, *extra: str) -> int:
    return prepare_task(
        [
            "--task=classification",
            f"--input={inputs}",
            f"--output={out}",
            f"--tokenizer={pretrain}",
            "--set",
            "task.labels=[neg, neu, pos]",
            "--set",
            "task.max_tokens=200",
            *extra,
        ]
    )


def _labels_per_split(out: Path) -> dict[str, Counter]:
    manifest = load_manifest(str(out))
    per: dict[str, Counter] = {}
    for shard in manifest.shards:
        labels = open_token_shard(manifest.path_of(shard.path)).labels
        per.setdefault(shard.split, Counter()).update(manifest.task.labels[i] for i in labels)
    return per


def test_every_record_ends_in_one_place_and_splits_are_stratified(tmp_path, pretrain, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    expected = _write_inputs(inputs)
    out = tmp_path / "task"
    assert _run(inputs, out, pretrain) == 0
    stats = json.loads((out / "stats.json").read_text())
    counts = stats["counts"]
    assert stats["balanced"] and counts["input"] == expected["input"]
    assert counts["kept"] == 91  # 90 examples + the CSV row
    assert counts["duplicates"] == {"exact": 1}
    assert counts["dropped"] == {"label_conflict": 2}
    assert counts["quarantined"] == {
        "bad_json": 1,
        "bad_row": 1,
        "empty_text": 1,
        "missing_label": 1,
        "too_long": 1,
        "unknown_label": 1,
    }
    assert stats["annotations"]["label_conflicts"] == {"texts": 1}

    manifest = load_manifest(str(out))
    assert manifest.task.kind == "classification" and manifest.task.labels == list(LABELS)
    assert manifest.tokenizer.sha256 == load_manifest(str(pretrain)).tokenizer.sha256
    assert sha256_file(str(out / "tokenizer.json")) == sha256_file(str(pretrain / "tokenizer.json"))
    found = _labels_per_split(out)
    assert {s: dict(c) for s, c in found.items()} == {
        s: {k: v for k, v in c.items() if v} for s, c in manifest.task.label_counts.items() if any(c.values())
    }
    per_label = Counter({"neg": 30, "neu": 30, "pos": 31})
    for split, share in {"train": 0.8, "validation": 0.1, "test": 0.1}.items():
        for label, n in per_label.items():
            assert abs(found[split][label] - n * share) <= 1, (split, label, found)
    capsys.readouterr()
    assert verify_main([str(out)]) == 0
    assert "task classification: 3 labels" in capsys.readouterr().out


def test_two_runs_write_byte_identical_shards(tmp_path, pretrain):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _write_inputs(inputs)
    assert _run(inputs, tmp_path / "one", pretrain) == 0
    assert _run(inputs, tmp_path / "two", pretrain, "--direct_num_workers=2") == 0
    one, two = load_manifest(str(tmp_path / "one")), load_manifest(str(tmp_path / "two"))
    assert [(s.path, s.sha256) for s in one.shards] == [(s.path, s.sha256) for s in two.shards]
    assert one.fingerprint == two.fingerprint and one.task == two.task


def test_a_split_field_decides_the_split_and_other_values_are_quarantined(tmp_path, pretrain):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rows = [
        ("t1", "train", "pos"),
        ("t2", "train", "neg"),
        ("v1", "validation", "pos"),
        ("x1", "test", "neg"),
    ]
    text = "text\tlabel\tpart\n" + "".join(f"sentence {i}\t{lab}\t{part}\n" for i, part, lab in rows)
    (inputs / "a.tsv").write_text(text + "odd one\tpos\tdev\n")
    out = tmp_path / "task"
    assert (
        prepare_task(
            [f"--input={inputs}", f"--output={out}", f"--tokenizer={pretrain}", "--split-field=part"]
        )
        == 0
    )
    counts = json.loads((out / "stats.json").read_text())["counts"]
    assert counts["kept"] == 4 and counts["quarantined"] == {"bad_split": 1}
    found = _labels_per_split(out)
    assert found == {"train": Counter(pos=1, neg=1), "validation": Counter(pos=1), "test": Counter(neg=1)}
    assert load_manifest(str(out)).task.labels == ["neg", "pos"]


def _rewrite_labels(out: Path, change) -> None:
    """Rewrite one shard with changed labels and re-list it, so only the label checks can tell."""
    manifest = load_manifest(str(out))
    shard = next(s for s in manifest.shards if s.split == "train")
    opened = open_token_shard(manifest.path_of(shard.path))
    t = opened.table
    tokens = [opened.document(i) for i in range(opened.num_docs)]
    table = build_token_shard_table(
        t.column("doc_id").to_pylist(),
        t.column("source").to_pylist(),
        t.column("lang").to_pylist(),
        t.column("num_bytes").to_pylist(),
        tokens,
        shard.dtype,
        "train",
        labels=change(opened.labels.copy()),
    )
    path = Path(manifest.path_of(shard.path))
    path.write_bytes(token_shard_to_bytes(table))
    fixed = dataclasses.replace(shard, sha256=sha256_file(str(path)))
    shards = [fixed if s.path == shard.path else s for s in manifest.shards]
    write_manifest(str(out), dataclasses.replace(manifest, shards=shards))


def test_verify_fails_on_a_tampered_label(tmp_path, pretrain, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _write_inputs(inputs)
    out = tmp_path / "task"
    assert _run(inputs, out, pretrain) == 0

    def flip_first(labels):
        labels[0] = (labels[0] + 1) % len(LABELS)
        return labels

    _rewrite_labels(out, flip_first)
    capsys.readouterr()
    assert verify_main([str(out)]) == 1
    assert "task.label_counts.train" in capsys.readouterr().err

    def out_of_range(labels):
        labels[0] = 7
        return labels

    _rewrite_labels(out, out_of_range)
    assert verify_main([str(out)]) == 1
    assert "label id 7" in capsys.readouterr().err


def test_bad_tokenizer_dataset_is_refused(tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text('{"text": "a", "label": "x"}\n')
    code = prepare_task(
        [f"--input={tmp_path / 'in.jsonl'}", f"--output={tmp_path / 'o'}", f"--tokenizer={tmp_path}"]
    )
    assert code == 2 and "not a token dataset" in capsys.readouterr().err

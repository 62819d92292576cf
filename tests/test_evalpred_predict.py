"""``python -m lm_train.predict``: a classification run labels a JSONL file line by line; its
labels are the ones evaluation counts, bad lines are reported without stopping, other runs
are refused."""

from __future__ import annotations

import json

import pytest
import torch

from lm_train import evaluate, predict
from lm_train.testing import keyword_task, write_task_dataset
from lm_train.train import main as train_main

torch.set_num_threads(1)
LABELS = ["no", "yes"]
TINY = [
    "seq_len=24",
    "batch_size=16",
    "n_layer=1",
    "n_head=2",
    "d_model=32",
    "lr=3e-3",
    "warmup_steps=5",
    "eval_steps=2",
    "peak_flops=1e11",
    "tensorboard=false",
]
EXAMPLES = keyword_task(120)
VAL_EVERY = 5


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return str(write_task_dataset(tmp_path_factory.mktemp("task"), EXAMPLES, LABELS, val_every=VAL_EVERY))


@pytest.fixture(scope="module")
def run(task, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run"))
    args = ["objective=classify", *TINY, "max_steps=30", "eval_every=30"]
    assert train_main(["--data", task, "--out", out, *args]) == 0
    return out


def _write_jsonl(path, records) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return str(path)


def _read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_predicted_labels_are_the_ones_evaluation_counts(task, run, tmp_path, capsys):
    validation = [ex for i, ex in enumerate(EXAMPLES) if i % VAL_EVERY == VAL_EVERY - 1]
    src = _write_jsonl(
        tmp_path / "in.jsonl", [{"id": f"v{i}", "text": t} for i, (t, _) in enumerate(validation)]
    )
    out = str(tmp_path / "out.jsonl")
    assert predict.main(["--checkpoint", run, "--input", src, "--output", out, "--batch-size", "7"]) == 0
    rows = _read_jsonl(out)
    assert [r["id"] for r in rows] == [f"v{i}" for i in range(len(validation))]
    for r in rows:
        assert set(r["probs"]) == set(LABELS) and sum(r["probs"].values()) == pytest.approx(1.0, abs=1e-5)
        assert r["label"] == max(r["probs"], key=r["probs"].get)
    confusion = [[0, 0], [0, 0]]
    for r, (_, gold) in zip(rows, validation):
        confusion[LABELS.index(gold)][LABELS.index(r["label"])] += 1
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", run, "--data", task, "--split", "validation"]) == 0
    assert json.loads(capsys.readouterr().out)["confusion"] == confusion


def test_bad_lines_are_reported_in_place_and_the_rest_labelled(run, tmp_path, capsys):
    lines = [
        {"id": 1, "text": "the cat sat on a zebra"},
        "{not json",
        {"id": 2, "text": "   "},
        {"id": 3, "body": "the dog"},
        [1, 2],
        {"id": 4, "text": 7},
        {"text": "斑马 zebra 在路上"},
    ]
    src = _write_jsonl(tmp_path / "in.jsonl", lines)
    with open(src, "ab") as f:
        f.write(b'{"id": 5, "text": "\xff\xfe"}\n')
    out = str(tmp_path / "out.jsonl")
    assert predict.main(["--checkpoint", run, "--input", src, "--output", out]) == 0
    rows = _read_jsonl(out)
    assert len(rows) == 8
    assert [r.get("id") for r in (rows[0], rows[6])] == [1, None] and "label" in rows[6]
    errors = {r["line"]: r["error"] for r in rows if "error" in r}
    assert sorted(errors) == [2, 3, 4, 5, 6, 8]
    assert "not JSON" in errors[2] and "empty" in errors[3] and "no 'text' field" in errors[4]
    assert "list" in errors[5] and "int" in errors[6] and "UTF-8" in errors[8]
    err = capsys.readouterr().err
    assert all(f"line {n}:" in err for n in errors)
    assert "8 lines, 2 labelled" in err and "6 bad" in err and "lines/s" in err


def test_another_text_field(run, tmp_path):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "review": "zebra road"}, {"id": "b", "text": "x"}])
    out = str(tmp_path / "out.jsonl")
    assert predict.main(["--checkpoint", run, "--input", src, "--output", out, "--text-field", "review"]) == 0
    rows = _read_jsonl(out)
    assert rows[0]["id"] == "a" and rows[0]["label"] in LABELS
    assert rows[1] == {"line": 2, "error": "no 'review' field"}


def test_a_language_model_run_is_refused(tmp_path, capsys):
    from lm_train.testing import sample_texts, write_text_dataset

    data = str(write_text_dataset(tmp_path / "ds", sample_texts(n_en=8, n_zh=8, max_chars=400), 280))
    lm = str(tmp_path / "lm")
    assert train_main(["--data", data, "--out", lm, *TINY, "max_steps=1", "eval_every=0"]) == 0
    src = _write_jsonl(tmp_path / "in.jsonl", [{"text": "hello"}])
    capsys.readouterr()
    assert predict.main(["--checkpoint", lm, "--input", src, "--output", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert "objective=causal_lm" in err and "objective=classify" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o.jsonl").exists()


def test_a_missing_input_leaves_no_output(run, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert (
        predict.main(["--checkpoint", run, "--input", str(tmp_path / "nope.jsonl"), "--output", str(out)])
        == 1
    )
    assert "nope.jsonl" in capsys.readouterr().err and not out.exists()


def test_progress_reports_rate_and_time_left():
    import io

    buf = io.StringIO()
    progress = predict.Progress(total=100, every_s=0.0, out=buf, started=0.0)
    progress.done = 40
    assert progress.line(now=2.0) == "predict: 40/100 lines (40%), 20.0 lines/s, ETA 3 s"

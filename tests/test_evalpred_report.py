"""``lm_train.report`` for the new objectives: a classification run gets its confusion matrix
(figure and per-class table) and the evaluations ``lm_train.evaluate`` wrote; a masked-LM run
shows masked accuracy; neither tries to generate text."""

from __future__ import annotations

import json
import re

import pytest
import torch

from lm_train import evaluate, report
from lm_train.metrics import read_metrics
from lm_train.testing import keyword_task, write_task_dataset
from lm_train.train import main as train_main

torch.set_num_threads(1)
LABELS = ["no", "yes"]
TINY = [
    "objective=classify",
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


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    task = str(write_task_dataset(tmp_path_factory.mktemp("task"), keyword_task(100), LABELS))
    run = str(tmp_path_factory.mktemp("run"))
    assert train_main(["--data", task, "--out", run, *TINY, "max_steps=20", "eval_every=10"]) == 0
    return task, run


def _cells(page: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S).group(1)
    return [
        re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_a_classification_report_has_the_last_confusion_matrix_and_the_evaluations(classified, capsys):
    task, run = classified
    assert evaluate.main(["--checkpoint", run, "--data", task]) == 0
    assert report.main([run]) == 0
    with open(f"{run}/report.html", encoding="utf-8") as f:
        page = f.read()
    last = [r for r in read_metrics(f"{run}/metrics.jsonl") if r["kind"] == "eval"][-1]
    (tn, fp), (fn, tp) = last["confusion"]
    rows = _cells(page, "per-class")
    assert rows[0] == ["label", "examples", "predicted", "precision", "recall", "F1"]
    assert rows[1][:3] == ["no", str(tn + fp), str(tn + fn)] and rows[2][:3] == [
        "yes",
        str(fn + tp),
        str(fp + tp),
    ]
    if tp + fp:
        assert rows[2][3] == f"{100 * tp / (tp + fp):.2f}%"
    assert 'id="plot-confusion"' in page
    with open(f"{run}/confusion.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert f"{100 * last['accuracy']:.2f}%" in page  # headline: validation accuracy (last)
    with open(f"{run}/eval-validation.json") as f:
        evaluated = json.load(f)
    evaluations = _cells(page, "evaluations")
    assert evaluations[1][:3] == [
        "validation",
        str(evaluated["step"]),
        f"{evaluated['num_examples']} examples",
    ]
    assert f"{100 * evaluated['accuracy']:.2f}%" in evaluations[1]
    assert "lm_train.predict" in page  # no generated samples, and where labelling is


def test_the_labels_come_from_the_metrics_when_the_dataset_has_moved(classified, tmp_path):
    task, run = classified
    with open(f"{run}/run.json") as f:
        info = {**json.load(f), "data": str(tmp_path / "gone")}
    records = read_metrics(f"{run}/metrics.jsonl")
    assert report.run_labels(info, records) == LABELS
    assert report.run_labels({**info, "data": task}, records) == LABELS


def test_a_masked_lm_summary_shows_masked_accuracy():
    records = [
        {"kind": "train", "step": s, "loss": 6.0 - s, "tokens": 64 * s, "tokens_per_s": 1e3, "mfu": 0.1}
        | {"data_wait_frac": 0.0}
        for s in (1, 2)
    ]
    records += [
        {"kind": "eval", "step": 1, "loss": 5.5, "masked_accuracy": 0.125, "num_masked": 80},
        {"kind": "eval", "step": 2, "loss": 5.0, "masked_accuracy": 0.25, "num_masked": 80},
    ]
    summary = report.summarize(records)
    assert (summary["final_val_loss"], summary["best_val_step"], summary["final_val_masked_accuracy"]) == (
        5.0,
        2,
        0.25,
    )
    assert "final_val_bpb" not in summary
    rows = dict(report.headline_rows(summary, {}))
    assert rows["validation masked accuracy (last)"] == "25.00%"
    assert report.objective_of("", records) == "masked_lm"
    assert report.objective_of("objective:\n  name: classify\n", records) == "classify"

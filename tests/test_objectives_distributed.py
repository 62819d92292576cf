"""Fine-tuning under real ``torchrun`` (2 CPU processes, gloo) matches one process."""

from __future__ import annotations

import os

import pytest

from lm_train.metrics import read_metrics
from lm_train.testing import keyword_task, write_task_dataset
from tests.test_train_distributed import run_trainer

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = [
    "objective=classify",
    "seq_len=32",
    "n_layer=2",
    "n_head=2",
    "d_model=32",
    "lr=1e-2",
    "warmup_steps=2",
    "max_steps=6",
    "log_every=1",
    "eval_every=3",
    "eval_steps=2",
    "peak_flops=1e11",
    "tensorboard=false",
    "device=cpu",
    "dtype=float32",
]


def _train(args: list[str], nproc: int | None) -> None:
    result = run_trainer(args, nproc)
    assert result.returncode == 0, result.stderr[-3000:]


def test_two_ranks_fine_tune_like_one_with_the_same_global_batch(tmp_path):
    task = str(write_task_dataset(tmp_path / "task", keyword_task(120), ["no", "yes"]))
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    _train(["--data", task, "--out", one, *ARGS, "batch_size=8"], None)
    _train(["--data", task, "--out", two, *ARGS, "batch_size=4"], 2)
    rec = {run: read_metrics(f"{run}/metrics.jsonl") for run in (one, two)}
    train = {run: [r["loss"] for r in recs if r["kind"] == "train"] for run, recs in rec.items()}
    evals = {run: [r for r in recs if r["kind"] == "eval"] for run, recs in rec.items()}
    assert len(train[one]) == 6 and train[two] == pytest.approx(train[one], rel=1e-4)
    assert [e["confusion"] for e in evals[two]] == [e["confusion"] for e in evals[one]]
    assert [e["loss"] for e in evals[two]] == pytest.approx([e["loss"] for e in evals[one]], rel=1e-4)

"""Masked LM under real ``torchrun`` (2 CPU processes, gloo): the same masks, hence the same
losses, as one process with twice the micro-batch."""

from __future__ import annotations

import os

import pytest

import lm_train.testing
from lm_train.metrics import read_metrics
from lm_train.objectives.masked_lm import MASK_TOKEN
from lm_train.testing import sample_texts, write_text_dataset
from tests.test_train_distributed import run_trainer

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [
    "model=bert",
    "objective=masked_lm",
    "seq_len=32",
    "n_layer=2",
    "n_head=2",
    "d_model=32",
    "lr=1e-2",
    "warmup_steps=2",
    "max_steps=8",
    "log_every=1",
    "eval_every=4",
    "eval_steps=2",
    "peak_flops=1e11",
    "tensorboard=false",
]


def _train(args: list[str], nproc: int | None) -> None:
    result = run_trainer(args, nproc)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def mask_dataset(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lm_train.testing, "SPECIALS", [*lm_train.testing.SPECIALS, MASK_TOKEN])
        texts = sample_texts(n_en=24, n_zh=24, max_chars=1200)
        return str(write_text_dataset(tmp_path_factory.mktemp("mlm-ds"), texts, vocab_size=400))


def test_two_ranks_train_on_the_masks_of_one(mask_dataset, tmp_path):
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    _train(["--data", mask_dataset, "--out", one, *TINY, "batch_size=8"], None)
    _train(["--data", mask_dataset, "--out", two, *TINY, "batch_size=4"], 2)
    records = {run: read_metrics(f"{run}/metrics.jsonl") for run in (one, two)}
    for kind in ("train", "eval"):
        a, b = ([r for r in records[run] if r["kind"] == kind] for run in (one, two))
        assert [r["step"] for r in a] == [r["step"] for r in b] and a
        for x, y in zip(a, b, strict=True):
            assert x["loss"] == pytest.approx(y["loss"], rel=1e-5), (kind, x["step"])
    evals = [r for r in records[two] if r["kind"] == "eval"]
    assert evals[-1]["num_masked"] == [r for r in records[one] if r["kind"] == "eval"][-1]["num_masked"]

"""Masked LM under real ``torchrun`` (2 CPU processes, gloo): the same masks, hence the same
losses, as one process with twice the micro-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

import lm_train.testing
from lm_train.metrics import read_metrics
from lm_train.objectives.masked_lm import MASK_TOKEN
from lm_train.testing import sample_texts, write_text_dataset

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
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    argv = [*(launcher if nproc else [sys.executable]), "-m", "lm_train.train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"timed out: {' '.join(argv)}")
    assert proc.returncode == 0, err[-3000:]


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

"""Real ``torchrun`` processes on CPU (gloo): DDP training, accumulation equivalence, crash
recovery, elastic resume on another world size."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from lm_train.metrics import read_metrics
from lm_train.testing import sample_texts, write_text_dataset

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [
    "seq_len=32",
    "batch_size=4",
    "n_layer=2",
    "n_head=2",
    "d_model=32",
    "lr=1e-2",
    "warmup_steps=2",
    "max_steps=10",
    "log_every=1",
    "eval_every=5",
    "eval_steps=2",
    "ckpt_every=4",
    "peak_flops=1e11",
    "tensorboard=false",
]


def run_trainer(
    args: list[str], nproc: int | None, env: dict[str, str] | None = None, launcher_args: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Run the trainer (under torchrun when ``nproc``); on timeout kill the whole process group."""
    launcher = (
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            *launcher_args,
        ]
        if nproc
        else [sys.executable]
    )
    argv = [*launcher, "-m", "lm_train.train", *args]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"timed out: {' '.join(argv)}\n{err[-3000:]}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _train_records(run) -> list[dict]:
    return [r for r in read_metrics(f"{run}/metrics.jsonl") if r["kind"] == "train"]


def _crash_after_step_4(run: str, copy: str) -> str:
    """A copy of ``run`` as if the job had died after its step-4 checkpoint."""
    shutil.copytree(run, copy)
    for ckpt in os.listdir(f"{copy}/checkpoints"):
        if not ckpt.startswith("step-00000004.pt"):  # the checkpoint and its checksum file stay
            os.remove(f"{copy}/checkpoints/{ckpt}")
    return copy


def _assert_same_losses(ours: str, theirs: str) -> None:
    a, b = _train_records(ours), _train_records(theirs)
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, 11))
    for x, y in zip(a, b, strict=True):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-5, abs=1e-6), (x["step"], x["loss"], y["loss"])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    return str(write_text_dataset(out, sample_texts(n_en=24, n_zh=24, max_chars=1200), vocab_size=400))


@pytest.fixture(scope="module")
def ddp_run(dataset, tmp_path_factory):
    """The uninterrupted 2-process run the other tests compare against."""
    run = str(tmp_path_factory.mktemp("ddp") / "run")
    result = run_trainer(["--data", dataset, "--out", run, *TINY], nproc=2)
    assert result.returncode == 0, result.stderr[-3000:]
    return run


def test_two_processes_train_and_loss_falls(ddp_run):
    records = _train_records(ddp_run)
    assert [r["step"] for r in records] == list(range(1, 11))
    assert records[-1]["loss"] < records[0]["loss"] - 0.3
    assert records[-1]["tokens"] == 10 * 4 * 2 * 32  # batch_size × world size × seq_len per step
    evals = [r for r in read_metrics(f"{ddp_run}/metrics.jsonl") if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [5, 10] and evals[-1]["val_tokens"] > 0


def test_world_size_two_equals_one_process_with_twice_the_accumulation(ddp_run, dataset, tmp_path):
    run = str(tmp_path / "accum")
    result = run_trainer(["--data", dataset, "--out", run, *TINY, "grad_accum=2"], nproc=None)
    assert result.returncode == 0, result.stderr[-3000:]
    for ours, theirs in zip(_train_records(run), _train_records(ddp_run), strict=True):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-5, abs=1e-6)
    val = lambda r: [e["val_loss"] for e in read_metrics(f"{r}/metrics.jsonl") if e["kind"] == "eval"]  # noqa: E731
    assert val(run) == pytest.approx(val(ddp_run), rel=1e-5)  # the same validation samples too


def test_a_rank_killed_mid_run_resumes_to_the_same_final_loss(ddp_run, dataset, tmp_path):
    run = str(tmp_path / "killed")
    result = run_trainer(
        ["--data", dataset, "--out", run, "--resume", "auto", *TINY],
        nproc=2,
        env={"LMFORGE_FAULT_KILL_STEP": "6", "LMFORGE_FAULT_KILL_RANK": "1"},
        launcher_args=("--max-restarts=1",),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "exitcode: -9" in result.stderr  # rank 1 really died of SIGKILL
    assert "resumed from" in result.stdout and "at step 4" in result.stdout
    killed, clean = _train_records(run), _train_records(ddp_run)
    assert [r["step"] for r in killed] == list(range(1, 11))
    assert [r["loss"] for r in killed] == [r["loss"] for r in clean]  # exact on CPU, final loss included


def test_a_corrupted_shard_stops_the_run_naming_it(dataset, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(dataset, bad, ignore=lambda d, names: [n for n in names if n.startswith(".")])
    shard = bad / "shards" / "train-00001-of-00002.arrow"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    result = run_trainer(["--data", str(bad), "--out", str(tmp_path / "run"), *TINY], nproc=2)
    assert result.returncode != 0
    assert "shard 'shards/train-00001-of-00002.arrow' is corrupted" in result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_two_rank_run_resumes_on_one_rank_with_twice_the_accumulation(ddp_run, dataset, tmp_path):
    run = _crash_after_step_4(ddp_run, str(tmp_path / "elastic"))
    args = ["--data", dataset, "--out", run, "--resume", "auto", *TINY, "grad_accum=2"]
    result = run_trainer(args, nproc=1)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "at step 4" in result.stdout and "batch split 4 × 1 × 2 = 8 -> 4 × 2 × 1 = 8" in result.stdout
    _assert_same_losses(run, ddp_run)


def test_a_one_rank_run_resumes_on_two_ranks_with_half_the_batch(ddp_run, dataset, tmp_path):
    single = str(tmp_path / "single")
    result = run_trainer(["--data", dataset, "--out", single, *TINY, "batch_size=8"], nproc=1)
    assert result.returncode == 0, result.stderr[-3000:]
    run = _crash_after_step_4(single, str(tmp_path / "elastic"))
    result = run_trainer(["--data", dataset, "--out", run, "--resume", "auto", *TINY], nproc=2)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "batch split 8 × 1 × 1 = 8 -> 4 × 1 × 2 = 8" in result.stdout
    _assert_same_losses(run, ddp_run)
    _assert_same_losses(single, ddp_run)


def test_a_resume_that_changes_the_global_batch_is_refused_with_the_numbers(ddp_run, dataset, tmp_path):
    run = _crash_after_step_4(ddp_run, str(tmp_path / "changed"))
    result = run_trainer(["--data", dataset, "--out", run, "--resume", "auto", *TINY], nproc=1)
    assert result.returncode == 1
    assert "old 4 × 1 × 2 = 8, new 4 × 1 × 1 = 4" in result.stderr
    assert "grad_accum=2" in result.stderr  # the split that would fit


def test_two_ranks_rebuild_a_forged_index_cache_and_rank_0_removes_stale_temporaries(dataset, tmp_path):
    from tests.hostile.cases_train import _forge_index

    ds = tmp_path / "ds"
    shutil.copytree(dataset, ds, ignore=lambda d, names: [n for n in names if n.startswith(".")])
    run = tmp_path / "run"
    args = ["--data", str(ds), "--out", str(run), *TINY, "max_steps=4"]
    assert run_trainer(args, nproc=2).returncode == 0
    _forge_index(ds, 2**40, 10**6)  # both splits' caches, checksums forged to match
    stale = run / "checkpoints" / "._tmp-0123456789ab-step-00000008.pt"
    stale.write_bytes(b"\0" * 10_000)
    result = run_trainer([*args[:4], "--resume", "auto", *TINY, "max_steps=6"], nproc=2)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "refused (piece 0 covers tokens 1099511627776..+1000000" in result.stderr
    assert "removed 1 stale temporary file(s)" in result.stdout and not stale.exists()
    assert [r["step"] for r in _train_records(str(run))][-1] == 6

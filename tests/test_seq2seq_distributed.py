"""objective=seq2seq under real ``torchrun`` (2 CPU processes, gloo) matches one process:
the same global batches give the same loss curve, and the decoded metrics (exact match, BLEU
and chrF from summed sacrebleu statistics) are those of one rank scoring everything."""

from __future__ import annotations

import pytest

from lm_train.metrics import read_metrics
from lm_train.testing import copy_reverse_task, write_pairs_dataset
from tests.test_train_distributed import run_trainer

pytestmark = pytest.mark.slow
ARGS = [
    "model=seq2seq",
    "objective=seq2seq",
    "n_layer=1",
    "d_model=32",
    "n_head=2",
    "seq_len=16",
    "max_target_len=16",
    "lr=1e-2",
    "warmup_steps=2",
    "max_steps=20",
    "log_every=1",
    "eval_every=10",
    "eval_steps=2",
    "peak_flops=1e11",
    "tensorboard=false",
    "device=cpu",
    "dtype=float32",
]


@pytest.mark.parametrize("cell", ["gru", "transformer"])
def test_two_ranks_train_and_score_like_one_with_the_same_global_batch(tmp_path, cell):
    data = str(write_pairs_dataset(tmp_path / "pairs", copy_reverse_task(200, "reverse")))
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    for out, nproc, batch in ((one, None, 8), (two, 2, 4)):
        result = run_trainer(
            ["--data", data, "--out", out, *ARGS, f"cell={cell}", f"batch_size={batch}"], nproc
        )
        assert result.returncode == 0, result.stderr[-3000:]
    rec = {run: read_metrics(f"{run}/metrics.jsonl") for run in (one, two)}
    train = {run: [r["loss"] for r in recs if r["kind"] == "train"] for run, recs in rec.items()}
    evals = {run: [r for r in recs if r["kind"] == "eval"] for run, recs in rec.items()}
    assert len(train[one]) == 20 and train[two] == pytest.approx(train[one], rel=1e-4)
    assert len(evals[one]) == 2 and evals[one][-1]["chrf"] > 0  # something was decoded right
    for a, b in zip(evals[one], evals[two]):
        assert a["num_examples"] == b["num_examples"] == 16 and a["num_tokens"] == b["num_tokens"]
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
        assert [b[k] for k in ("exact_match", "bleu", "chrf")] == pytest.approx(
            [a[k] for k in ("exact_match", "bleu", "chrf")], abs=1e-6
        )

"""``python -m lm_train.evaluate``: the metrics of a run on a split, as the trainer computes them,
written to ``RUN/eval-<split>.json``; a dataset of another tokenizer and bad arguments refused."""

from __future__ import annotations

import json
import math

import pytest
import torch

import lm_train.testing
from lm_train import evaluate
from lm_train.metrics import read_metrics
from lm_train.testing import TINY_TRAIN_ARGS, sample_texts, write_text_dataset
from lm_train.train import main as train_main

torch.set_num_threads(1)
TINY = list(TINY_TRAIN_ARGS)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    return str(write_text_dataset(out, sample_texts(n_en=16, n_zh=16, max_chars=800), vocab_size=300))


@pytest.fixture(scope="module")
def run(dataset, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run"))
    assert train_main(["--data", dataset, "--out", out, *TINY, "max_steps=4", "eval_every=4"]) == 0
    return out


@pytest.mark.slow
def test_evaluate_prints_and_writes_the_trainers_validation_numbers(dataset, run, capsys):
    # The trainer's evaluation reads eval_steps batches from the start of the split.
    assert evaluate.main(["--checkpoint", run, "--data", dataset, "--max-batches", "2"]) == 0
    printed = json.loads(capsys.readouterr().out)
    with open(f"{run}/eval-validation.json") as f:
        written = json.load(f)
    assert printed == written
    last_eval = [r for r in read_metrics(f"{run}/metrics.jsonl") if r["kind"] == "eval"][-1]
    assert written["loss"] == pytest.approx(last_eval["val_loss"], rel=1e-9)
    assert written["bits_per_byte"] == pytest.approx(last_eval["val_bpb"], rel=1e-9)
    assert written["perplexity"] == pytest.approx(math.exp(written["loss"]))
    assert written["num_tokens"] == last_eval["val_tokens"]
    assert (written["split"], written["step"]) == ("validation", 4)
    assert len(written["dataset"]) == 64  # the manifest fingerprint


def test_the_whole_split_by_default_and_any_batch_size_scores_the_same_tokens(dataset, run, capsys):
    assert evaluate.main(["--checkpoint", run, "--data", dataset]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert evaluate.main(["--checkpoint", run, "--data", dataset, "--batch-size", "3"]) == 0
    regrouped = json.loads(capsys.readouterr().out)
    assert whole["num_tokens"] > 2 * 8 * 31  # more than the trainer's two batches
    assert regrouped["num_tokens"] == whole["num_tokens"]
    assert regrouped["loss"] == pytest.approx(whole["loss"], rel=1e-5)


def test_a_dataset_of_another_tokenizer_is_refused_naming_both(run, tmp_path, capsys):
    other = str(write_text_dataset(tmp_path / "other", sample_texts(n_en=16, n_zh=0), vocab_size=280))
    assert evaluate.main(["--checkpoint", run, "--data", other]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert other in err and run in err and err.count("sha256") == 2


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--split", "test"], "no 'test' shards (it has: validation, train)"),
        (["--split", "dev"], "invalid choice: 'dev'"),
        (["--max-batches", "0"], "expected a positive integer, got 0"),
        (["--device", "tpu"], "--device tpu"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(dataset, run, capsys, extra, says):
    assert exit_code(["--checkpoint", run, "--data", dataset, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err


def exit_code(argv: list[str]) -> int:
    """The status the command exits with (argparse exits from inside; the rest returns it)."""
    try:
        return evaluate.main(argv)
    except SystemExit as exc:
        return int(exc.code)


def test_a_run_without_checkpoint_is_one_line_and_exit_1(dataset, tmp_path, capsys):
    assert evaluate.main(["--checkpoint", str(tmp_path / "none"), "--data", dataset]) == 1
    assert "holds no checkpoint" in capsys.readouterr().err


def test_the_default_split_is_test_then_validation():
    assert evaluate.choose_split(None, ["train", "validation", "test"]) == "test"
    assert evaluate.choose_split(None, ["train", "validation"]) == "validation"
    assert evaluate.choose_split("train", ["train", "validation"]) == "train"


def test_a_masked_lm_run_reports_masked_accuracy_as_its_training_did(tmp_path, capsys):
    from lm_train.objectives.masked_lm import MASK_TOKEN

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lm_train.testing, "SPECIALS", [*lm_train.testing.SPECIALS, MASK_TOKEN])
        data = str(write_text_dataset(tmp_path / "ds", sample_texts(n_en=16, n_zh=16, max_chars=800), 300))
    run = str(tmp_path / "run")
    args = ["model=bert", "objective=masked_lm", *TINY, "max_steps=4", "eval_every=4"]
    assert train_main(["--data", data, "--out", run, *args]) == 0
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", run, "--data", data, "--max-batches", "2"]) == 0
    record = json.loads(capsys.readouterr().out)
    last_eval = [r for r in read_metrics(f"{run}/metrics.jsonl") if r["kind"] == "eval"][-1]
    assert 0.0 <= record["masked_accuracy"] <= 1.0
    logged = {k.removeprefix("val_"): v for k, v in last_eval.items()}  # either record naming
    assert record["masked_accuracy"] == pytest.approx(logged["masked_accuracy"], rel=1e-9)
    assert record["loss"] == pytest.approx(logged["loss"], rel=1e-9)
    assert "perplexity" not in record and "bits_per_byte" not in record

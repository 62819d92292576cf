"""``objective=masked_lm`` through ``lm_train.train``: a tiny BERT's masked loss falls, the
evaluation reports masked loss and accuracy, and a dataset without ``<|mask|>`` is refused."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

import lm_train.testing
from lm_train.config import load_config
from lm_train.metrics import read_metrics
from lm_train.models.bert_config import BertConfig
from lm_train.objectives.masked_lm import MASK_TOKEN
from lm_train.testing import sample_texts, write_text_dataset
from lm_train.train import main as train_main

torch.set_num_threads(1)
VOCAB = 400
TINY = [
    "model=bert",
    "objective=masked_lm",
    "seq_len=32",
    "batch_size=8",
    "n_layer=2",
    "n_head=2",
    "d_model=32",
    "lr=1e-2",
    "warmup_steps=5",
    "eval_steps=4",
    "peak_flops=1e11",
    "tensorboard=false",
]


def _texts():
    return sample_texts(n_en=24, n_zh=24, max_chars=1200)


@pytest.fixture(scope="module")
def mask_dataset(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lm_train.testing, "SPECIALS", [*lm_train.testing.SPECIALS, MASK_TOKEN])
        return str(write_text_dataset(tmp_path_factory.mktemp("mlm-ds"), _texts(), vocab_size=VOCAB))


@pytest.mark.parametrize("whole_word", [False, True])
@pytest.mark.slow
def test_a_tiny_bert_masked_loss_falls(mask_dataset, tmp_path, whole_word):
    run = str(tmp_path / "run")
    args = [*TINY, "max_steps=100", "log_every=10", "eval_every=50", f"whole_word={str(whole_word).lower()}"]
    assert train_main(["--data", mask_dataset, "--out", run, *args]) == 0
    records = read_metrics(f"{run}/metrics.jsonl")
    train = [r["loss"] for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    chance = math.log(VOCAB)  # the loss of a uniform guess over the vocabulary
    assert len(train) == 10 and train[0] < chance and train[-1] < train[0] - 0.7
    assert [r["step"] for r in evals] == [50, 100]
    assert evals[-1]["loss"] < evals[0]["loss"]
    assert 5 / VOCAB < evals[-1]["masked_accuracy"] <= 1.0 and evals[-1]["num_masked"] > 0


def test_a_dataset_without_the_mask_token_is_refused(tmp_path, capsys):
    old = str(
        write_text_dataset(tmp_path / "old", sample_texts(n_en=8, n_zh=8, max_chars=400), vocab_size=300)
    )
    code = train_main(["--data", old, "--out", str(tmp_path / "run"), *TINY, "max_steps=2"])
    err = capsys.readouterr().err
    assert code != 0
    assert "<|mask|>" in err and old in err and "tokenize the corpus again" in err


def test_the_shipped_bert_config_trains_a_masked_lm(mask_dataset, tmp_path):
    config = Path(__file__).resolve().parent.parent / "lm_train" / "configs" / "bert-tiny.yaml"
    cfg = load_config(str(config))
    assert isinstance(cfg.model, BertConfig) and cfg.objective.name == "masked_lm"
    assert cfg.objective.mask_prob == 0.15 and cfg.objective.whole_word is False
    run = str(tmp_path / "run")
    args = ["--config", str(config), "seq_len=32", "max_steps=3", "eval_every=0", "tensorboard=false"]
    assert train_main(["--data", mask_dataset, "--out", run, *args]) == 0
    evals = [r for r in read_metrics(f"{run}/metrics.jsonl") if r["kind"] == "eval"]
    assert evals and "masked_accuracy" in evals[-1]


def _losses(run: str) -> list[float]:
    return [r["loss"] for r in read_metrics(f"{run}/metrics.jsonl") if r["kind"] == "train"]


def test_a_resumed_masked_lm_run_repeats_the_uninterrupted_losses(mask_dataset, tmp_path):
    full, resumed = str(tmp_path / "full"), str(tmp_path / "resumed")
    args = [
        *TINY,
        "max_steps=10",
        "log_every=1",
        "ckpt_every=5",
        "keep_ckpts=5",
        "eval_every=0",
        "whole_word=true",
    ]
    assert train_main(["--data", mask_dataset, "--out", full, *args]) == 0
    shutil.copytree(full, resumed)
    (tmp_path / "resumed" / "checkpoints" / "step-00000010.pt").unlink()  # as if it died after step 5
    assert train_main(["--data", mask_dataset, "--out", resumed, "--resume", "auto", *args]) == 0
    assert len(_losses(resumed)) == 10 and _losses(resumed) == _losses(full)  # same masks, bit for bit

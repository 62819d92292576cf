"""Fine-tuning with objective=classify, in process: it learns an easy task with every model
family, refuses weights of another tokenizer, resumes exactly, and its metrics are right."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from lm_train.metrics import read_metrics
from lm_train.testing import keyword_task, sample_texts, write_task_dataset, write_text_dataset
from lm_train.train import main as train_main
from schemas import load_manifest

torch.set_num_threads(1)
LABELS = ["no", "yes"]
TINY = [
    "objective=classify",
    "seq_len=32",
    "batch_size=16",
    "n_layer=2",
    "n_head=2",
    "d_model=32",
    "lr=1e-2",
    "warmup_steps=10",
    "eval_steps=5",
    "peak_flops=1e11",
    "tensorboard=false",
]


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return str(write_task_dataset(tmp_path_factory.mktemp("task"), keyword_task(400), LABELS))


def _evals(run: str) -> list[dict]:
    return [r for r in read_metrics(f"{run}/metrics.jsonl") if r["kind"] == "eval"]


def _losses(run: str) -> list[float]:
    return [r["loss"] for r in read_metrics(f"{run}/metrics.jsonl") if r["kind"] == "train"]


@pytest.mark.parametrize("model", ["gpt", "lstm", "bert"])
@pytest.mark.slow
def test_an_easy_task_is_learned_by_every_model_family(task, tmp_path, model):
    run = str(tmp_path / model)
    args = ["--data", task, "--out", run, *TINY, f"model={model}", "max_steps=200", "log_every=50"]
    assert train_main([*args, "eval_every=100"]) == 0
    last = _evals(run)[-1]
    assert last["accuracy"] >= 0.9 and last["macro_f1"] >= 0.9
    # 80 validation examples, 40 per label: the confusion matrix accounts for each once.
    confusion = np.array(last["confusion"])
    assert confusion.shape == (2, 2) and confusion.sum() == last["num_examples"] == 80
    assert confusion.sum(1).tolist() == [40, 40]
    assert {"precision/yes", "recall/yes", "precision/no", "recall/no"} <= set(last)


def test_init_from_a_run_with_another_tokenizer_is_refused_naming_both(tmp_path, capsys):
    texts = sample_texts(n_en=16, n_zh=0, max_chars=600)
    pre_data = write_text_dataset(tmp_path / "pre", texts, vocab_size=320)
    pre_run = str(tmp_path / "pre-run")
    lm = [
        "seq_len=32",
        "batch_size=4",
        "n_layer=2",
        "n_head=2",
        "d_model=32",
        "peak_flops=1e11",
        "tensorboard=false",
    ]
    assert train_main(["--data", str(pre_data), "--out", pre_run, *lm, "max_steps=2", "eval_every=0"]) == 0
    other = write_task_dataset(tmp_path / "other", keyword_task(60), LABELS)  # its own tokenizer
    capsys.readouterr()
    args = [*TINY, "max_steps=2", "eval_every=0"]
    assert (
        train_main(["--data", str(other), "--out", str(tmp_path / "bad"), "--init-from", pre_run, *args]) == 1
    )
    err = capsys.readouterr().err
    assert load_manifest(str(pre_data)).tokenizer.sha256 in err
    assert load_manifest(str(other)).tokenizer.sha256 in err
    # The same task tokenized with the pretraining run's tokenizer fine-tunes from it.
    same = write_task_dataset(
        tmp_path / "same", keyword_task(60), LABELS, tokenizer_json=(pre_data / "tokenizer.json").read_text()
    )
    assert (
        train_main(["--data", str(same), "--out", str(tmp_path / "good"), "--init-from", pre_run, *args]) == 0
    )
    assert "initialised weights from" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["gpt", "lstm"])
def test_a_resumed_fine_tuning_run_repeats_the_uninterrupted_losses(task, tmp_path, model):
    full, resumed = str(tmp_path / "full"), str(tmp_path / "resumed")
    args = [*TINY, f"model={model}", "max_steps=10", "log_every=1", "ckpt_every=5", "keep_ckpts=5"]
    args += ["eval_every=5", "dropout=0.1", "bucket_by_length=true", "head_lr=3e-2"]
    assert train_main(["--data", task, "--out", full, *args]) == 0
    shutil.copytree(full, resumed)
    (tmp_path / "resumed" / "checkpoints" / "step-00000010.pt").unlink()
    assert train_main(["--data", task, "--out", resumed, "--resume", "auto", *args]) == 0
    assert len(_losses(resumed)) == 10
    assert _losses(resumed) == _losses(full)  # bit for bit, dropout included
    assert [e["loss"] for e in _evals(resumed)] == [e["loss"] for e in _evals(full)]


def test_classify_on_a_pretraining_dataset_is_refused(tmp_path, capsys):
    data = write_text_dataset(tmp_path / "pre", sample_texts(n_en=8, n_zh=0, max_chars=300), vocab_size=300)
    assert train_main(["--data", str(data), "--out", str(tmp_path / "run"), *TINY, "max_steps=1"]) == 1
    assert "needs a labelled task dataset" in capsys.readouterr().err

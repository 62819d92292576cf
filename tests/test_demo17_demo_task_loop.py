"""The demo's task loop end to end on the bundled set: prepare_task, fine-tune from a pretrained
run and from scratch (torchrun), evaluate both on test."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from lm_train.testing import write_text_dataset
from lm_train.train import main as train_main
from scripts.demo import side_by_side, task_loop


@pytest.mark.slow
def test_task_loop_fine_tunes_and_evaluates_both_runs(tmp_path):
    data = write_text_dataset(tmp_path / "dataset", vocab_size=512)
    pretrained = tmp_path / "train"
    args = ["--data", str(data), "--out", str(pretrained), "--config=lm_train/configs/tiny.yaml"]
    args += ["max_steps=10", "eval_every=0", "ckpt_every=0", "tensorboard=false"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert train_main(args) == 0

    results = task_loop(tmp_path, data, pretrained, nproc="1")

    manifest = json.loads((tmp_path / "task" / "manifest.json").read_text())
    labels = manifest["task"]["labels"]
    assert labels == ["administration", "command", "file_format", "programming"]
    n_test = sum(manifest["task"]["label_counts"]["test"].values())
    assert n_test >= 40  # English and Chinese examples, every label
    for name, metrics in results.items():
        assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["macro_f1"] <= 1.0, name
    ft_log = (tmp_path / "finetune" / "metrics.jsonl").read_text()
    assert ft_log and (tmp_path / "scratch" / "eval-test.json").exists()
    # the fine-tuned run started from the pretrained weights, the scratch run did not
    assert json.loads((tmp_path / "finetune" / "run.json").read_text()).get("init_from") == str(pretrained)
    assert json.loads((tmp_path / "scratch" / "run.json").read_text()).get("init_from") is None
    assert len(side_by_side(results).splitlines()) == 3

"""The trainer end to end in one process: every model trains and generates, resume is exact,
elastic resume, run directories on URLs, the report."""

from __future__ import annotations

import re
import shutil
import uuid

import fsspec
import pytest
import torch

from lm_train import generate, report
from lm_train.metrics import read_metrics
from lm_train.testing import sample_texts, write_text_dataset
from lm_train.train import main as train_main

torch.set_num_threads(1)  # tiny tensors: extra threads only spin on a shared CPU
TINY = [
    "seq_len=32",
    "batch_size=8",
    "n_layer=2",
    "n_head=2",
    "d_model=32",
    "lr=1e-2",
    "warmup_steps=3",
    "eval_steps=2",
    "peak_flops=1e11",
    "tensorboard=false",
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    return str(write_text_dataset(out, sample_texts(n_en=24, n_zh=24, max_chars=1200), vocab_size=400))


def _losses(rundir) -> list[float]:
    return [r["loss"] for r in read_metrics(f"{rundir}/metrics.jsonl") if r["kind"] == "train"]


@pytest.mark.parametrize("model", ["gpt", "rnn", "lstm", "gru"])
def test_every_model_trains_and_generates_english_and_chinese(dataset, tmp_path, capsys, model):
    run = str(tmp_path / model)
    args = ["--data", dataset, "--out", run, *TINY, f"model={model}", "max_steps=24", "log_every=4"]
    assert train_main([*args, "eval_every=12", "ckpt_every=12"]) == 0
    records = read_metrics(f"{run}/metrics.jsonl")
    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in train] == [4, 8, 12, 16, 20, 24]
    assert train[-1]["loss"] < train[0]["loss"] - 0.5
    assert {"lr", "tokens", "tokens_per_s", "mfu", "grad_norm", "data_wait_frac"} <= set(train[-1])
    assert train[-1]["tokens"] == 24 * 8 * 32
    assert [r["step"] for r in evals] == [12, 24] and evals[1]["val_loss"] < evals[0]["val_loss"]
    assert 0 < evals[1]["val_bpb"] < 8
    capsys.readouterr()
    for prompt in ("And Jesus said", "我们"):
        assert generate.main(["--checkpoint", run, "--prompt", prompt, "--max-new-tokens", "12"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith(f"[{model}, step 24,") and "new tokens]" in lines[0]
        text = "\n".join(lines[1:])
        assert text.startswith(prompt) and len(text) > len(prompt)


def test_resume_reproduces_the_uninterrupted_loss_sequence(dataset, tmp_path):
    full, resumed = str(tmp_path / "full"), str(tmp_path / "resumed")
    args = [
        *TINY,
        "max_steps=10",
        "log_every=1",
        "ckpt_every=5",
        "keep_ckpts=5",
        "eval_every=0",
        "dropout=0.1",
    ]
    assert train_main(["--data", dataset, "--out", full, *args]) == 0
    shutil.copytree(full, resumed)
    # Forget everything after step 5, as if the job had died there.
    (tmp_path / "resumed" / "checkpoints" / "step-00000010.pt").unlink()
    assert train_main(["--data", dataset, "--out", resumed, "--resume", "auto", *args]) == 0
    assert len(_losses(resumed)) == 10
    assert _losses(resumed) == _losses(full)  # bit for bit, dropout included


def test_init_from_loads_weights_and_starts_a_new_schedule(dataset, tmp_path, capsys):
    base, tuned = str(tmp_path / "base"), str(tmp_path / "tuned")
    assert (
        train_main(["--data", dataset, "--out", base, *TINY, "max_steps=20", "log_every=1", "eval_every=0"])
        == 0
    )
    args = ["--data", dataset, "--out", tuned, "--init-from", base, *TINY, "max_steps=3", "log_every=1"]
    assert train_main([*args, "lr=1e-3", "eval_every=0"]) == 0
    records = [r for r in read_metrics(f"{tuned}/metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert records[0]["lr"] == pytest.approx(1e-3 / 3)  # warmup of the new schedule
    assert records[0]["loss"] < _losses(base)[0] - 1.0  # starts from the trained weights
    capsys.readouterr()
    assert report.main([tuned, "--samples", "2", "--sample-tokens", "8"]) == 0
    assert (tmp_path / "tuned" / "loss.png").stat().st_size > 0
    page = (tmp_path / "tuned" / "report.html").read_text()
    assert page.count("<img") == 2 and page.count('src="data:image/png;base64,') == 2  # self-contained
    assert "wall time (training loop)" in page and "median MFU" in page and "tokens/s" in page
    samples = len(re.findall(r'<pre class="?sample"?>', page))  # quoted or not: the page shell decides
    assert samples == 2 and "checkpoint of step 3" in page


def test_resume_refuses_a_changed_config_and_a_stale_run_dir(dataset, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert train_main(["--data", dataset, "--out", run, *TINY, "max_steps=2", "eval_every=0"]) == 0
    capsys.readouterr()
    assert train_main(["--data", dataset, "--out", run, *TINY, "max_steps=2"]) == 1
    assert "already holds checkpoints; pass --resume auto" in capsys.readouterr().err
    assert (
        train_main(["--data", dataset, "--out", run, "--resume", "auto", *TINY, "max_steps=4", "d_model=64"])
        == 1
    )
    assert "different config: d_model: 32 -> 64" in capsys.readouterr().err


def test_resume_with_another_split_of_the_same_global_batch(dataset, tmp_path, capsys):
    full, resumed = str(tmp_path / "full"), str(tmp_path / "resumed")
    args = [*TINY, "max_steps=8", "log_every=1", "ckpt_every=4", "eval_every=4"]
    assert train_main(["--data", dataset, "--out", full, *args]) == 0
    shutil.copytree(full, resumed)
    (tmp_path / "resumed" / "checkpoints" / "step-00000008.pt").unlink()
    capsys.readouterr()
    split = ["batch_size=4", "grad_accum=2"]  # 8 × 1 × 1 = 4 × 2 × 1
    assert train_main(["--data", dataset, "--out", resumed, "--resume", "auto", *args, *split]) == 0
    assert "batch split 8 × 1 × 1 = 8 -> 4 × 2 × 1 = 8" in capsys.readouterr().out
    assert _losses(resumed) == pytest.approx(_losses(full), rel=1e-5, abs=1e-6)
    val = lambda r: [e["val_loss"] for e in read_metrics(f"{r}/metrics.jsonl") if e["kind"] == "eval"]  # noqa: E731
    assert val(resumed) == pytest.approx(val(full), rel=1e-5)
    # A split of another global batch is refused, naming both products.
    (tmp_path / "resumed" / "checkpoints" / "step-00000008.pt").unlink()
    assert train_main(["--data", dataset, "--out", resumed, "--resume", "auto", *args, "batch_size=4"]) == 1
    assert "old 8 × 1 × 1 = 8, new 4 × 1 × 1 = 4" in capsys.readouterr().err


def test_a_run_directory_on_a_url_gets_every_file(dataset, tmp_path, capsys):
    url = f"memory://runs-{uuid.uuid4().hex[:8]}/run"
    fs, root = fsspec.core.url_to_fs(url)
    args = ["--data", dataset, "--out", url, *TINY, "max_steps=6", "log_every=1", "ckpt_every=3"]
    args += ["eval_every=3", "tensorboard=true"]
    assert train_main(args) == 0
    names = {p.removeprefix(root + "/") for p in fs.find(root)}
    assert {"config.yaml", "run.json", "tokenizer.json", "metrics.jsonl"} <= names
    assert {"checkpoints/step-00000003.pt", "checkpoints/step-00000006.pt"} <= names
    assert any(n.startswith("tensorboard/events.out.tfevents.") for n in names)
    assert [r["step"] for r in read_metrics(f"{url}/metrics.jsonl") if r["kind"] == "train"] == list(
        range(1, 7)
    )
    # Resume from the URL: the records after the checkpoint are dropped, then written again.
    fs.rm(f"{root}/checkpoints/step-00000006.pt")
    assert train_main([*args[:4], "--resume", "auto", *args[4:]]) == 0
    assert [r["step"] for r in read_metrics(f"{url}/metrics.jsonl") if r["kind"] == "train"] == list(
        range(1, 7)
    )
    capsys.readouterr()
    assert report.main([url, "--samples", "1", "--sample-tokens", "4"]) == 0
    assert fs.exists(f"{root}/report.html") and fs.exists(f"{root}/loss.png")
    assert generate.main(["--checkpoint", url, "--prompt", "And", "--max-new-tokens", "4"]) == 0
    assert capsys.readouterr().out.splitlines()[-2].startswith("[gpt, step 6,")


def test_a_file_url_run_directory_is_the_local_path(dataset, tmp_path):
    run = tmp_path / "run"
    args = ["--data", dataset, f"--out=file://{run}", *TINY, "max_steps=2", "eval_every=0"]
    assert train_main(args) == 0
    assert (run / "metrics.jsonl").exists() and (run / "checkpoints" / "step-00000002.pt").exists()
    assert train_main([*args, "--resume=auto", "max_steps=3"]) == 0
    assert [r["step"] for r in read_metrics(str(run / "metrics.jsonl")) if r["kind"] == "train"][-1] == 3


def test_a_small_validation_split_is_warned_about_once(dataset, tmp_path, capsys):
    assert train_main(["--data", dataset, "--out", str(tmp_path / "r"), *TINY, "max_steps=1"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "validation split is small" in line]
    assert len(lines) == 1 and "6 documents" in lines[0] and "10 × seq_len = 320 tokens" in lines[0]

"""Trainer building blocks without processes: config, schedules, checkpoints, metrics, report."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from lm_train import checkpoint as ckpt
from lm_train.config import ConfigError, TrainConfig, load_config, parse_overrides
from lm_train.evaluate import summarize
from lm_train.metrics import mfu, read_metrics, truncate_metrics
from lm_train.models.gpt import GPT
from lm_train.optim import Scheduler, build_optimizer, lr_at, param_groups
from lm_train.report import render_html, wall_time_s
from lm_train.report import summarize as report_summary
from lm_train.resume import BatchSplit, checkpoint_batch_split, global_batch_mismatch
from lm_train.rundir import StagedFiles, normalize_rundir
from lm_train.train import build_parser, config_differences, parse_args, should_kill_self
from lm_train.trainer import validation_warning


# -- config ----------------------------------------------------------------------------------------------
def test_yaml_then_overrides_and_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: lstm\nn_layer: 2\nlr: 1.0e-3\ncompile: false\n")
    cfg = load_config(
        str(path), parse_overrides(["lr=3e-4", "max_steps=7", "compile=true", "dtype=bfloat16"])
    )
    assert (cfg.model, cfg.n_layer, cfg.lr, cfg.max_steps, cfg.compile, cfg.dtype) == (
        "lstm",
        2,
        3e-4,
        7,
        True,
        "bfloat16",
    )
    (tmp_path / "saved.yaml").write_text(cfg.to_yaml())
    assert load_config(str(tmp_path / "saved.yaml")) == cfg


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["n_layers=2"], "unknown key(s) ['n_layers']"),
        (["model=transformer"], "model must be one of"),
        (["batch_size=two"], "config.batch_size: expected an integer"),
        (["d_model=30", "n_head=4"], "divisible by n_head"),
        (["lr"], "not key=value"),
    ],
)
def test_bad_config_names_the_key(overrides, needle):
    with pytest.raises(ConfigError, match=None) as info:
        load_config(None, parse_overrides(overrides))
    assert needle in str(info.value)


def test_cli_accepts_flags_and_key_value_forms():
    args, overrides = parse_args(["--data", "D", "--out", "R", "--resume", "auto", "lr=0.1"])
    assert (args.data, args.out, args.resume, overrides) == ("D", "R", "auto", {"lr": 0.1})
    args, overrides = parse_args(["data=D", "out=R", "model=gru"])
    assert (args.data, args.out, overrides) == ("D", "R", {"model": "gru"})


@pytest.mark.parametrize(
    "argv",
    [
        ["--data", "D", "model=gpt", "--out", "R", "max_steps=40"],
        ["model=gpt", "--data=D", "max_steps=40", "--out=R"],
        ["--data", "D", "--out", "R", "model=gpt", "max_steps=40"],
        ["model=gpt", "max_steps=40", "--data", "D", "--out", "R"],
    ],
)
def test_cli_takes_options_and_overrides_in_any_order(argv):
    args, overrides = parse_args(argv)
    assert (args.data, args.out, overrides) == ("D", "R", {"model": "gpt", "max_steps": 40})


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["--data", "D", "--out", "R", "max_steps"],
            "argument 'max_steps' is neither an option nor a key=value",
        ),
        (
            ["--data", "D", "model=gpt", "--out", "R", "40"],
            "argument '40' is neither an option nor a key=value",
        ),
        (["--data", "D", "--out", "R", "--max-steps", "4"], "unrecognized option '--max-steps'"),
        (["--data", "D", "max_steps=4"], "--data and --out are required"),
    ],
)
def test_cli_refuses_a_stray_argument_in_one_line(argv, needle, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and needle in err and err.count("\n") == 1, err


def test_train_help_lists_every_config_key_with_type_and_default():
    text = build_parser().format_help()
    assert text.startswith("usage: python -m lm_train.train ")
    assert "(default: never)" in text and "--print-config" in text
    listed = {line.split()[0]: line.split()[1:3] for line in text.splitlines() if line.startswith("    ")}
    for f in dataclasses.fields(TrainConfig):
        default = str(f.default).lower() if isinstance(f.default, bool) else str(f.default)
        assert listed.get(f.name) == [f.type, default], f.name


# -- optimiser and schedules -----------------------------------------------------------------------------------
def test_warmup_cosine_and_wsd_shapes():
    cos = TrainConfig(lr=1.0, warmup_steps=10, max_steps=110, schedule="cosine", min_lr_ratio=0.1)
    assert lr_at(0, cos) == pytest.approx(0.1) and lr_at(9, cos) == pytest.approx(1.0)
    assert lr_at(60, cos) == pytest.approx(0.55)  # halfway down the cosine
    assert lr_at(110, cos) == pytest.approx(0.1) and lr_at(500, cos) == pytest.approx(0.1)
    lrs = [lr_at(s, cos) for s in range(10, 110)]
    assert all(a >= b for a, b in itertools.pairwise(lrs))

    wsd = TrainConfig(
        lr=1.0, warmup_steps=10, max_steps=100, schedule="wsd", decay_frac=0.2, min_lr_ratio=0.0
    )
    assert [lr_at(s, wsd) for s in (10, 50, 79)] == [1.0, 1.0, 1.0]
    assert lr_at(89, wsd) == pytest.approx(0.5) and lr_at(99, wsd) == pytest.approx(0.0)


def test_decay_groups_exclude_norms_biases_embeddings():
    model = GPT(100, n_layer=1, n_head=2, d_model=16, max_seq_len=8)
    decay, no_decay = param_groups(model, 0.1)
    assert {p.dim() for p in decay["params"]} == {2}
    assert any(p is model.embed.weight for p in no_decay["params"])
    assert all(p is not model.embed.weight for p in decay["params"])
    n_all = sum(p.numel() for p in model.parameters())  # tied head counted once
    assert sum(p.numel() for g in (decay, no_decay) for p in g["params"]) == n_all


def test_scheduler_sets_lr_and_restores_from_state():
    cfg = TrainConfig(lr=1.0, warmup_steps=4, max_steps=20)
    model = GPT(10, n_layer=1, n_head=2, d_model=8, max_seq_len=8)
    opt = build_optimizer(model, cfg)
    sched = Scheduler(opt, cfg)
    for _ in range(5):
        sched.step()
    other = Scheduler(build_optimizer(model, cfg), cfg)
    other.load_state_dict(sched.state_dict())
    assert other.optimizer.param_groups[0]["lr"] == opt.param_groups[1]["lr"] == lr_at(5, cfg)


class Payload:
    """Stands for any pickled object whose loading would import and run code."""


# -- checkpoints ----------------------------------------------------------------------------------------------
def test_checkpoints_are_atomic_pruned_and_weights_only(tmp_path):
    run = str(tmp_path / "run")
    for step in (1, 2, 3, 4):
        ckpt.save_checkpoint(
            run, step, {"step": step, "w": torch.arange(3) * step, "cfg": {"a": [1, None]}}, keep=2
        )
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [3, 4]
    assert not [p for p in (tmp_path / "run" / "checkpoints").iterdir() if not p.name.startswith("step-")]
    state = ckpt.load_checkpoint(ckpt.resolve_checkpoint(run))
    assert state["step"] == 4 and state["w"].tolist() == [0, 4, 8] and state["cfg"] == {"a": [1, None]}


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    path = tmp_path / "checkpoints" / "step-00000001.pt"
    path.parent.mkdir()
    torch.save({"evil": Payload()}, path)  # an arbitrary class: loading it would run its code
    with pytest.raises(ckpt.CheckpointError, match="cannot be read"):
        ckpt.load_checkpoint(str(path))
    with pytest.raises(ckpt.CheckpointError, match="holds no checkpoint"):
        ckpt.resolve_checkpoint(str(tmp_path / "empty"))


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    saved = ckpt.capture_rng()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt.save_checkpoint(str(tmp_path), 1, {"rng": [saved]}, keep=1)
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    ckpt.restore_rng(ckpt.load_checkpoint(ckpt.checkpoint_path(str(tmp_path), 1))["rng"][0])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


# -- metrics, evaluation, report -----------------------------------------------------------------------------------
def test_bits_per_byte_and_perplexity():
    out = summarize(loss_sum=math.log(2) * 300, num_tokens=100, num_bytes=400)
    assert out["val_loss"] == pytest.approx(math.log(2) * 3)
    assert out["val_ppl"] == pytest.approx(8.0)
    assert out["val_bpb"] == pytest.approx(0.75)  # 300 bits over 400 bytes


def test_mfu_formula():
    assert mfu(flops_per_token=6e6, tokens_per_s=1000, total_peak_flops=1.2e10) == pytest.approx(0.5)
    assert mfu(1.0, 1.0, 0.0) == 0.0


def test_truncate_metrics_drops_steps_after_the_checkpoint(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in range(1, 8)))
    truncate_metrics(str(path), 4)
    assert [r["step"] for r in read_metrics(str(path))] == [1, 2, 3, 4]


def test_report_summary():
    recs = [
        {"kind": "train", "step": s, "loss": 5.0 - s, "tokens": 10 * s, "tokens_per_s": 100.0 + s, "mfu": 0.1}
        | {"data_wait_frac": 0.01}
        for s in (1, 2, 3)
    ]
    recs.append({"kind": "eval", "step": 3, "val_loss": 2.5, "val_bpb": 1.2, "val_ppl": 12.0})
    s = report_summary(recs)
    assert (s["final_loss"], s["best_val_loss"], s["median_tokens_per_s"], s["tokens"]) == (
        2.0,
        2.5,
        102.5,
        30,
    )


def test_wall_time_adds_up_the_attempts_of_a_resumed_run():
    # elapsed_s restarts in a resumed process: 30 s in the first attempt, 25 s in the second
    recs = [{"elapsed_s": e} for e in (10.0, 20.0, 30.0, 5.0, 25.0)]
    assert wall_time_s(recs) == 55.0


def test_report_html_is_self_contained_with_formatted_numbers():
    summary = {
        "steps": 12000,
        "tokens": 1234567890,
        "final_loss": 2.0,
        "first_loss": 9.87654,
        "median_tokens_per_s": 45678.9,
        "median_mfu": 0.4123,
        "median_data_wait_frac": 0.0031,
        "wall_time_s": 3725.0,
        "final_val_loss": 2.1,
        "final_val_bpb": 1.05,
        "best_val_loss": 2.1,
        "best_val_step": 12000,
    }
    run = {"num_params": 124439808, "world_size": 8, "global_batch_size": 512, "tokens_per_step": 524288}
    pngs = {"loss.png": b"\x89PNG-loss", "throughput.png": b"\x89PNG-thr"}
    page = render_html(summary, run, "lr: 0.1\n", pngs, ["In the <beginning>"], "step 12,000")
    assert page.count("<img") == 2 and page.count('src="data:image/png;base64,') == 2
    assert 'src="loss.png"' not in page
    for text in ("41.23%", "0.31%", "1,234,567,890", "45,679 tokens/s", "124,439,808", "1h02m", "12,000"):
        assert text in page, text
    assert "9.8765 → 2.0000" in page and "In the &lt;beginning&gt;" in page


# -- resume safety and the fault hook --------------------------------------------------------------------------------
def test_config_differences_ignore_bookkeeping_keys():
    a = TrainConfig().to_dict()
    assert config_differences(a, {**a, "max_steps": 5, "eval_every": 1, "log_every": 3}) == {}
    assert config_differences(a, {**a, "lr": 1.0}) == {"lr": (a["lr"], 1.0)}
    assert config_differences(a, {**a, "batch_size": 4, "grad_accum": 2}) == {}  # checked as a product


def test_elastic_resume_keeps_the_global_batch_and_names_the_numbers():
    old = BatchSplit(4, 1, 2)
    assert global_batch_mismatch(old, BatchSplit(4, 2, 1)) is None
    assert global_batch_mismatch(old, BatchSplit(8, 1, 1)) is None
    assert global_batch_mismatch(old, BatchSplit(1, 2, 4)) is None
    message = global_batch_mismatch(old, BatchSplit(4, 1, 1))
    assert "old 4 × 1 × 2 = 8, new 4 × 1 × 1 = 4" in message and "grad_accum=2" in message
    assert "grad_accum=" not in global_batch_mismatch(old, BatchSplit(3, 1, 1))  # no split of 8 fits
    # Checkpoints name their world size; older ones hold one RNG state per rank.
    cfg = {"batch_size": 4, "grad_accum": 1}
    assert checkpoint_batch_split({"config": cfg, "world_size": 2, "rng": [{}]}) == old
    assert checkpoint_batch_split({"config": cfg, "rng": [{}, {}]}) == old


def test_validation_warning_floor():
    assert validation_warning(20, 10 * 256, 256) is None
    small = validation_warning(6, 1234, 32)
    assert small.startswith("warning: the validation split is small: 6 documents, 1,234 tokens")
    assert "20 documents" in small and "10 × seq_len = 320 tokens" in small
    assert "3,000 tokens" in validation_warning(500, 2000, 300)  # many documents, too few tokens


# -- run directories -------------------------------------------------------------------------------------
def test_file_urls_are_local_paths():
    assert normalize_rundir("file:///tmp/a/run/") == "/tmp/a/run"
    assert normalize_rundir("runs/x/") == "runs/x"
    assert normalize_rundir("s3://b/run/") == "s3://b/run"


def test_staged_files_upload_only_what_changed():
    import fsspec

    url = "memory://staged-test/run"
    files = StagedFiles(url)
    assert files.remote and not files.local.startswith("memory")
    with open(files.path("metrics.jsonl"), "w") as f:
        f.write("a\n")
    files.sync()
    fs = fsspec.filesystem("memory")
    assert fs.cat("/staged-test/run/metrics.jsonl") == b"a\n"
    fs.pipe("/staged-test/run/metrics.jsonl", b"elsewhere")
    files.sync()  # unchanged locally: not uploaded again
    assert fs.cat("/staged-test/run/metrics.jsonl") == b"elsewhere"
    again = StagedFiles(url)
    again.fetch("metrics.jsonl")
    assert Path(again.path("metrics.jsonl")).read_bytes() == b"elsewhere"
    files.close()
    again.close()


def test_fault_hook_fires_only_on_first_attempt_and_chosen_rank():
    env = {"LMFORGE_FAULT_KILL_STEP": "3", "LMFORGE_FAULT_KILL_RANK": "1"}
    assert should_kill_self(3, 1, env)
    assert not should_kill_self(3, 0, env) and not should_kill_self(2, 1, env)
    assert not should_kill_self(3, 1, {**env, "TORCHELASTIC_RESTART_COUNT": "1"})
    assert not should_kill_self(3, 1, {})

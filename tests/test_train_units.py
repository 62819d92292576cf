"""Trainer building blocks without processes: config, schedules, checkpoints, metrics, report."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from lm_train import checkpoint as ckpt
from lm_train.config import TrainConfig, describe_keys, load_config, parse_overrides
from lm_train.evaluate import summarize
from lm_train.inputs import validation_warning
from lm_train.metrics import mfu, read_metrics, truncate_metrics
from lm_train.models.gpt import GPT
from lm_train.optim import Scheduler, build_optimizer, lr_at, param_groups
from lm_train.report import render_html, wall_time_s
from lm_train.report import summarize as report_summary
from lm_train.resume import BatchSplit, checkpoint_batch_split, config_differences, global_batch_mismatch
from lm_train.rundir import StagedFiles, normalize_rundir
from lm_train.train import build_parser, parse_args
from lmcore.config import ConfigError
from lmcore.faults import should_kill_at_step as should_kill_self


# -- config ----------------------------------------------------------------------------------------------
def test_yaml_then_overrides_and_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: lstm\nn_layer: 2\nlr: 1.0e-3\ncompile: false\n")
    cfg = load_config(
        str(path), parse_overrides(["lr=3e-4", "max_steps=7", "compile=true", "dtype=bfloat16"])
    )
    model, optim, runtime = cfg.model, cfg.optim, cfg.runtime
    assert (model.name, model.n_layer, optim.lr, optim.max_steps, runtime.compile, runtime.dtype) == (
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
    for key in describe_keys():
        default = str(key.default).lower() if isinstance(key.default, bool) else str(key.default)
        assert listed.get(key.name) == [key.type, default], key.name
    assert {"model", "objective", "lr", "n_head", "seq_len", "eval_every", "seed"} <= set(listed)


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
    a = TrainConfig().flat_dict()
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


# -- hostile settings and files ------------------------------------------------------------------------------
def test_yaml_numbers_without_a_dot_are_numbers(tmp_path):
    # PyYAML follows YAML 1.1: "1e-3" has no dot, so it is read as a string.
    path = tmp_path / "c.yaml"
    path.write_text("lr: 1e-3\nmax_steps: 1e3\nwarmup_steps: 10.0\nmin_lr_ratio: '0.5'\n")
    cfg = load_config(str(path))
    assert (cfg.lr, cfg.max_steps, cfg.warmup_steps, cfg.min_lr_ratio) == (1e-3, 1000, 10, 0.5)
    assert isinstance(cfg.max_steps, int)
    path.write_text("max_steps: 1.5\n")
    with pytest.raises(ConfigError, match=r"max_steps: expected an integer, got 1.5"):
        load_config(str(path))


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["lr=[1"], "override 'lr=[1': the value is not valid YAML"),
        (["model=@x"], "is not valid YAML"),
        (["=3"], "not key=value"),
        (["n_head=0"], "n_head must be >= 1"),
        (["dropout=1.5"], "dropout must be in [0, 1)"),
        (["lr=.nan"], "lr must be a finite number"),
        (["eps=0"], "eps must be > 0"),
        (["beta2=1"], "beta1 and beta2 must be in [0, 1)"),
        (["eval_every=-1"], "must be >= 0"),
        (["1=2"], "unknown key(s) ['1']"),
    ],
)
def test_bad_values_are_one_config_error(overrides, needle):
    with pytest.raises(ConfigError) as info:
        load_config(None, parse_overrides(overrides))
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_a_config_file_that_is_a_directory_or_not_text_is_one_error(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(str(tmp_path))
    (tmp_path / "c.yaml").write_bytes(b"lr: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(str(tmp_path / "c.yaml"))


def test_device_cuda_without_cuda_is_a_config_error(monkeypatch):
    from lm_train.distributed import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="device=cuda, but this machine has no usable CUDA device"):
        resolve_device("cuda", 0)
    assert resolve_device("auto", 0).type == "cpu"


def _flip(path: Path, *offsets: int) -> None:
    data = bytearray(path.read_bytes())
    for off in offsets:
        data[off] ^= 0x20
    path.write_bytes(bytes(data))


def test_a_checksum_file_beside_each_checkpoint_catches_flipped_bytes(tmp_path, capsys):
    run = str(tmp_path)
    path = Path(ckpt.save_checkpoint(run, 1, {"step": 1, "w": torch.ones(1000)}, keep=2))
    record = json.loads(Path(f"{path}.json").read_text())
    assert record["bytes"] == path.stat().st_size and len(record["sha256"]) == 64
    size = path.stat().st_size
    _flip(path, size // 2, size // 2 + 7)
    with pytest.raises(
        ckpt.CheckpointError, match=r"step-00000001\.pt is corrupted: .* recorded .* when it was written"
    ):
        ckpt.load_checkpoint(str(path))
    Path(f"{path}.json").write_text("{broken")
    with pytest.raises(ckpt.CheckpointError, match=r"checksum file .* is damaged"):
        ckpt.load_checkpoint(str(path))
    # An older lmforge wrote no checksum file: the checkpoint loads, with a warning.
    good = Path(ckpt.save_checkpoint(run, 2, {"step": 2}, keep=2))
    Path(f"{good}.json").unlink()
    capsys.readouterr()
    assert ckpt.load_checkpoint(str(good))["step"] == 2
    assert "has no checksum file" in capsys.readouterr().err


def test_pruning_removes_the_checksum_files_too(tmp_path):
    for step in (1, 2, 3):
        ckpt.save_checkpoint(str(tmp_path), step, {"step": step}, keep=1)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "step-00000003.pt",
        "step-00000003.pt.json",
    ]


def test_a_full_disk_names_the_checkpoint_and_the_space_it_needed(tmp_path, monkeypatch):
    import errno

    from fsspec.implementations.local import LocalFileOpener

    run = str(tmp_path)
    ckpt.save_checkpoint(run, 1, {"step": 1}, keep=3)
    original = LocalFileOpener.write

    def full(self, data):
        if "step-00000002" in str(self.path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, data)

    monkeypatch.setattr(LocalFileOpener, "write", full)
    state = {"step": 2, "w": torch.zeros(250_000)}  # about 1 MB
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.save_checkpoint(run, 2, state, keep=3)
    message = str(info.value)
    assert "no space left on the device for" in message and "step-00000002.pt: it needs 1.0 MB (1," in message
    assert "free there" in message and "\n" not in message
    # The previous checkpoint is intact and no temporary is left behind.
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "step-00000001.pt",
        "step-00000001.pt.json",
    ]


def test_what_a_checkpoint_holds_is_checked_name_by_name():
    model = GPT(50, n_layer=1, n_head=2, d_model=8, max_seq_len=8)
    good = model.state_dict()
    ckpt.check_model_state(good, model, "c.pt")
    missing = {k: v for k, v in good.items() if k != "norm.weight"}
    with pytest.raises(ckpt.CheckpointError, match=r"model tensor 'norm.weight' is missing \(1 such\)"):
        ckpt.check_model_state(missing, model, "c.pt")
    with pytest.raises(ckpt.CheckpointError, match="'extra' is unknown to this model"):
        ckpt.check_model_state({**good, "extra": torch.zeros(1)}, model, "c.pt")
    with pytest.raises(
        ckpt.CheckpointError, match=r"'embed.weight' has shape \[50, 7\], this model needs \[50, 8\]"
    ):
        ckpt.check_model_state({**good, "embed.weight": torch.zeros(50, 7)}, model, "c.pt")
    nan = good["norm.weight"].clone()
    nan[0] = float("nan")
    with pytest.raises(ckpt.CheckpointError, match=r"'norm.weight' holds NaN or infinite values"):
        ckpt.check_model_state({**good, "norm.weight": nan}, model, "c.pt")
    with pytest.raises(ckpt.CheckpointError, match="has no 'optimizer' entry"):
        ckpt.require({"model": {}}, "c.pt", {"model": dict, "optimizer": dict})
    with pytest.raises(ckpt.CheckpointError, match="'step' is a str, expected int"):
        ckpt.require({"step": "3"}, "c.pt", {"step": int})


def test_optimizer_moments_of_the_wrong_shape_are_refused():
    model = GPT(50, n_layer=1, n_head=2, d_model=8, max_seq_len=8)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 4, dtype=torch.long)).sum().backward()
    opt.step()
    ckpt.check_optimizer_state(opt, "c.pt")
    state = opt.state_dict()
    state["state"][0]["exp_avg"] = torch.zeros(3)
    opt.load_state_dict(state)  # AdamW takes it as it is
    with pytest.raises(ckpt.CheckpointError, match=r"optimizer state 'exp_avg' has shape \[3\]"):
        ckpt.check_optimizer_state(opt, "c.pt")


def test_stale_temporaries_are_removed_and_counted(tmp_path):
    from lm_train.rundir import remove_stale_temporaries

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "._tmp-0123456789ab-step-00000004.pt").write_bytes(b"x" * 1000)
    (tmp_path / "._tmp-0123456789ab-run.json").write_text("{")
    (tmp_path / "checkpoints" / "step-00000003.pt").write_bytes(b"keep")
    assert remove_stale_temporaries(str(tmp_path)) == (2, 1001)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["step-00000003.pt"]
    assert remove_stale_temporaries(str(tmp_path / "absent")) == (0, 0)


def test_an_out_that_is_a_file_or_under_one_is_refused(tmp_path):
    from lm_train.rundir import RunDirError, check_out_dir

    (tmp_path / "f").write_text("x")
    with pytest.raises(RunDirError, match="is a file: give a directory"):
        check_out_dir(str(tmp_path / "f"))
    with pytest.raises(RunDirError, match=r"is under .*f, which is a file"):
        check_out_dir(str(tmp_path / "f" / "run"))
    check_out_dir(str(tmp_path / "new" / "run"))
    check_out_dir("memory://bucket/run")


def test_metrics_survive_a_line_cut_by_a_kill(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"kind": "train", "step": 1}\n{"kind": "train", "step": 2}\n{"kind": "tr')
    assert [r["step"] for r in read_metrics(str(path))] == [1, 2]
    truncate_metrics(str(path), 5)
    assert path.read_text() == '{"kind": "train", "step": 1}\n{"kind": "train", "step": 2}\n'
    path.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(ValueError, match="record 2 is not a JSON object"):
        read_metrics(str(path))


def test_the_tokenizer_file_must_be_the_recorded_one_and_hold_the_vocabulary():
    from lm_train.testing import train_tokenizer
    from lm_train.tokenizer_file import TokenizerError, check_bytes, vocab_size_of
    from schemas import sha256_bytes

    data = train_tokenizer(["some text to learn from", "and more"], 280).to_str().encode()
    size = vocab_size_of(data, "t")
    check_bytes(data, "t", sha256_bytes(data), size)
    with pytest.raises(TokenizerError, match="t is not the tokenizer that was recorded"):
        check_bytes(data + b" ", "t", sha256_bytes(data))
    with pytest.raises(
        TokenizerError, match=f"t has {size} ids, but the manifest says tokenizer.vocab_size 10"
    ):
        check_bytes(data, "t", sha256_bytes(data), 10)
    with pytest.raises(TokenizerError, match="not JSON"):
        vocab_size_of(b"\xff", "t")
    with pytest.raises(TokenizerError, match="not an HF tokenizers file"):
        vocab_size_of(b'{"model": 1}', "t")
    assert vocab_size_of(b'{"synthetic": true, "vocab_size": 1024}', "t") == 1024


def test_adamw_is_fused_on_cpu_and_matches_the_per_tensor_loop():
    cfg = TrainConfig(model="gpt", n_layer=1, n_head=2, d_model=16, seq_len=8)
    torch.manual_seed(0)
    a = GPT(64, n_layer=1, n_head=2, d_model=16, max_seq_len=8)
    b = GPT(64, n_layer=1, n_head=2, d_model=16, max_seq_len=8)
    b.load_state_dict(a.state_dict())
    fused = build_optimizer(a, cfg)
    assert fused.defaults["fused"]
    loop = torch.optim.AdamW(
        param_groups(b, cfg.optim.weight_decay), lr=cfg.optim.lr, betas=(cfg.optim.beta1, cfg.optim.beta2)
    )
    for _ in range(3):
        for m in (a, b):
            for p in m.parameters():
                p.grad = torch.ones_like(p) * 0.1
        fused.step()
        loop.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)

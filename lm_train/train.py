"""Train a language model on an lmforge token dataset with DDP.

    torchrun --nproc-per-node=N -m lm_train.train --data DIR --out RUNDIR \\
        [--config FILE.yaml] [--resume auto] [--init-from CKPT] [key=value ...]

One process per device: NCCL on GPUs, gloo on CPU. ``python -m lm_train.train ...``
without torchrun runs a single process. ``data=DIR`` / ``out=RUNDIR`` work as overrides too.

Multi-node: start the same command on every node with a shared rendezvous, e.g. on each
of 2 nodes with 8 GPUs::

    torchrun --nnodes=2 --nproc-per-node=8 --rdzv-backend=c10d \\
        --rdzv-endpoint=HOST0:29500 --rdzv-id=myjob --max-restarts=3 \\
        -m lm_train.train --data s3://bucket/dataset --out /shared/runs/r1 --resume auto

``RUNDIR`` must be shared storage (or an fsspec URL) that every node sees: rank 0 writes
checkpoints there and every rank reads them on restart. With ``--max-restarts`` and
``--resume auto``, a crashed or preempted worker group restarts from the newest
checkpoint; on CPU the resumed run reproduces the uninterrupted loss sequence exactly.

Batch: every optimizer step consumes ``batch_size × grad_accum × world_size`` samples of
``seq_len`` tokens; the loss is the mean over the *global* batch's predicted tokens (one
scalar all-reduce per step), so world size 2 × accumulation 1 trains exactly like world
size 1 × accumulation 2. Gradients of all but the last micro-step stay local (``no_sync``).

Run directory: ``config.yaml`` (effective config), ``run.json`` (dataset fingerprint and
version, tokenizer, world size, device, model size), ``tokenizer.json`` (copy, for
generation), ``metrics.jsonl``, ``tensorboard/``, ``checkpoints/step-*.pt``.

Test hook (fault drills): with ``LMFORGE_FAULT_KILL_STEP=k`` the rank
``LMFORGE_FAULT_KILL_RANK`` (default 1) SIGKILLs itself after finishing step k, in the
first attempt only (``TORCHELASTIC_RESTART_COUNT`` = 0).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from lm_train import checkpoint as ckpt
from lm_train.config import ConfigError, TrainConfig, load_config, parse_overrides
from lm_train.distributed import (
    DistInfo,
    all_gather_object,
    all_reduce_sum,
    barrier,
    init_distributed,
    shutdown,
)
from lm_train.evaluate import evaluate
from lm_train.metrics import MetricsLogger, mfu, peak_flops_for, truncate_metrics
from lm_train.models import build_model
from lm_train.objectives import causal_lm_loss
from lm_train.optim import Scheduler, build_optimizer
from pipelines import fsutil
from schemas import Manifest, ManifestError, load_manifest

# Settings that may change between a checkpoint and its resumption without changing the math.
RESUMABLE_CHANGES = {
    "max_steps",
    "eval_every",
    "eval_steps",
    "ckpt_every",
    "keep_ckpts",
    "log_every",
    "tensorboard",
    "data_workers",
    "compile",
    "peak_flops",
    "device",
}


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, Any]]:
    ap = argparse.ArgumentParser(
        prog="python -m lm_train.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--data", help="dataset directory or URL (holds manifest.json)")
    ap.add_argument("--out", help="run directory (checkpoints, metrics, config)")
    ap.add_argument("--config", help="YAML file of TrainConfig keys")
    ap.add_argument(
        "--resume",
        default="never",
        help="'auto': continue from the newest checkpoint in --out if there is one; or a checkpoint path",
    )
    ap.add_argument("--init-from", help="load model weights only (new optimizer, schedule and data order)")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. lr=1e-3 model=lstm")
    args = ap.parse_args(argv)
    overrides = parse_overrides(args.overrides)
    for key in ("data", "out", "config", "resume", "init_from"):
        if key in overrides:
            value = overrides.pop(key)
            if getattr(args, key) in (None, "never"):
                setattr(args, key, str(value))
    if not args.data or not args.out:
        ap.error("--data and --out are required")
    return args, overrides


# -- pure helpers -----------------------------------------------------------------------------
def resolve_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype:
    if cfg.dtype == "bfloat16":
        return torch.bfloat16
    if cfg.dtype == "float32":
        return torch.float32
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def resolve_attention(cfg: TrainConfig, device: torch.device) -> str:
    """FlexAttention pays off only compiled on CUDA; the SDPA mask path works everywhere."""
    if cfg.attention != "auto":
        return cfg.attention
    return "flex" if device.type == "cuda" and cfg.compile else "sdpa"


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Keys whose change would make a resumed run a different run."""
    return {
        k: (old.get(k), new.get(k))
        for k in sorted(set(old) | set(new))
        if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k)
    }


def should_kill_self(step: int, rank: int, env: dict[str, str]) -> bool:
    target = env.get("LMFORGE_FAULT_KILL_STEP")
    return (
        target is not None
        and int(target) == step
        and int(env.get("LMFORGE_FAULT_KILL_RANK", "1")) == rank
        and int(env.get("TORCHELASTIC_RESTART_COUNT", "0")) == 0
    )


class LoaderStream:
    """Iterate a loader across its epochs and time how long the trainer waits for each batch."""

    def __init__(self, loader: Any) -> None:
        self.loader, self._it = loader, None
        self.wait_s = 0.0

    def next(self) -> dict[str, torch.Tensor]:
        started = time.perf_counter()
        if self._it is None:
            self._it = iter(self.loader)
        batch = next(self._it)
        self.wait_s += time.perf_counter() - started
        return batch


# -- the trainer -------------------------------------------------------------------------------------
@dataclasses.dataclass
class TrainState:
    step: int = 0
    tokens: int = 0


class Trainer:
    def __init__(self, args: argparse.Namespace, cfg: TrainConfig, dist_info: DistInfo) -> None:
        self.args, self.cfg, self.dist = args, cfg, dist_info
        self.device = dist_info.device
        self.out = args.out.rstrip("/")
        self.amp_dtype = resolve_dtype(cfg, self.device)
        self.state = TrainState()

    # setup -----------------------------------------------------------------------------------------
    def log(self, message: str) -> None:
        if self.dist.is_main:
            print(message, flush=True)

    def load_dataset(self) -> Manifest:
        manifest = load_manifest(self.args.data)
        if self.cfg.dataset_version and manifest.version != self.cfg.dataset_version:
            raise ManifestError(
                f"{self.args.data}: dataset version is {manifest.version}, config asks for "
                f"dataset_version={self.cfg.dataset_version}"
            )
        if not manifest.shards_for("train"):
            raise ManifestError(f"{self.args.data}: the manifest lists no train shard")
        return manifest

    def make_loader(self, split: str, epochs: int | None) -> Any:
        from lm_train.data import LoaderConfig, PackedLoader

        cfg, ws = self.cfg, self.dist.world_size
        micro, accum = (cfg.batch_size, cfg.grad_accum) if split == "train" else (cfg.batch_size, 1)
        loader_cfg = LoaderConfig(
            seq_len=cfg.seq_len,
            global_batch_size=micro * accum * ws,
            micro_batch_size=micro,
            seed=cfg.seed,
            packing=cfg.packing,
            num_workers=cfg.data_workers if split == "train" else 0,
            num_epochs=epochs,
        )
        return PackedLoader(
            data=self.args.data, split=split, config=loader_cfg, rank=self.dist.rank, world_size=ws
        )

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def setup(self) -> None:
        cfg, args = self.cfg, self.args
        self.manifest = self.load_dataset()
        resume_path = None
        if args.resume == "auto":
            resume_path = ckpt.latest_checkpoint(self.out)
        elif args.resume not in ("never", "", None):
            resume_path = ckpt.resolve_checkpoint(args.resume)
        self.resume_state = ckpt.load_checkpoint(resume_path) if resume_path else None
        self.resume_path = resume_path
        if self.resume_state is not None:
            self.check_resumable(self.resume_state)
        elif ckpt.list_checkpoints(self.out):
            raise ckpt.CheckpointError(
                f"{self.out} already holds checkpoints; pass --resume auto to continue that run, "
                "or choose another --out"
            )

        torch.manual_seed(cfg.seed)
        self.raw_model = build_model(
            dataclasses.replace(cfg, attention=resolve_attention(cfg, self.device)),
            self.manifest.tokenizer.vocab_size,
        ).to(self.device)
        if args.init_from and self.resume_state is None:
            init = ckpt.load_checkpoint(ckpt.resolve_checkpoint(args.init_from))
            self.raw_model.load_state_dict(init["model"])
            self.log(f"initialised weights from {args.init_from} (step {init.get('step')}); new schedule")
        self.optimizer = build_optimizer(self.raw_model, cfg)
        self.scheduler = Scheduler(self.optimizer, cfg)
        self.train_loader = self.make_loader("train", None)
        self.val_loader = None
        if self.manifest.shards_for("validation"):
            try:
                self.val_loader = self.make_loader("validation", 1)
            except user_errors() as exc:
                self.log(f"warning: no evaluation: the validation split cannot be loaded: {exc}")

        if self.resume_state is not None:
            st = self.resume_state
            self.raw_model.load_state_dict(st["model"])
            self.optimizer.load_state_dict(st["optimizer"])
            self.scheduler.load_state_dict(st["scheduler"])
            self.train_loader.load_state_dict(st["loader"])
            rng = st["rng"]
            ckpt.restore_rng(rng[self.dist.rank] if len(rng) == self.dist.world_size else rng[0])
            self.state = TrainState(step=int(st["step"]), tokens=int(st["tokens"]))
            self.log(f"resumed from {resume_path} at step {self.state.step} ({self.state.tokens:,} tokens)")
        else:
            torch.manual_seed(cfg.seed + 7919 * self.dist.rank)  # dropout differs per rank

        model: nn.Module = self.raw_model
        if cfg.compile:
            model = torch.compile(model)
        if self.dist.enabled:
            model = DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.model = model
        self.flops_per_token = self.raw_model.flops_per_token(cfg.seq_len)
        peak, source = peak_flops_for(self.device, cfg.peak_flops)
        self.total_peak_flops = peak * self.dist.world_size
        self.peak_source = source
        if self.dist.is_main:
            self.write_run_files(peak, source)
        barrier()

    def check_resumable(self, state: dict[str, Any]) -> None:
        if state.get("dataset_fingerprint") != self.manifest.fingerprint:
            raise ckpt.CheckpointError(
                f"checkpoint {self.resume_path} was trained on dataset {state.get('dataset_fingerprint')}, "
                f"but {self.args.data} is {self.manifest.fingerprint}; use --init-from to start a new run from it"
            )
        diff = config_differences(state.get("config", {}), self.cfg.to_dict())
        if diff:
            raise ckpt.CheckpointError(
                f"checkpoint {self.resume_path} was written with a different config: "
                + ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
            )

    def write_run_files(self, peak: float, source: str) -> None:
        fsutil.makedirs(self.out)
        fsutil.atomic_write_text(fsutil.join(self.out, "config.yaml"), self.cfg.to_yaml())
        tok_src = self.manifest.path_of(self.manifest.tokenizer.file)
        fsutil.atomic_write_bytes(fsutil.join(self.out, "tokenizer.json"), fsutil.read_bytes(tok_src))
        info = {
            "data": self.args.data,
            "dataset_fingerprint": self.manifest.fingerprint,
            "dataset_version": self.manifest.version,
            "dataset_parent_fingerprint": self.manifest.parent_fingerprint,
            "tokenizer": self.manifest.tokenizer.to_dict(),
            "init_from": self.args.init_from,
            "resumed_from": self.resume_path,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "world_size": self.dist.world_size,
            "backend": self.dist.backend,
            "device": str(self.device),
            "device_name": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
            "amp_dtype": str(self.amp_dtype).removeprefix("torch."),
            "torch": torch.__version__,
            "num_params": self.raw_model.num_params(),
            "num_params_non_embedding": self.raw_model.num_params(non_embedding=True),
            "flops_per_token": self.flops_per_token,
            "peak_flops_per_device": peak,
            "peak_flops_source": source,
            "global_batch_size": self.cfg.batch_size * self.cfg.grad_accum * self.dist.world_size,
            "tokens_per_step": self.tokens_per_step,
        }
        fsutil.atomic_write_text(fsutil.join(self.out, "run.json"), json.dumps(info, indent=2) + "\n")
        self.log(
            f"lm_train: {self.cfg.model} with {info['num_params']:,} parameters on {self.dist.world_size} × "
            f"{self.device} ({self.dist.backend}, {info['amp_dtype']}); global batch {info['global_batch_size']} × "
            f"{self.cfg.seq_len} tokens; peak {peak / 1e12:.2f} TFLOP/s/device ({source})"
        )

    @property
    def tokens_per_step(self) -> int:
        return self.cfg.batch_size * self.cfg.grad_accum * self.dist.world_size * self.cfg.seq_len

    # one step ------------------------------------------------------------------------------------------
    def train_step(self, stream: LoaderStream) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward/backward over ``grad_accum`` micro-batches and one optimizer step; returns (loss_sum, tokens)."""
        cfg = self.cfg
        micro = [stream.next() for _ in range(cfg.grad_accum)]
        counts = torch.stack([b["loss_mask"].sum() for b in micro]).sum().double().reshape(1)
        global_tokens = all_reduce_sum(counts.to(self.device)).float()
        # DDP averages gradients over ranks; scale so the result is the mean over the global batch.
        scale = self.dist.world_size / global_tokens.clamp(min=1.0)
        loss_total = torch.zeros((), device=self.device)
        for i, batch in enumerate(micro):
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            sync = i == len(micro) - 1 or not self.dist.enabled
            ctx = contextlib.nullcontext() if sync else self.model.no_sync()
            with ctx:
                with self.autocast():
                    loss_sum, _ = causal_lm_loss(self.model, batch)
                (loss_sum * scale).backward()
            loss_total += loss_sum.detach().float()
        clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        self.grad_norm = torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), clip)
        self.last_lr = self.scheduler.lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        return loss_total, global_tokens

    def save(self) -> None:
        rng = all_gather_object(ckpt.capture_rng())
        if self.dist.is_main:
            state = {
                "model": self.raw_model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "loader": self.train_loader.state_dict(),
                "rng": rng,
                "step": self.state.step,
                "tokens": self.state.tokens,
                "config": self.cfg.to_dict(),
                "dataset_fingerprint": self.manifest.fingerprint,
                "dataset_version": self.manifest.version,
                "vocab_size": self.manifest.tokenizer.vocab_size,
            }
            path = ckpt.save_checkpoint(self.out, self.state.step, state, self.cfg.keep_ckpts)
            self.log(f"checkpoint {path}")
        barrier()

    def run_eval(self, logger: MetricsLogger) -> None:
        if self.val_loader is None:
            return
        rewind = {**self.val_loader.state_dict(), "consumed_samples": 0}
        self.val_loader.load_state_dict(rewind)  # every evaluation scores the same samples
        # eval_steps counts global batches, so the samples scored do not depend on the world size.
        per_rank = self.cfg.eval_steps * self.cfg.grad_accum
        metrics = evaluate(self.raw_model, iter(self.val_loader), per_rank, self.device, self.autocast)
        logger.log({"kind": "eval", "step": self.state.step, "tokens": self.state.tokens, **metrics})

    def fit(self) -> dict[str, Any]:
        cfg, st = self.cfg, self.state
        metrics_path = os.path.join(self.out, "metrics.jsonl")
        if self.dist.is_main and self.resume_state is not None:
            truncate_metrics(metrics_path, st.step)
        elif self.dist.is_main and os.path.exists(metrics_path):
            os.remove(metrics_path)
        logger = MetricsLogger(self.out, self.dist.is_main, cfg.tensorboard, cfg.max_steps)
        stream = LoaderStream(self.train_loader)
        window_loss = torch.zeros((), device=self.device)
        window_tokens = torch.zeros(1, device=self.device)
        window_start, window_wait, window_steps = time.perf_counter(), stream.wait_s, 0
        run_start, start_step = time.perf_counter(), st.step
        last: dict[str, Any] = {}
        self.model.train()
        try:
            while st.step < cfg.max_steps:
                loss_sum, tokens = self.train_step(stream)
                st.step += 1
                st.tokens += self.tokens_per_step
                window_loss += loss_sum
                window_tokens += tokens
                window_steps += 1
                if st.step % cfg.log_every == 0 or st.step == cfg.max_steps:
                    totals = all_reduce_sum(window_loss.reshape(1).double())
                    elapsed = time.perf_counter() - window_start
                    tok_s = window_steps * self.tokens_per_step / elapsed
                    last = {
                        "kind": "train",
                        "step": st.step,
                        "loss": float(totals.item() / max(window_tokens.item(), 1.0)),
                        "lr": self.last_lr,
                        "tokens": st.tokens,
                        "tokens_per_s": tok_s,
                        "mfu": mfu(self.flops_per_token, tok_s, self.total_peak_flops),
                        "grad_norm": float(self.grad_norm),
                        "data_wait_frac": (stream.wait_s - window_wait) / elapsed,
                        "step_time_s": elapsed / window_steps,
                        "elapsed_s": time.perf_counter() - run_start,
                    }
                    done = st.step - start_step
                    eta = (time.perf_counter() - run_start) / done * (cfg.max_steps - st.step)
                    logger.log(last, eta)
                    window_loss.zero_()
                    window_tokens.zero_()
                    window_start, window_wait, window_steps = time.perf_counter(), stream.wait_s, 0
                if should_kill_self(st.step, self.dist.rank, dict(os.environ)):
                    os.kill(os.getpid(), signal.SIGKILL)
                if cfg.eval_every and st.step % cfg.eval_every == 0 and st.step < cfg.max_steps:
                    self.run_eval(logger)
                if cfg.ckpt_every and st.step % cfg.ckpt_every == 0 and st.step < cfg.max_steps:
                    self.save()
            if self.resume_state is None or self.resume_state["step"] < cfg.max_steps:
                self.run_eval(logger)
                self.save()
        finally:
            logger.close()
        return last


def _format_error(exc: BaseException) -> str:
    return f"lm_train.train: error: {type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    args, overrides = parse_args(argv)
    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as exc:
        print(_format_error(exc), file=sys.stderr)
        return 2
    dist_info = init_distributed(cfg.device)
    try:
        trainer = Trainer(args, cfg, dist_info)
        trainer.setup()
        trainer.fit()
    except user_errors() as exc:
        # A bad dataset, config or checkpoint: one clear line, no traceback to dig through.
        print(f"[rank {dist_info.rank}] {_format_error(exc)}", file=sys.stderr, flush=True)
        return 1
    finally:
        shutdown()
    return 0


def user_errors() -> tuple[type[BaseException], ...]:
    from lm_train.data import LoaderError
    from schemas import TokenShardError

    return (ConfigError, ManifestError, TokenShardError, LoaderError, ckpt.CheckpointError, FileNotFoundError)


if __name__ == "__main__":
    sys.exit(main())

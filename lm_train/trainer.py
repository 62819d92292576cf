"""The DDP training loop behind ``python -m lm_train.train`` (see that module for the CLI).

Kept apart from the command line so that ``--help`` and argument errors never wait for
torch to import. ``Trainer.setup`` puts the pieces together (``inputs``: dataset and
loaders; ``restore``: checkpoints; ``run_files``: the run directory's record), ``fit`` is
the step loop with its evaluation and checkpoint schedule (``loop``).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import time
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from lm_train import checkpoint as ckpt
from lm_train import checkpoint_state, restore
from lm_train.checkpoint_state import Part
from lm_train.cli import format_error
from lm_train.config import TrainConfig
from lm_train.distributed import (
    DistInfo,
    all_reduce_sum,
    barrier,
    init_distributed,
    shutdown,
)
from lm_train.inputs import load_dataset, read_tokenizer, validation_warning
from lm_train.loop import LoaderStream, TrainState, Window, log_due, periodic_due
from lm_train.metrics import MetricsLogger, mfu, peak_flops_for
from lm_train.objectives import OBJECTIVES
from lm_train.objectives.base import Objective
from lm_train.optim import Scheduler, build_optimizer
from lm_train.resume import BatchSplit, checkpoint_batch_split
from lm_train.run_files import started_at, write_config_and_tokenizer, write_run_json
from lm_train.rundir import RunDirError, check_out_dir, normalize_rundir, remove_stale_temporaries
from lm_train.tokenizer_file import TokenizerError
from lmcore.config import ConfigError
from lmcore.faults import train_step_point
from schemas import ManifestError

__all__ = ["Trainer", "resolve_attention", "resolve_dtype", "run", "user_errors"]


def resolve_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype:
    if cfg.runtime.dtype == "bfloat16":
        return torch.bfloat16
    if cfg.runtime.dtype == "float32":
        return torch.float32
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def resolve_attention(cfg: TrainConfig, device: torch.device) -> str:
    """The attention kernel the model is built with (``auto`` decided for the device)."""
    model = cfg.model.for_device(device.type, cfg.runtime.compile)
    return getattr(model, "attention", "sdpa")


class Trainer:
    def __init__(self, args: argparse.Namespace, cfg: TrainConfig, dist_info: DistInfo) -> None:
        self.args, self.cfg, self.dist = args, cfg, dist_info
        self.device = dist_info.device
        self.out = normalize_rundir(args.out)
        self.amp_dtype = resolve_dtype(cfg, self.device)
        self.state = TrainState()

    # setup -----------------------------------------------------------------------------------------
    def log(self, message: str) -> None:
        if self.dist.is_main:
            print(message, flush=True)

    def warn(self, message: str) -> None:
        if self.dist.is_main:
            print(message, file=sys.stderr, flush=True)

    def setup(self) -> None:
        cfg, args, seed = self.cfg, self.args, self.cfg.runtime.seed
        check_out_dir(self.out)
        self.manifest = load_dataset(args.data, cfg.data.dataset_version)
        self.tokenizer_bytes = read_tokenizer(self.manifest, args.data)
        self.objective: Objective = OBJECTIVES[cfg.objective.name](cfg, self.manifest)
        self.objective.check_dataset(args.data)
        self.clean_run_dir()
        self.resume_path, self.resume_state = restore.find_resume(args.resume, self.out)
        if self.resume_state is not None:
            restore.check_resumable(
                self.resume_state,
                self.resume_path,
                args.data,
                self.manifest.fingerprint,
                cfg,
                self.batch_split,
            )
        torch.manual_seed(seed)
        model_cfg = cfg.model.for_device(self.device.type, cfg.runtime.compile)
        body = model_cfg.build(self.manifest.tokenizer.vocab_size, cfg.data.seq_len)
        self.raw_model = self.objective.build_model(body).to(self.device)
        if args.init_from and self.resume_state is None:
            step = self.objective.init_from(
                self.raw_model, args.init_from, self.manifest.tokenizer.sha256, args.data
            )
            self.log(f"initialised weights from {args.init_from} (step {step}); new schedule")
        self.optimizer = build_optimizer(self.raw_model, cfg)
        self.scheduler = Scheduler(self.optimizer, cfg)
        self.train_loader = self.make_loader("train", None)
        self.val_loader = self.make_val_loader()
        if self.resume_state is not None:
            self.restore(self.resume_state)
        else:
            torch.manual_seed(seed + 7919 * self.dist.rank)  # dropout differs per rank
        self.wrap_model()
        peak, source = peak_flops_for(self.device, cfg.runtime.peak_flops)
        self.total_peak_flops = peak * self.dist.world_size
        if self.dist.is_main:
            self.write_run_files(peak, source)
        barrier()

    def clean_run_dir(self) -> None:
        """Rank 0, before anything writes: delete the temporary files a killed run left behind."""
        if not self.dist.is_main:
            return
        files, freed = remove_stale_temporaries(self.out)
        if files:
            self.log(
                f"removed {files} stale temporary file(s) ({freed / 1e6:,.1f} MB) left by an interrupted run"
            )

    def make_loader(self, split: str, epochs: int | None) -> Any:
        return self.objective.make_loader(self.args.data, split, self.dist.rank, self.dist.world_size, epochs)

    def make_val_loader(self) -> Any:
        val = self.manifest.shards_for("validation")
        if not val:
            self.warn("warning: the dataset has no validation split: no evaluation")
            return None
        warning = validation_warning(
            sum(s.num_docs for s in val), sum(s.num_tokens for s in val), self.cfg.data.seq_len
        )
        if warning:
            self.warn(warning)
        try:
            return self.make_loader("validation", 1)
        except user_errors() as exc:
            self.warn(f"warning: no evaluation: the validation split cannot be loaded: {exc}")
            return None

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    @property
    def batch_split(self) -> BatchSplit:
        return BatchSplit(self.cfg.data.batch_size, self.cfg.data.grad_accum, self.dist.world_size)

    def checkpoint_parts(self) -> list[Part]:
        """The run's stateful components, in the order a resume restores them."""
        rng = restore.RankRNG(self.dist.rank, self.cfg.runtime.seed, lambda: self.state.step)
        return [
            Part(
                "model",
                self.raw_model,
                lambda value, path: restore.restore_model(self.raw_model, value, path),
            ),
            Part(
                "optimizer",
                self.optimizer,
                lambda value, path: restore.restore_optimizer(self.optimizer, value, path),
            ),
            Part("scheduler", self.scheduler),
            Part("loader", self.train_loader),
            Part("objective", self.objective, required=False),  # older checkpoints have none
            Part("rng", rng, rng.load),
            Part(None, self.state),  # step and tokens, at the top level
        ]

    def restore(self, st: dict[str, Any]) -> None:
        path = self.resume_path
        restore.check_counters(st, path)
        self.state = TrainState(step=int(st["step"]), tokens=int(st["tokens"]))
        checkpoint_state.restore(self.checkpoint_parts(), st, path)
        old = checkpoint_batch_split(st)
        split = "" if old == self.batch_split else f"; batch split {old} -> {self.batch_split}"
        self.log(
            f"resumed from {self.resume_path} at step {self.state.step} ({self.state.tokens:,} tokens){split}"
        )

    def wrap_model(self) -> None:
        model: nn.Module = self.raw_model
        if self.cfg.runtime.compile:
            model = torch.compile(model)
        if self.dist.enabled:
            model = DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.model = model
        self.flops_per_token = self.raw_model.flops_per_token(self.cfg.data.seq_len)

    def write_run_files(self, peak: float, source: str) -> None:
        write_config_and_tokenizer(self.out, self.cfg, self.tokenizer_bytes)
        info = {
            "data": self.args.data,
            "dataset_fingerprint": self.manifest.fingerprint,
            "dataset_version": self.manifest.version,
            "dataset_parent_fingerprint": self.manifest.parent_fingerprint,
            "tokenizer": self.manifest.tokenizer.to_dict(),
            "init_from": self.args.init_from,
            "resumed_from": self.resume_path,
            "started_at": started_at(),
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
            "global_batch_size": self.batch_split.global_batch,
            "tokens_per_step": self.tokens_per_step,
        }
        write_run_json(self.out, info)
        self.log(
            f"lm_train: {self.cfg.model.name} with {info['num_params']:,} parameters on {self.dist.world_size} × "
            f"{self.device} ({self.dist.backend}, {info['amp_dtype']}); global batch {info['global_batch_size']} × "
            f"{self.cfg.data.seq_len} tokens; peak {peak / 1e12:.2f} TFLOP/s/device ({source})"
        )

    @property
    def tokens_per_step(self) -> int:
        return self.batch_split.global_batch * self.cfg.data.seq_len

    # one step ------------------------------------------------------------------------------------------
    def train_step(self, stream: LoaderStream) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward/backward over ``grad_accum`` micro-batches and one optimizer step.

        Returns this rank's summed loss and the global batch's token count, both float64.
        The gradient is the sum of every token's loss gradient over the global batch divided
        by the global token count, whatever the split into ranks and micro-steps.
        """
        cfg = self.cfg
        micro = [self.objective.collate(stream.next()) for _ in range(cfg.data.grad_accum)]
        counts = torch.stack([self.objective.count(b) for b in micro]).sum().reshape(1)
        global_tokens = all_reduce_sum(counts.to(self.device))
        # DDP averages gradients over ranks; scale so the result is the mean over the global batch.
        scale = (self.dist.world_size / global_tokens.clamp(min=1.0)).float()
        loss_total = torch.zeros((), dtype=torch.float64, device=self.device)
        for i, batch in enumerate(micro):
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            sync = i == len(micro) - 1 or not self.dist.enabled
            ctx = contextlib.nullcontext() if sync else self.model.no_sync()
            with ctx:
                with self.autocast():
                    loss_sum, _ = self.objective.loss(self.model, batch)
                (loss_sum * scale).backward()
            loss_total += loss_sum.detach().double()
        clip = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else float("inf")
        self.grad_norm = torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), clip)
        self.last_lr = self.scheduler.lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        return loss_total, global_tokens.reshape(())

    def save(self) -> None:
        # Every rank gathers: the RNG part is a collective (each rank's generator states).
        metadata = {
            "config": self.cfg.to_dict(),
            "world_size": self.dist.world_size,
            "dataset_fingerprint": self.manifest.fingerprint,
            "dataset_version": self.manifest.version,
            "vocab_size": self.manifest.tokenizer.vocab_size,
            "tokenizer_sha256": self.manifest.tokenizer.sha256,
        }
        state = checkpoint_state.gather(self.checkpoint_parts(), metadata)
        if self.dist.is_main:
            path = ckpt.save_checkpoint(self.out, self.state.step, state, self.cfg.run.keep_ckpts)
            self.log(f"checkpoint {path}")
        barrier()

    def run_eval(self, logger: MetricsLogger) -> None:
        if self.val_loader is None:
            return
        rewind = {**self.val_loader.state_dict(), "consumed_samples": 0}
        self.val_loader.load_state_dict(rewind)  # every evaluation scores the same samples
        # eval_steps counts global batches, so the samples scored do not depend on the world size.
        per_rank = self.cfg.run.eval_steps * self.cfg.data.grad_accum
        batches = itertools.islice(iter(self.val_loader), per_rank)
        metrics = self.objective.evaluate(self.raw_model, batches, device=self.device, autocast=self.autocast)
        record = self.objective.eval_record(metrics)
        logger.log({"kind": "eval", "step": self.state.step, "tokens": self.state.tokens, **record})

    def train_record(self, window: Window, stream: LoaderStream, run_start: float) -> dict[str, Any]:
        """The logged record for the steps in ``window`` (one scalar all-reduce for the loss)."""
        loss_sum = all_reduce_sum(window.totals[:1].clone())
        elapsed = time.perf_counter() - window.start
        tok_s = window.steps * self.tokens_per_step / elapsed
        return {
            "kind": "train",
            "step": self.state.step,
            "loss": float(loss_sum.item() / max(window.totals[1].item(), 1.0)),
            "lr": self.last_lr,
            "tokens": self.state.tokens,
            "tokens_per_s": tok_s,
            "mfu": mfu(self.flops_per_token, tok_s, self.total_peak_flops),
            "grad_norm": float(self.grad_norm),
            "data_wait_frac": (stream.wait_s - window.wait_s) / elapsed,
            "step_time_s": elapsed / window.steps,
            "elapsed_s": time.perf_counter() - run_start,
        }

    def fit(self) -> dict[str, Any]:
        every, st, max_steps = self.cfg.run, self.state, self.cfg.optim.max_steps
        # A resumed run keeps the records up to its checkpoint; a new run starts the file afresh.
        logger = MetricsLogger(
            self.out, self.dist.is_main, every.tensorboard, max_steps, keep_steps_upto=st.step
        )
        stream = LoaderStream(self.train_loader)
        window = Window(self.device, stream.wait_s)
        run_start, start_step = time.perf_counter(), st.step
        last: dict[str, Any] = {}
        self.model.train()
        try:
            while st.step < max_steps:
                window.add(*self.train_step(stream))
                st.step += 1
                st.tokens += self.tokens_per_step
                if log_due(st.step, every.log_every, max_steps):
                    last = self.train_record(window, stream, run_start)
                    done = st.step - start_step
                    logger.log(last, (time.perf_counter() - run_start) / done * (max_steps - st.step))
                    window.reset(stream.wait_s)
                train_step_point(st.step, self.dist.rank)
                if periodic_due(st.step, every.eval_every, max_steps):
                    self.run_eval(logger)
                    logger.sync()
                if periodic_due(st.step, every.ckpt_every, max_steps):
                    self.save()
                    logger.sync()
            if self.resume_state is None or self.resume_state["step"] < max_steps:
                self.run_eval(logger)
                self.save()
        finally:
            logger.close()
        return last


def user_errors() -> tuple[type[BaseException], ...]:
    from lm_train.data import LoaderError
    from schemas import TokenShardError

    return (
        ConfigError,
        ManifestError,
        TokenShardError,
        LoaderError,
        ckpt.CheckpointError,
        TokenizerError,
        RunDirError,
        FileNotFoundError,
    )


def out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError | torch.OutOfMemoryError) or "can't allocate memory" in str(exc)


def run(args: argparse.Namespace, cfg: TrainConfig) -> int:
    """Join the process group, train, leave it; a user error is one line on stderr and exit 1."""
    rank = int(os.environ.get("RANK", "0"))
    try:
        dist_info = init_distributed(cfg.runtime.device)
        rank = dist_info.rank
        trainer = Trainer(args, cfg, dist_info)
        trainer.setup()
        trainer.fit()
    except user_errors() as exc:
        # A bad dataset, config or checkpoint: one clear line, no traceback to dig through.
        print(f"[rank {rank}] {format_error('lm_train.train', exc)}", file=sys.stderr, flush=True)
        return 1
    except OSError as exc:  # a disk or permission problem outside the checked writes
        print(f"[rank {rank}] {format_error('lm_train.train', exc)}", file=sys.stderr, flush=True)
        return 1
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(
            f"[rank {rank}] lm_train.train: error: out of memory ({first}); lower batch_size, seq_len, "
            "d_model or n_layer, or use grad_accum",
            file=sys.stderr,
            flush=True,
        )
        return 1
    finally:
        shutdown()
    return 0

"""The DDP training loop behind ``python -m lm_train.train`` (see that module for the CLI).

Kept apart from the command line so that ``--help`` and argument errors never wait for
torch to import.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from lm_train import checkpoint as ckpt
from lm_train.cli import format_error
from lm_train.config import ConfigError, TrainConfig
from lm_train.distributed import (
    DistInfo,
    all_gather_object,
    all_reduce_sum,
    barrier,
    init_distributed,
    shutdown,
)
from lm_train.evaluate import evaluate
from lm_train.metrics import MetricsLogger, mfu, peak_flops_for
from lm_train.models import build_model
from lm_train.objectives import causal_lm_loss
from lm_train.optim import Scheduler, build_optimizer
from lm_train.resume import (
    BatchSplit,
    checkpoint_batch_split,
    config_differences,
    global_batch_mismatch,
)
from lm_train.rundir import RunDirError, check_out_dir, normalize_rundir, remove_stale_temporaries
from lm_train.tokenizer_file import TokenizerError, check_bytes
from lmcore import storage
from lmcore.faults import train_step_point
from schemas import Manifest, ManifestError, load_manifest

# What a checkpoint must hold to be resumed (``ckpt.require``).
RESUME_KINDS: dict[str, type | tuple[type, ...]] = {
    "model": dict,
    "optimizer": dict,
    "scheduler": dict,
    "loader": dict,
    "rng": list,
    "step": int,
    "tokens": int,
    "config": dict,
}

# Below these, validation loss is too noisy to compare runs or pick checkpoints by.
MIN_VALIDATION_DOCS = 20
MIN_VALIDATION_SEQS = 10


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


def validation_warning(num_docs: int, num_tokens: int, seq_len: int) -> str | None:
    """The warning for a validation split below the floor, or ``None`` when it is large enough."""
    min_tokens = MIN_VALIDATION_SEQS * seq_len
    if num_docs >= MIN_VALIDATION_DOCS and num_tokens >= min_tokens:
        return None
    return (
        f"warning: the validation split is small: {num_docs:,} documents, {num_tokens:,} tokens "
        f"(want >= {MIN_VALIDATION_DOCS} documents and >= {MIN_VALIDATION_SEQS} × seq_len = "
        f"{min_tokens:,} tokens); validation loss and bits per byte will be noisy"
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


@dataclasses.dataclass
class TrainState:
    step: int = 0
    tokens: int = 0


class Window:
    """Loss sums and token counts since the last logged step (float64: the mean is exact to print)."""

    def __init__(self, device: torch.device, wait_s: float) -> None:
        self.totals = torch.zeros(2, dtype=torch.float64, device=device)
        self.reset(wait_s)

    def reset(self, wait_s: float) -> None:
        self.totals.zero_()
        self.start, self.wait_s, self.steps = time.perf_counter(), wait_s, 0

    def add(self, loss_sum: torch.Tensor, tokens: torch.Tensor) -> None:
        self.totals[0] += loss_sum
        self.totals[1] += tokens
        self.steps += 1


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

    def load_dataset(self) -> Manifest:
        manifest = load_manifest(self.args.data)
        if self.cfg.dataset_version and manifest.version != self.cfg.dataset_version:
            raise ManifestError(
                f"{self.args.data}: dataset version is {manifest.version}, config asks for "
                f"dataset_version={self.cfg.dataset_version}"
            )
        if not manifest.shards_for("train"):
            raise ManifestError(f"{self.args.data}: the manifest lists no train shard")
        self.tokenizer_bytes = self.read_tokenizer(manifest)
        return manifest

    def read_tokenizer(self, manifest: Manifest) -> bytes:
        """The dataset's tokenizer file, refused unless it is the one the manifest pins (sha256)
        and holds the manifest's ``vocab_size`` ids: the model's embedding is built from that number."""
        info = manifest.tokenizer
        path = manifest.path_of(info.file)
        try:
            data = storage.read_bytes(path)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise TokenizerError(
                f"tokenizer {info.file!r} is listed in the manifest but missing ({path})"
            ) from exc
        check_bytes(data, f"tokenizer {info.file!r} of {self.args.data}", info.sha256, info.vocab_size)
        return data

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

    @property
    def batch_split(self) -> BatchSplit:
        return BatchSplit(self.cfg.batch_size, self.cfg.grad_accum, self.dist.world_size)

    def find_resume_state(self) -> None:
        args = self.args
        resume_path = None
        if args.resume == "auto":
            resume_path = ckpt.latest_checkpoint(self.out)
        elif args.resume not in ("never", "", None):
            resume_path = ckpt.resolve_checkpoint(args.resume)
        self.resume_path = resume_path
        self.resume_state = ckpt.load_checkpoint(resume_path) if resume_path else None
        if self.resume_state is not None:
            ckpt.require(self.resume_state, resume_path, RESUME_KINDS)
            self.check_resumable(self.resume_state)
        elif ckpt.list_checkpoints(self.out):
            raise ckpt.CheckpointError(
                f"{self.out} already holds checkpoints; pass --resume auto to continue that run, "
                "or choose another --out"
            )

    def setup(self) -> None:
        cfg, args = self.cfg, self.args
        check_out_dir(self.out)
        self.manifest = self.load_dataset()
        self.clean_run_dir()
        self.find_resume_state()
        torch.manual_seed(cfg.seed)
        self.raw_model = build_model(
            dataclasses.replace(cfg, attention=resolve_attention(cfg, self.device)),
            self.manifest.tokenizer.vocab_size,
        ).to(self.device)
        if args.init_from and self.resume_state is None:
            self.init_weights(args.init_from)
        self.optimizer = build_optimizer(self.raw_model, cfg)
        self.scheduler = Scheduler(self.optimizer, cfg)
        self.train_loader = self.make_loader("train", None)
        self.val_loader = self.make_val_loader()
        if self.resume_state is not None:
            self.restore(self.resume_state)
        else:
            torch.manual_seed(cfg.seed + 7919 * self.dist.rank)  # dropout differs per rank
        self.wrap_model()
        peak, source = peak_flops_for(self.device, cfg.peak_flops)
        self.total_peak_flops = peak * self.dist.world_size
        if self.dist.is_main:
            self.write_run_files(peak, source)
        barrier()

    def make_val_loader(self) -> Any:
        val = self.manifest.shards_for("validation")
        if not val:
            self.warn("warning: the dataset has no validation split: no evaluation")
            return None
        warning = validation_warning(
            sum(s.num_docs for s in val), sum(s.num_tokens for s in val), self.cfg.seq_len
        )
        if warning:
            self.warn(warning)
        try:
            return self.make_loader("validation", 1)
        except user_errors() as exc:
            self.warn(f"warning: no evaluation: the validation split cannot be loaded: {exc}")
            return None

    def init_weights(self, source: str) -> None:
        """``--init-from``: the weights only, refused when they do not fit this model or are not finite."""
        path = ckpt.resolve_checkpoint(source)
        init = ckpt.load_checkpoint(path)
        ckpt.require(init, path, {"model": dict})
        ckpt.check_model_state(init["model"], self.raw_model, path)
        self.raw_model.load_state_dict(init["model"])
        self.log(f"initialised weights from {source} (step {init.get('step')}); new schedule")

    def restore(self, st: dict[str, Any]) -> None:
        path = self.resume_path
        ckpt.check_model_state(st["model"], self.raw_model, path)
        self.raw_model.load_state_dict(st["model"])
        self.restore_optimizer(st["optimizer"], path)
        step = st["scheduler"].get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step != st["step"] or st["tokens"] < 0:
            raise ckpt.CheckpointError(
                f"checkpoint {path}: scheduler step {step!r}, step {st['step']!r} and tokens {st['tokens']!r} "
                "do not agree; it is damaged"
            )
        self.scheduler.load_state_dict(st["scheduler"])
        self.train_loader.load_state_dict(st["loader"])
        self.restore_rng(st["rng"], int(st["step"]))
        self.state = TrainState(step=int(st["step"]), tokens=int(st["tokens"]))
        old = checkpoint_batch_split(st)
        split = "" if old == self.batch_split else f"; batch split {old} -> {self.batch_split}"
        self.log(
            f"resumed from {self.resume_path} at step {self.state.step} ({self.state.tokens:,} tokens){split}"
        )

    def restore_optimizer(self, state: dict[str, Any], path: str) -> None:
        try:
            self.optimizer.load_state_dict(state)
        except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
            raise ckpt.CheckpointError(
                f"checkpoint {path}: the optimizer state does not fit this model ({exc})"
            ) from exc
        ckpt.check_optimizer_state(self.optimizer, path)

    def restore_rng(self, states: list[dict[str, Any]], step: int) -> None:
        """Each rank continues its own RNG stream; a rank the checkpoint did not have gets a fresh one."""
        rank = self.dist.rank
        if rank >= len(states):
            torch.manual_seed(self.cfg.seed + 7919 * rank + 104729 * step)
            return
        try:
            ckpt.restore_rng(states[rank])
        except (ValueError, KeyError, TypeError, IndexError, RuntimeError, AttributeError) as exc:
            raise ckpt.CheckpointError(
                f"checkpoint {self.resume_path}: the RNG state of rank {rank} is damaged "
                f"({type(exc).__name__}: {exc}); resume from another checkpoint, or --init-from for the weights"
            ) from exc

    def wrap_model(self) -> None:
        model: nn.Module = self.raw_model
        if self.cfg.compile:
            model = torch.compile(model)
        if self.dist.enabled:
            model = DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.model = model
        self.flops_per_token = self.raw_model.flops_per_token(self.cfg.seq_len)

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
        mismatch = global_batch_mismatch(checkpoint_batch_split(state), self.batch_split)
        if mismatch:
            raise ckpt.CheckpointError(f"checkpoint {self.resume_path} cannot be resumed: {mismatch}")

    def write_run_files(self, peak: float, source: str) -> None:
        try:
            storage.makedirs(self.out)
            ckpt.write_file(storage.join(self.out, "config.yaml"), self.cfg.to_yaml().encode())
            # The bytes checked against the manifest at start, not whatever the file holds now.
            ckpt.write_file(storage.join(self.out, "tokenizer.json"), self.tokenizer_bytes)
        except OSError as exc:
            raise RunDirError(f"cannot write the run directory {self.out}: {exc.strerror or exc}") from exc
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
            "global_batch_size": self.batch_split.global_batch,
            "tokens_per_step": self.tokens_per_step,
        }
        ckpt.write_file(storage.join(self.out, "run.json"), (json.dumps(info, indent=2) + "\n").encode())
        self.log(
            f"lm_train: {self.cfg.model} with {info['num_params']:,} parameters on {self.dist.world_size} × "
            f"{self.device} ({self.dist.backend}, {info['amp_dtype']}); global batch {info['global_batch_size']} × "
            f"{self.cfg.seq_len} tokens; peak {peak / 1e12:.2f} TFLOP/s/device ({source})"
        )

    @property
    def tokens_per_step(self) -> int:
        return self.batch_split.global_batch * self.cfg.seq_len

    # one step ------------------------------------------------------------------------------------------
    def train_step(self, stream: LoaderStream) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward/backward over ``grad_accum`` micro-batches and one optimizer step.

        Returns this rank's summed loss and the global batch's token count, both float64.
        The gradient is the sum of every token's loss gradient over the global batch divided
        by the global token count, whatever the split into ranks and micro-steps.
        """
        cfg = self.cfg
        micro = [stream.next() for _ in range(cfg.grad_accum)]
        counts = torch.stack([b["loss_mask"].double().sum() for b in micro]).sum().reshape(1)
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
                    loss_sum, _ = causal_lm_loss(self.model, batch)
                (loss_sum * scale).backward()
            loss_total += loss_sum.detach().double()
        clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        self.grad_norm = torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), clip)
        self.last_lr = self.scheduler.lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        return loss_total, global_tokens.reshape(())

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
                "world_size": self.dist.world_size,
                "dataset_fingerprint": self.manifest.fingerprint,
                "dataset_version": self.manifest.version,
                "vocab_size": self.manifest.tokenizer.vocab_size,
                "tokenizer_sha256": self.manifest.tokenizer.sha256,
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
        cfg, st = self.cfg, self.state
        # A resumed run keeps the records up to its checkpoint; a new run starts the file afresh.
        logger = MetricsLogger(
            self.out, self.dist.is_main, cfg.tensorboard, cfg.max_steps, keep_steps_upto=st.step
        )
        stream = LoaderStream(self.train_loader)
        window = Window(self.device, stream.wait_s)
        run_start, start_step = time.perf_counter(), st.step
        last: dict[str, Any] = {}
        self.model.train()
        try:
            while st.step < cfg.max_steps:
                window.add(*self.train_step(stream))
                st.step += 1
                st.tokens += self.tokens_per_step
                if st.step % cfg.log_every == 0 or st.step == cfg.max_steps:
                    last = self.train_record(window, stream, run_start)
                    done = st.step - start_step
                    logger.log(last, (time.perf_counter() - run_start) / done * (cfg.max_steps - st.step))
                    window.reset(stream.wait_s)
                train_step_point(st.step, self.dist.rank)
                if cfg.eval_every and st.step % cfg.eval_every == 0 and st.step < cfg.max_steps:
                    self.run_eval(logger)
                    logger.sync()
                if cfg.ckpt_every and st.step % cfg.ckpt_every == 0 and st.step < cfg.max_steps:
                    self.save()
                    logger.sync()
            if self.resume_state is None or self.resume_state["step"] < cfg.max_steps:
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
        dist_info = init_distributed(cfg.device)
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

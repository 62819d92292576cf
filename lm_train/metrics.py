"""Telemetry: ``RUNDIR/metrics.jsonl``, TensorBoard scalars and a console line per logged step.

For a run directory on a URL, ``metrics.jsonl`` and ``tensorboard/`` are written to a local
staging copy and uploaded (``MetricsLogger.sync``; see ``lm_train.rundir``).

Every logged training step is one JSON object ``{"kind": "train", "step", "loss", "lr",
"tokens", "tokens_per_s", "mfu", "grad_norm", "data_wait_frac", ...}``; evaluations are
``{"kind": "eval", "step", "val_loss", "val_ppl", "val_bpb", ...}``. Only rank 0 writes.

MFU = achieved model FLOP/s ÷ peak FLOP/s of all devices, with the model's training
FLOPs per token (6N + attention). Peak FLOP/s: ``peak_flops`` from the config, else a
table of dense bf16 peaks for known GPUs, else (CPU) a measured float32 matmul rate: an
honest "fraction of what this machine's BLAS reaches", not a vendor number.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from lm_train.rundir import StagedFiles
from lmcore import storage
from lmcore.layout import METRICS_FILENAME, TENSORBOARD_DIR

if TYPE_CHECKING:
    import torch

# Dense (no sparsity) bf16 tensor-core peaks, FLOP/s.
GPU_PEAK_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "A10": 125e12,
    "L40": 181e12,
    "L4": 121e12,
    "4090": 165e12,
    "3090": 71e12,
    "V100": 125e12,
    "T4": 65e12,
}


def measure_matmul_flops(size: int = 512, seconds: float = 0.3) -> float:
    """FLOP/s of a float32 square matmul on this CPU (threads as configured)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm up
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.mm(a, b)
        n += 1
    return 2.0 * size**3 * n / (time.perf_counter() - started)


def peak_flops_for(device: torch.device, configured: float = 0.0) -> tuple[float, str]:
    """(peak FLOP/s of one device, where the number comes from)."""
    if configured > 0:
        return configured, "config"
    if device.type == "cuda":
        import torch

        name = torch.cuda.get_device_name(device)
        for key, flops in GPU_PEAK_FLOPS.items():
            if key in name:
                return flops, f"table ({name}, bf16 dense)"
        return 0.0, f"unknown GPU {name}: set peak_flops"
    return measure_matmul_flops(), "measured fp32 matmul"


def mfu(flops_per_token: float, tokens_per_s: float, total_peak_flops: float) -> float:
    return flops_per_token * tokens_per_s / total_peak_flops if total_peak_flops > 0 else 0.0


def format_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


# The metrics an evaluation of another objective prints on its console line, in this order.
EVAL_HEADLINE = ("loss", "accuracy", "macro_f1", "masked_accuracy", "exact_match", "bleu", "chrf")


def console_line(rec: dict[str, Any], max_steps: int, eta_s: float) -> str:
    if rec.get("kind") == "eval":
        if "val_loss" in rec:
            return (
                f"eval step {rec['step']}: val_loss {rec['val_loss']:.4f} | ppl {rec['val_ppl']:.2f} "
                f"| bpb {rec['val_bpb']:.4f} | {rec['val_tokens']} tokens"
            )
        shown = [f"{k} {v:.4f}" for k, v in rec.items() if k in EVAL_HEADLINE and isinstance(v, float)]
        return f"eval step {rec['step']}: " + " | ".join(shown)
    return (
        f"step {rec['step']}/{max_steps} | loss {rec['loss']:.4f} | lr {rec['lr']:.2e} "
        f"| gnorm {rec['grad_norm']:.2f} | {rec['tokens_per_s']:,.0f} tok/s | mfu {100 * rec['mfu']:.1f}% "
        f"| data wait {100 * rec['data_wait_frac']:.1f}% | eta {format_duration(eta_s)}"
    )


def _record(line: str) -> dict[str, Any] | None:
    """One JSONL record, or None for a line that is not a JSON object (cut by a kill mid-write)."""
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def truncate_metrics(path: str, last_step: int) -> None:
    """Drop records past ``last_step`` (written by an attempt that died before its next checkpoint),
    and lines that are not records: a kill while writing leaves half a line."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [(line, _record(line)) for line in f if line.strip()]
    kept = [
        line if line.endswith("\n") else line + "\n"
        for line, rec in lines
        if rec is not None and isinstance(rec.get("step", 0), int) and rec.get("step", 0) <= last_step
    ]
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(kept)
    os.replace(tmp, path)


def read_metrics(path: str) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (local path or URL). A last line that is not a record
    (a kill mid-write) is left out; a damaged line before it is a ``ValueError`` naming it."""
    lines = [line for line in storage.read_text(path).splitlines() if line.strip()]
    records = [_record(line) for line in lines]
    for number, rec in enumerate(records[:-1], start=1):
        if rec is None:
            raise ValueError(f"{path}: record {number} is not a JSON object: {lines[number - 1][:60]!r}")
    return [rec for rec in records if rec is not None]


class MetricsLogger:
    """Rank 0 writes JSONL + TensorBoard + console; other ranks get a no-op logger.

    ``keep_steps_upto=k`` keeps the records of steps ``<= k`` already in the file (a resumed
    run: 0 starts it afresh); ``None`` appends to whatever is there.
    """

    SYNC_EVERY_S = 60.0

    def __init__(
        self,
        rundir: str,
        enabled: bool,
        tensorboard: bool,
        max_steps: int,
        keep_steps_upto: int | None = None,
    ) -> None:
        self.enabled, self.max_steps = enabled, max_steps
        # Only the writing rank stages files (a URL run directory gets a local temporary copy).
        self.files = StagedFiles(rundir) if enabled else None
        self.path = (
            self.files.path(METRICS_FILENAME) if self.files else storage.join(rundir, METRICS_FILENAME)
        )
        self._file = self._open(keep_steps_upto) if enabled else None
        self._tb = self._open_tensorboard() if enabled and tensorboard else None
        self._synced_at = time.monotonic()

    def _open(self, keep_steps_upto: int | None) -> Any:
        os.makedirs(self.files.local, exist_ok=True)
        if keep_steps_upto == 0:
            return open(self.path, "w", encoding="utf-8")
        if keep_steps_upto is not None:
            self.files.fetch(METRICS_FILENAME)
            truncate_metrics(self.path, keep_steps_upto)
        return open(self.path, "a", encoding="utf-8")

    def _open_tensorboard(self) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter

            return SummaryWriter(self.files.path(TENSORBOARD_DIR))
        except Exception as exc:  # TensorBoard is optional; never fail a run over it
            print(f"tensorboard disabled: {exc}", file=sys.stderr)
            return None

    def log(self, record: dict[str, Any], eta_s: float = 0.0) -> None:
        if not self.enabled:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self._file.write(json.dumps(clean) + "\n")
        self._file.flush()
        if self._tb is not None:
            prefix = "eval" if record.get("kind") == "eval" else "train"
            for key, value in record.items():
                if key not in ("step", "kind") and isinstance(value, int | float) and math.isfinite(value):
                    self._tb.add_scalar(f"{prefix}/{key}", value, record["step"])
        print(console_line(record, self.max_steps, eta_s), flush=True)
        if time.monotonic() - self._synced_at > self.SYNC_EVERY_S:
            self.sync()

    def sync(self) -> None:
        """Upload metrics.jsonl and tensorboard/ when the run directory is a URL (no-op otherwise)."""
        if self.files is None or not self.files.remote:
            return
        if self._tb is not None:
            self._tb.flush()
        self.files.sync()
        self._synced_at = time.monotonic()

    def close(self) -> None:
        if self._file:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
        if self.files is not None:
            self.files.close()

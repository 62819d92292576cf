"""Checkpoints: ``RUNDIR/checkpoints/step-NNNNNNNN.pt``, written atomically, the last K kept.

A checkpoint holds everything needed to continue as if nothing happened: model,
optimizer, scheduler, the RNG states of every rank (python, numpy, torch, CUDA), the
loader state, the step and the tokens seen, plus the config and dataset fingerprint for
checks. Only tensors and plain Python values go in, so ``torch.load(weights_only=True)``
reads it (no pickled code runs when a checkpoint is opened).

The file is written to a temporary sibling and renamed into place, so a crash while
saving leaves the previous checkpoint intact and never a partial one under the real name.
Paths may be local or fsspec URLs.
"""

from __future__ import annotations

import io
import random
import re
from typing import Any

import fsspec
import numpy as np
import torch

from pipelines import fsutil

CKPT_DIR = "checkpoints"
_NAME = re.compile(r"step-(\d{8})\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or does not fit this run."""


def checkpoint_path(rundir: str, step: int) -> str:
    return fsutil.join(rundir, CKPT_DIR, f"step-{step:08d}.pt")


def list_checkpoints(rundir: str) -> list[tuple[int, str]]:
    """``(step, path)`` of the complete checkpoints of a run, oldest first."""
    directory = fsutil.join(rundir, CKPT_DIR)
    fs, fs_dir = fsutil.get_fs(directory)
    if not fs.exists(fs_dir):
        return []
    found = []
    for name in fs.ls(fs_dir, detail=False):
        base = name.rsplit("/", 1)[-1]
        m = _NAME.fullmatch(base)
        if m:
            found.append((int(m.group(1)), fsutil.join(directory, base)))
    return sorted(found)


def latest_checkpoint(rundir: str) -> str | None:
    found = list_checkpoints(rundir)
    return found[-1][1] if found else None


def resolve_checkpoint(path: str) -> str:
    """A checkpoint file, or the latest checkpoint of a run directory."""
    if path.endswith(".pt"):
        if not fsutil.exists(path):
            raise CheckpointError(f"checkpoint {path} does not exist")
        return path
    latest = latest_checkpoint(path)
    if latest is None:
        raise CheckpointError(f"{path} holds no checkpoint (looked in {fsutil.join(path, CKPT_DIR)})")
    return latest


def save_checkpoint(rundir: str, step: int, state: dict[str, Any], keep: int) -> str:
    """Write ``state`` atomically as the checkpoint of ``step``; delete all but the newest ``keep``."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = checkpoint_path(rundir, step)
    fsutil.atomic_write_bytes(path, buffer.getvalue())
    for _, old in list_checkpoints(rundir)[:-keep]:
        fs, fs_path = fsutil.get_fs(old)
        fs.rm(fs_path)
    return path


def load_checkpoint(path: str) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` onto the CPU."""
    try:
        with fsspec.open(path, "rb") as f:
            return torch.load(io.BytesIO(f.read()), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint {path} does not exist") from exc
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read: {exc}") from exc


# -- RNG state as tensors and plain values -------------------------------------------------------------
def capture_rng() -> dict[str, Any]:
    """This process's RNG states in a form ``weights_only`` loading accepts."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), np_pos, np_has_gauss, np_gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    name, keys, pos, has_gauss, np_gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, np_gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])

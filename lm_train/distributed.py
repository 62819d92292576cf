"""Process-group setup from the ``torchrun`` environment, and the few collectives we use.

Without torchrun (no ``WORLD_SIZE`` in the environment) everything runs in one process and
the collectives are identities, so ``python -m lm_train.train`` works for debugging.
Backend: NCCL when the process drives a CUDA device, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from lmcore.config import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return dist.is_initialized()


def resolve_device(preference: str, local_rank: int) -> torch.device:
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "config: device=cuda, but this machine has no usable CUDA device "
            "(torch.cuda.is_available() is False); use device=auto or device=cpu"
        )
    if preference != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(device_preference: str = "auto", timeout_s: int = 600) -> DistInfo:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_preference, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    # Under torchrun even one process joins a group, so the NCCL/gloo path is the one exercised.
    launched = "TORCHELASTIC_RESTART_COUNT" in os.environ
    if (world_size > 1 or launched) and not dist.is_initialized():
        timeout = timedelta(seconds=timeout_s)
        kwargs: dict[str, Any] = {"backend": backend, "timeout": timeout}
        if device.type == "cuda":
            kwargs["device_id"] = device
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT")
        if attempt is not None:
            kwargs.update(
                store=attempt_store(attempt, rank, world_size, timeout), rank=rank, world_size=world_size
            )
        dist.init_process_group(**kwargs)
    return DistInfo(rank, local_rank, world_size, device, backend)


def attempt_store(attempt: str, rank: int, world_size: int, timeout: timedelta) -> dist.Store:
    """The env:// store, with keys private to this restart attempt.

    torchrun keeps one TCPStore for all restarts of a worker group, so without a prefix
    the restarted processes can read the previous attempt's gloo/NCCL connection keys
    (addresses of dead processes) and hang while connecting.
    """
    store, _, _ = next(dist.rendezvous("env://", rank, world_size, timeout=timeout))
    return dist.PrefixStore(f"lmforge/attempt-{attempt}", store)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_gather_object(obj: Any) -> list[Any]:
    if not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()

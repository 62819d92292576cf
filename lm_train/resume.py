"""What a resumed run may change; pure functions, no torch.

A checkpoint fixes the run's math: the model, the optimisation settings and the data
stream. The stream depends on the dataset, the seed, ``seq_len`` and the *global* batch
``batch_size × grad_accum × world_size`` only, so the split of that batch into ranks,
micro-batches and accumulation steps may change on resume (elastic resume), as may the
bookkeeping settings in ``RESUMABLE_CHANGES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lm_train.config import TrainConfig, flatten
from lmcore.config import ConfigError

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
# May change when the global batch they multiply to (with the world size) stays the same.
BATCH_SPLIT_KEYS = {"batch_size", "grad_accum"}


class BatchSplit(tuple):
    """``(batch_size, grad_accum, world_size)``; ``.global_batch`` is their product."""

    def __new__(cls, batch_size: int, grad_accum: int, world_size: int) -> BatchSplit:
        return super().__new__(cls, (int(batch_size), int(grad_accum), int(world_size)))

    @property
    def global_batch(self) -> int:
        b, a, w = self
        return b * a * w

    def __str__(self) -> str:
        b, a, w = self
        return f"{b} × {a} × {w} = {self.global_batch}"


def comparable(config: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's or a run's config as flat keys with every default filled in, whether it
    was written flat (older runs) or nested: both sides of a resume compare alike."""
    try:
        return TrainConfig.from_dict(config).flat_dict()
    except ConfigError:  # not a config this version reads: compare what it says
        return flatten(config)


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Flat keys whose change would make a resumed run a different run (the batch split is
    checked apart); ``old`` and ``new`` are flat or nested."""
    free = RESUMABLE_CHANGES | BATCH_SPLIT_KEYS
    old, new = comparable(old), comparable(new)
    return {
        k: (old.get(k), new.get(k))
        for k in sorted(set(old) | set(new))
        if k not in free and old.get(k) != new.get(k)
    }


def checkpoint_batch_split(state: Mapping[str, Any]) -> BatchSplit:
    """The split a checkpoint was trained with; older checkpoints lack ``world_size``, their
    RNG list has one entry per rank."""
    cfg = flatten(state.get("config", {}))
    world = state.get("world_size") or len(state.get("rng") or [None])
    return BatchSplit(cfg.get("batch_size", 0), cfg.get("grad_accum", 0), world)


def global_batch_mismatch(old: BatchSplit, new: BatchSplit) -> str | None:
    """``None`` when ``new`` keeps the global batch of ``old``, else the sentence saying why not."""
    if old.global_batch == new.global_batch:
        return None
    per_step = new[0] * new[2]
    hint = f" (here: grad_accum={old.global_batch // per_step})" if old.global_batch % per_step == 0 else ""
    return (
        "the global batch (batch_size × grad_accum × world_size) changed: "
        f"old {old}, new {new}; resume with a split that multiplies to {old.global_batch}{hint}, "
        "or use --init-from to start a new run from these weights"
    )

"""Loader settings. Everything that changes the batch stream is here, and recorded in the state.

Out-of-range settings are ``lmcore.config.ConfigError``, like every other setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lmcore.config import ConfigError, one_of, require

PACKING_MODES = ("concat", "best_fit")
MIX_BY = ("source", "dataset", "none")
VERIFY_MODES = ("first", "always", "never")


class LoaderError(ConfigError):
    """A dataset, batch split or resume state the loader cannot work with; the message says why.

    A ``ConfigError`` (as are ``LoaderConfig``'s own range errors), so one ``except`` catches
    every setting that cannot work."""


@dataclass(frozen=True)
class LoaderConfig:
    """How a dataset becomes batches.

    ``global_batch_size`` samples make one optimizer step for the whole job;
    ``micro_batch_size`` (per rank, per micro-step; default: global / world size, i.e. no
    accumulation) fixes the slice each rank receives, and
    ``grad_accum = global_batch_size / (micro_batch_size × world_size)`` must be whole.
    The stream itself depends only on (dataset fingerprint, seed, seq_len, packing, mixing),
    never on world size, micro batch or worker count.
    """

    seq_len: int = 256
    global_batch_size: int = 64
    micro_batch_size: int | None = None
    seed: int = 0
    packing: str = "concat"  # "concat" | "best_fit"
    num_workers: int = 0  # torch DataLoader worker processes (0: build batches in-process)
    prefetch_factor: int = 2  # micro-batches buffered per worker (at least four hand-over chunks)
    mix_by: str = "source"  # group samples by "source", by "dataset", or "none" (one pool)
    weights: Mapping[str, float] | None = field(default=None)  # group -> weight; None: natural sizes
    num_epochs: int | None = None  # None: endless stream; n: stop after n epochs (last rows padded)
    verify_checksums: str = "first"  # "first" (remember by path/size/mtime), "always", "never"
    index_cache_dir: str | None = None  # default: DIR/.lmforge-index if writable, else ~/.cache/lmforge
    remote_cache_dir: str | None = None  # local copies of remote shards; default ~/.cache/lmforge/shards
    remote_cache_bytes: int = 16 * 2**30  # LRU bound on that directory
    remote_prefetch_batches: int = 8  # micro-batches ahead whose shards are downloaded in background

    def __post_init__(self) -> None:
        require(self.seq_len >= 1, f"seq_len must be >= 1, got {self.seq_len}")
        require(self.global_batch_size >= 1, f"global_batch_size must be >= 1, got {self.global_batch_size}")
        require(
            self.micro_batch_size is None or self.micro_batch_size >= 1,
            f"micro_batch_size must be >= 1, got {self.micro_batch_size}",
        )
        one_of(self.packing, PACKING_MODES, "packing")
        one_of(self.mix_by, MIX_BY, "mix_by")
        one_of(self.verify_checksums, VERIFY_MODES, "verify_checksums")
        require(
            self.num_workers >= 0 and self.prefetch_factor >= 1,
            "num_workers must be >= 0 and prefetch_factor >= 1",
        )
        require(
            self.num_epochs is None or self.num_epochs >= 1,
            f"num_epochs must be None or >= 1, got {self.num_epochs}",
        )
        if self.weights is not None:
            bad = {k: w for k, w in self.weights.items() if not (w >= 0)}
            require(
                not bad and any(w > 0 for w in self.weights.values()),
                f"weights must be non-negative with a positive sum, got {dict(self.weights)}",
            )

    def split_batch(self, world_size: int) -> tuple[int, int]:
        """(micro_batch_size, grad_accum) for ``world_size`` ranks; raises when it does not divide."""
        micro = self.micro_batch_size or self.global_batch_size // max(world_size, 1)
        per_micro_step = micro * world_size
        if micro < 1 or self.global_batch_size % per_micro_step:
            raise LoaderError(
                f"global_batch_size {self.global_batch_size} is not a multiple of micro_batch_size "
                f"{micro} × world_size {world_size}"
            )
        return micro, self.global_batch_size // per_micro_step

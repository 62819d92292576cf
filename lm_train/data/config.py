"""Loader settings. Everything that changes the batch stream is here, and recorded in the state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

PACKING_MODES = ("concat", "best_fit")
MIX_BY = ("source", "dataset", "none")
VERIFY_MODES = ("first", "always", "never")


class LoaderError(ValueError):
    """A loader configuration, dataset or resume state that cannot work; the message says why."""


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
    prefetch_factor: int = 2  # micro-batches buffered per worker
    mix_by: str = "source"  # group samples by "source", by "dataset", or "none" (one pool)
    weights: Mapping[str, float] | None = field(default=None)  # group -> weight; None: natural sizes
    num_epochs: int | None = None  # None: endless stream; n: stop after n epochs (last rows padded)
    verify_checksums: str = "first"  # "first" (remember by path/size/mtime), "always", "never"
    index_cache_dir: str | None = None  # default: DIR/.lmforge-index if writable, else ~/.cache/lmforge
    remote_cache_dir: str | None = None  # local copies of remote shards; default ~/.cache/lmforge/shards
    remote_cache_bytes: int = 16 * 2**30  # LRU bound on that directory
    remote_prefetch_batches: int = 8  # micro-batches ahead whose shards are downloaded in background

    def __post_init__(self) -> None:
        if self.seq_len < 1:
            raise LoaderError(f"seq_len must be >= 1, got {self.seq_len}")
        if self.global_batch_size < 1:
            raise LoaderError(f"global_batch_size must be >= 1, got {self.global_batch_size}")
        if self.micro_batch_size is not None and self.micro_batch_size < 1:
            raise LoaderError(f"micro_batch_size must be >= 1, got {self.micro_batch_size}")
        if self.packing not in PACKING_MODES:
            raise LoaderError(f"packing must be one of {PACKING_MODES}, got {self.packing!r}")
        if self.mix_by not in MIX_BY:
            raise LoaderError(f"mix_by must be one of {MIX_BY}, got {self.mix_by!r}")
        if self.verify_checksums not in VERIFY_MODES:
            raise LoaderError(
                f"verify_checksums must be one of {VERIFY_MODES}, got {self.verify_checksums!r}"
            )
        if self.num_workers < 0 or self.prefetch_factor < 1:
            raise LoaderError("num_workers must be >= 0 and prefetch_factor >= 1")
        if self.num_epochs is not None and self.num_epochs < 1:
            raise LoaderError(f"num_epochs must be None or >= 1, got {self.num_epochs}")
        if self.weights is not None:
            bad = {k: w for k, w in self.weights.items() if not (w >= 0)}
            if bad or not any(w > 0 for w in self.weights.values()):
                raise LoaderError(
                    f"weights must be non-negative with a positive sum, got {dict(self.weights)}"
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

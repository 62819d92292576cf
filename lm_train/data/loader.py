"""``PackedLoader``: the trainer's only entry point to data (see docs/architecture.md).

The global stream is endless: position ``p`` holds sample ``order.samples(p)``. It is cut
into micro-steps of ``micro_batch_size × world_size`` positions; rank ``r`` receives
slice ``r`` of each. A global step is ``grad_accum`` consecutive micro-steps, so the
samples of a step do not depend on how they are split across ranks and accumulation.
``consumed_samples`` counts positions handed out by every rank together; resuming sets it
and computes the next batch directly (nothing is replayed). DataLoader worker ``w`` of
``W`` builds the chunks of consecutive micro-steps ``c ≡ w (mod W)``; the DataLoader hands
them back in order, so the sequence is the same for any worker count.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from lm_train.data.batch import build_batch, shards_of
from lm_train.data.config import LoaderConfig, LoaderError
from lm_train.data.index import (
    BuiltIndex,
    build_index,
    discard_index,
    index_key,
    index_problem,
    index_settings,
    load_index,
    save_index,
)
from lm_train.data.order import StreamOrder
from lm_train.data.ring import BatchRing, max_batch_bytes, read_in_background
from lm_train.data.store import (
    ShardRef,
    ShardStore,
    VerifiedRecord,
    check_file_size,
    verify_local,
)
from lmcore.layout import INDEX_CACHE_DIR
from lmcore.storage import is_remote, local_path
from schemas import Manifest, ManifestError, load_manifest
from schemas.manifest import check_inside

STATE_FORMAT = "lmforge.loader/1"
DataArg = str | Sequence[str] | Mapping[str, str]


def _datasets(data: DataArg) -> list[tuple[str, str]]:
    """(name, path) pairs; names are the mapping's keys, else the directory's base name."""
    if isinstance(data, str):
        return [(data.rstrip("/").rsplit("/", 1)[-1] or data, data)]
    if isinstance(data, Mapping):
        return [(str(k), str(v)) for k, v in data.items()]
    pairs = [(p.rstrip("/").rsplit("/", 1)[-1] or p, p) for p in data]
    if len({n for n, _ in pairs}) != len(pairs):
        pairs = [(f"{i}:{n}", p) for i, (n, p) in enumerate(pairs)]
    return pairs


def _default_index_root(paths: list[str]) -> str:
    """``DIR/.lmforge-index`` when it is a writable directory really inside DIR, else the user cache."""
    first = paths[0]
    if not is_remote(first):
        root = os.path.join(local_path(first), INDEX_CACHE_DIR)
        try:
            os.makedirs(root, exist_ok=True)
            check_inside(local_path(first), INDEX_CACHE_DIR)  # a symlink out: write nothing there
            if os.access(root, os.W_OK):
                return root
        except (OSError, ManifestError):
            pass
    return os.path.join(os.path.expanduser("~"), ".cache", "lmforge", "index")


class _Plan:
    """Everything a worker needs to build micro-step ``u`` for one rank; picklable."""

    def __init__(
        self,
        index,
        order: StreamOrder,
        store: ShardStore,
        seq_len: int,
        pad_id: int,
        micro: int,
        world_size: int,
        rank: int,
        end: int | None,
        prefetch: int,
    ) -> None:
        self.index, self.order, self.store = index, order, store
        self.seq_len, self.pad_id = seq_len, pad_id
        self.micro, self.world_size, self.rank, self.end = micro, world_size, rank, end
        self.prefetch = prefetch

    def positions(self, u: int) -> np.ndarray:
        base = u * self.micro * self.world_size + self.rank * self.micro
        pos = np.arange(base, base + self.micro, dtype=np.int64)
        return pos

    def samples(self, u: int) -> np.ndarray:
        pos = self.positions(u)
        if self.end is None or pos[-1] < self.end:  # the usual case: no row past the end
            return self.order.samples(pos)
        ids = np.full(len(pos), -1, np.int64)
        live = pos < self.end
        if live.any():
            ids[live] = self.order.samples(pos[live])
        return ids

    def batch(self, u: int) -> dict[str, np.ndarray]:
        if self.prefetch and u % self.prefetch == 0 and any(is_remote(r.url) for r in self.store.refs):
            ahead = np.concatenate([self.samples(v) for v in range(u + 1, u + 1 + self.prefetch)])
            self.store.prefetch(shards_of(self.index, ahead))
        batch = build_batch(self.index, self.samples(u), self.seq_len, self.store.tokens, self.pad_id)
        # Each row's position in the global stream: per-sample randomness (masking) keyed by it is
        # the same whatever the world size, batch split or resume point.
        batch["sample_positions"] = self.positions(u)
        return batch


def _to_torch(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in batch.items()}


class _MicroSteps(IterableDataset):
    """Micro-steps ``start, start + 1, ...`` cut into chunks of ``chunk`` consecutive ones;
    DataLoader worker ``w`` of ``W`` builds chunks ``c ≡ w (mod W)``, writes their batches
    into ``ring`` (see ``lm_train.data.ring``) and hands over one DataLoader item per chunk.

    The DataLoader's own hand-over (a pickled item through a pipe, its bookkeeping in the
    training process) costs more than building a small batch, so it is paid once per chunk.
    """

    def __init__(
        self, plan: _Plan, start: int, stop: int | None, ring: BatchRing | None = None, chunk: int = 1
    ) -> None:
        self.plan, self.start, self.stop, self.ring, self.chunk = plan, start, stop, ring, chunk

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        if info is None:
            u = self.start
            while self.stop is None or u < self.stop:
                yield _to_torch(self.plan.batch(u))
                u += 1
            return
        wid, nw, k = info.id, info.num_workers, 0
        for first in chunk_starts(self.start, self.stop, self.chunk, wid, nw):
            last = first + self.chunk if self.stop is None else min(first + self.chunk, self.stop)
            items = []
            for u in range(first, last):
                items.append((k, self.ring.write(wid, k, self.plan.batch(u))))
                k += 1
            yield wid, items


def chunk_starts(start: int, stop: int | None, chunk: int, worker: int, workers: int) -> Iterator[int]:
    """First micro-step of each chunk worker ``worker`` of ``workers`` builds: chunk ``c``
    covers ``[start + c·chunk, start + (c+1)·chunk)`` and goes to worker ``c mod workers``,
    the order in which the DataLoader hands items back, so the stream is the same for any
    worker count and chunk size."""
    first = start + worker * chunk
    while stop is None or first < stop:
        yield first
        first += workers * chunk


def handover_chunk(rows: int, seq_len: int) -> int:
    """Micro-batches per DataLoader item: about 256 k tokens' worth, 1 to 16.

    Each item costs the training process a few thread wake-ups; on crowded cores each can
    wait milliseconds for a CPU, so items must be few enough that those waits hide behind
    the steps. The ring then holds ``6 × chunk`` batches per worker, at most about 60 MB.
    """
    return max(1, min(16, 262144 // max(1, rows * seq_len)))


def _worker_init(_wid: int) -> None:
    info = get_worker_info()
    info.dataset.plan.store = info.dataset.plan.store.fresh()


class PackedLoader:
    """Deterministic, resumable micro-batches of packed sequences for one DDP rank."""

    def __init__(
        self,
        data: DataArg,
        split: str = "train",
        config: LoaderConfig | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.config = cfg = config or LoaderConfig()
        self.index_refused: str | None = None
        if not 0 <= rank < world_size:
            raise LoaderError(f"rank {rank} is not in [0, {world_size})")
        self.split, self.rank, self.world_size = split, rank, world_size
        self.micro_batch_size, self.grad_accum = cfg.split_batch(world_size)
        self.datasets = _datasets(data)
        self.manifests: list[Manifest] = [load_manifest(p) for _, p in self.datasets]
        tok = {m.tokenizer.sha256 for m in self.manifests}
        if len(tok) > 1:
            raise LoaderError("the datasets were tokenized with different tokenizers; they cannot be mixed")
        self.tokenizer = self.manifests[0].tokenizer
        self.pad_id = self.tokenizer.pad_id if self.tokenizer.pad_id is not None else self.tokenizer.eos_id
        self.fingerprint = self._fingerprint()

        refs, shard_dataset = [], []
        for (name, _), m in zip(self.datasets, self.manifests):
            for s in sorted(m.shards_for(split), key=lambda s: s.path):
                refs.append(ShardRef(s.path, m.path_of(s.path), s.sha256, 0, s.num_tokens, s.dtype))
                shard_dataset.append(name)
        if not refs:
            raise LoaderError(f"no {split!r} shards in {[p for _, p in self.datasets]}")
        remote_dir = cfg.remote_cache_dir or os.path.join(
            os.path.expanduser("~"), ".cache", "lmforge", "shards"
        )
        self.store = ShardStore(refs, remote_dir, cfg.remote_cache_bytes, self.tokenizer.vocab_size)
        self.index_root = cfg.index_cache_dir or _default_index_root([p for _, p in self.datasets])
        self._verify_local(refs)

        t0 = time.perf_counter()
        built = self._index(refs, shard_dataset)
        self.index_seconds = time.perf_counter() - t0
        self.group_names = built.group_names
        self._index_stats = built.stats
        weights = None
        if cfg.weights is not None:
            unknown = set(cfg.weights) - set(built.group_names)
            if unknown:
                raise LoaderError(
                    f"weights name unknown {cfg.mix_by} group(s) {sorted(unknown)}; groups are {built.group_names}"
                )
            weights = [float(cfg.weights.get(n, 0.0)) for n in built.group_names]
        self.order = StreamOrder(built.group_ptr, built.group_names, cfg.seed, weights)
        if self.order.epoch_len == 0:
            raise LoaderError(f"split {split!r} yields no sample of seq_len {cfg.seq_len}")
        self.index = built.samples
        self._consumed = 0
        self._wait_s = 0.0
        self._batches = 0

    # -- identity ------------------------------------------------------------------------
    def _fingerprint(self) -> str:
        if len(self.manifests) == 1:
            return self.manifests[0].fingerprint
        blob = json.dumps([[n, m.fingerprint] for (n, _), m in zip(self.datasets, self.manifests)])
        return hashlib.sha256(blob.encode()).hexdigest()

    def _index(self, refs: list[ShardRef], shard_dataset: list[str]) -> BuiltIndex:
        """The sample index: the cached one if it passes every check, else built (and cached) anew."""
        cfg = self.config
        names = [n for n, _ in self.datasets]
        spec = (self.fingerprint, self.split, cfg.seq_len, cfg.packing, cfg.mix_by, names)
        key, settings = index_key(*spec), index_settings(*spec)
        shard_tokens = [r.num_tokens or 0 for r in refs]
        built, problem = load_index(self.index_root, key, settings, max_len=2 * sum(shard_tokens) + 2)
        if built is not None:
            problem = index_problem(built, shard_tokens, cfg.seq_len)
        self.index_cached = problem is None and built is not None
        if problem is not None:
            self.index_refused = (
                f"index cache {os.path.join(self.index_root, key)} refused ({problem}); rebuilt"
            )
            # Every rank that refuses says so: the first to look may be any of them.
            who = f"[rank {self.rank}] " if self.world_size > 1 else ""
            print(f"{who}lmforge loader: warning: {self.index_refused}", file=sys.stderr, flush=True)
            discard_index(self.index_root, key)
        if self.index_cached:
            return built
        self.store.prefetch(list(range(len(refs))))
        built = build_index(self.store, shard_dataset, cfg.seq_len, cfg.packing, cfg.mix_by)
        problem = index_problem(built, shard_tokens, cfg.seq_len)
        if problem is not None:  # the shards disagree with their manifest in a way the store missed
            raise LoaderError(f"the {self.split!r} split cannot be indexed: {problem}")
        save_index(self.index_root, key, built, settings)
        return built

    def _verify_local(self, refs: list[ShardRef]) -> None:
        mode = self.config.verify_checksums
        local = [r for r in refs if not is_remote(r.url)]
        for ref in local:  # a stat per shard, whatever the mode: counts must fit the files
            path = local_path(ref.url)
            if os.path.isfile(path):
                check_file_size(ref, os.path.getsize(path))
        if mode == "never" or not local:
            return
        record = VerifiedRecord(os.path.join(self.index_root, "verified-shards.json"))
        for ref in local:
            verify_local(ref, record, always=mode == "always")
        record.save()

    # -- sizes -------------------------------------------------------------------------------
    @property
    def samples_per_epoch(self) -> int:
        return self.order.epoch_len

    @property
    def samples_per_micro_step(self) -> int:
        return self.micro_batch_size * self.world_size

    @property
    def steps_per_epoch(self) -> float:
        """Optimizer steps (global batches) per epoch; fractional when the epoch does not divide."""
        return self.samples_per_epoch / self.config.global_batch_size

    def _end(self) -> int | None:
        return None if self.config.num_epochs is None else self.config.num_epochs * self.samples_per_epoch

    def __len__(self) -> int:
        """Micro-batches per rank in a finite pass (``num_epochs`` set); endless loaders raise."""
        end = self._end()
        if end is None:
            raise TypeError("an endless loader (num_epochs=None) has no length")
        return -(-end // self.samples_per_micro_step)

    # -- iteration ---------------------------------------------------------------------------
    def _plan(self) -> _Plan:
        cfg = self.config
        return _Plan(
            self.index,
            self.order,
            self.store,
            cfg.seq_len,
            self.pad_id,
            self.micro_batch_size,
            self.world_size,
            self.rank,
            self._end(),
            cfg.remote_prefetch_batches,
        )

    def sample_ids(self, micro_step: int) -> np.ndarray:
        """Sample ids in this rank's micro-batch ``micro_step`` (-1 for padding rows past the end)."""
        return self._plan().samples(micro_step)

    def batch_at(self, micro_step: int) -> dict[str, torch.Tensor]:
        """Micro-batch ``micro_step`` of this rank (random access; does not move the counter)."""
        return _to_torch(self._plan().batch(micro_step))

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        end = self._end()
        per = self.samples_per_micro_step
        start = self._consumed // per
        stop = None if end is None else -(-end // per)
        workers = self.config.num_workers
        if workers:
            chunk = handover_chunk(self.micro_batch_size, self.config.seq_len)
            # Chunks per worker in flight: enough to ride out a worker the OS did not run for a while.
            in_flight = max(4, -(-self.config.prefetch_factor // chunk))
            # A slot is rewritten only after ``in_flight + 2`` more chunks: see lm_train.data.ring.
            slots = (in_flight + 2) * chunk
            ring = BatchRing(workers, slots, max_batch_bytes(self.micro_batch_size, self.config.seq_len))
            ds = _MicroSteps(self._plan(), start, stop, ring, chunk)
            chunks = DataLoader(
                ds,
                batch_size=None,
                num_workers=workers,
                prefetch_factor=in_flight,
                worker_init_fn=_worker_init,
            )
            it = read_in_background(iter(chunks), ring, depth=max(self.config.prefetch_factor, 2 * chunk))
        else:
            it = iter(_MicroSteps(self._plan(), start, stop))
        u = start
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            self._wait_s += time.perf_counter() - t0
            self._batches += 1
            u += 1
            self._consumed = u * per if end is None else min(u * per, end)
            yield batch
        if end is not None and self._consumed >= end:
            self._consumed = 0  # a finite loader starts a fresh pass next time

    # -- resume -----------------------------------------------------------------------------
    @property
    def consumed_samples(self) -> int:
        return self._consumed

    def state_dict(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "format": STATE_FORMAT,
            "fingerprint": self.fingerprint,
            "split": self.split,
            "seed": cfg.seed,
            "seq_len": cfg.seq_len,
            "packing": cfg.packing,
            "mix_by": cfg.mix_by,
            "weights": dict(cfg.weights) if cfg.weights is not None else None,
            "global_batch_size": cfg.global_batch_size,
            "consumed_samples": self._consumed,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from ``state``; refuse a state of another dataset or stream settings."""
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, Mapping) else type(state).__name__
            raise LoaderError(f"not a loader state (format {found!r}, expected {STATE_FORMAT!r})")
        if state.get("fingerprint") != self.fingerprint:
            raise LoaderError(
                f"loader state belongs to dataset fingerprint {state.get('fingerprint')}, but this loader reads "
                f"{self.fingerprint}: resuming would feed different data"
            )
        mine = self.state_dict()
        for key in ("split", "seed", "seq_len", "packing", "mix_by", "weights", "global_batch_size"):
            if state.get(key) != mine[key]:
                raise LoaderError(f"loader state has {key}={state.get(key)!r}, this loader {mine[key]!r}")
        consumed = state.get("consumed_samples")
        if isinstance(consumed, bool) or not isinstance(consumed, int) or consumed < 0:
            raise LoaderError(f"loader state has consumed_samples={consumed!r}, expected an integer >= 0")
        if consumed % self.samples_per_micro_step:
            raise LoaderError(
                f"consumed_samples {consumed} is not a multiple of micro_batch_size × world_size "
                f"= {self.samples_per_micro_step}; resume at an optimizer-step boundary"
            )
        self._consumed = consumed

    # -- reporting -------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Packing quality (padding, truncation, per group), epoch sizes and time spent waiting."""
        return {
            **self._index_stats,
            "packing": self.config.packing,
            "seq_len": self.config.seq_len,
            "samples_per_epoch": self.samples_per_epoch,
            "groups_per_epoch": dict(zip(self.group_names, self.order.quota.tolist())),
            "index_cached": self.index_cached,
            "index_seconds": self.index_seconds,
            "consumed_samples": self._consumed,
            "epoch": self._consumed / self.samples_per_epoch,
            "batches": self._batches,
            "wait_seconds": self._wait_s,
        }

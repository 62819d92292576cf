"""``TaskLoader``: one labelled example per row, for fine-tuning (``objective=classify``).

Examples are never packed together: each row is one document's tokens, cut to ``seq_len``
and padded. The global stream works like the packed loader's: position ``p`` holds example
``order[p mod N]`` of epoch ``p // N`` (a fresh permutation per epoch, seeded by the seed
and the epoch), micro-step ``u`` is positions ``[u·m·W, (u+1)·m·W)`` and rank ``r`` gets
slice ``r``, so the examples of a global step are the same for any world size, and resuming
sets ``consumed_samples`` and computes the next batch directly. With ``bucket_by_length``
each window of ``BUCKET_BATCHES`` global batches is sorted by length before it is cut into
batches, so rows of a batch have similar lengths and are padded only to their longest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from lm_train.data.config import LoaderError
from lm_train.data.order import _rng
from lmcore import storage
from schemas import Manifest, load_manifest, read_shard_table

STATE_FORMAT = "lmforge.task_loader/1"
BUCKET_BATCHES = 16  # global batches per window sorted by length
LABEL_COLUMN = "label"


@dataclass(frozen=True)
class TaskExamples:
    """Every example of a split: concatenated tokens, offsets, label ids (shards in path order)."""

    tokens: np.ndarray
    offsets: np.ndarray  # int64, len N + 1
    labels: np.ndarray  # int64, len N

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.labels)


def _read_table(url: str) -> pa.Table:
    source = (
        pa.memory_map(storage.local_path(url), "r")
        if storage.is_local(url)
        else pa.py_buffer(storage.read_bytes(url))
    )
    return read_shard_table(source)


def split_tables(manifest: Manifest, split: str, data: str, column: str, needs: str) -> Iterator[pa.Table]:
    """The ``split``'s shard tables in path order, checksum-verified; refused when there are none
    or one has no ``column`` (``needs`` names the dataset the objective wants)."""
    shards = sorted(manifest.shards_for(split), key=lambda s: s.path)
    if not shards:
        raise LoaderError(f"no {split!r} shards in {data}")
    for shard in shards:
        manifest.verify_checksum(shard)
        table = _read_table(manifest.path_of(shard.path))
        if column not in table.schema.names:
            raise LoaderError(f"shard {shard.path!r} of {data} has no {column!r} column: {needs}")
        yield table


def read_examples(manifest: Manifest, split: str, data: str) -> TaskExamples:
    """The ``split``'s examples, checksum-verified; refused when a shard has no ``label`` column."""
    needs = "objective=classify needs a task dataset (python -m pipelines.prepare_task)"
    tokens, lengths, labels = [], [], []
    for table in split_tables(manifest, split, data, LABEL_COLUMN, needs):
        flat, row_lengths = token_column(table, "tokens")
        tokens.append(flat)
        lengths.append(row_lengths)
        labels.append(table.column(LABEL_COLUMN).to_numpy().astype(np.int64))
    return TaskExamples(np.concatenate(tokens), offsets_of(np.concatenate(lengths)), np.concatenate(labels))


def token_column(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A list-of-ids column as (concatenated int64 ids, per-row lengths)."""
    column = table.column(name).combine_chunks()
    offsets = column.offsets.to_numpy().astype(np.int64)
    return column.values.to_numpy()[offsets[0] : offsets[-1]].astype(np.int64), np.diff(offsets)


def offsets_of(lengths: np.ndarray) -> np.ndarray:
    """Row offsets (``len + 1``, from 0) of rows of ``lengths``."""
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def epoch_order(n: int, lengths: np.ndarray, seed: int, epoch: int, window: int, bucket: bool) -> np.ndarray:
    """Example ids in the order of ``epoch``: a seeded permutation, length-sorted per window if ``bucket``."""
    order = _rng(seed, "task-shuffle", epoch).permutation(n).astype(np.int64)
    if not bucket:
        return order
    for start in range(0, n, window):
        chunk = order[start : start + window]
        order[start : start + window] = chunk[np.argsort(lengths[chunk], kind="stable")]
    return order


def build_rows(
    examples: TaskExamples, ids: np.ndarray, seq_len: int, pad_id: int, pad_to: int | None
) -> dict[str, np.ndarray]:
    """A batch of examples ``ids`` (-1: a padding row, label -1): tokens cut to ``seq_len``, padded
    to ``pad_to`` (or the longest row); ``segment_ids`` is 1 on padding so attention skips it.

    A cut example keeps its last token (the end-of-text id) in its last place: every row ends
    as the model saw short texts end, which is where ``pool=last`` reads, and what a tokenizer
    that truncates before appending eos (an exported classifier's) gives."""
    full = np.where(ids >= 0, examples.lengths[np.maximum(ids, 0)], 1)
    lengths = np.minimum(full, seq_len)
    width = pad_to or int(lengths.max(initial=1))
    input_ids = np.full((len(ids), width), pad_id, np.int64)
    for row, (i, n, m) in enumerate(zip(ids.tolist(), lengths.tolist(), full.tolist())):
        if i >= 0:
            start = examples.offsets[i]
            input_ids[row, :n] = examples.tokens[start : start + n]
            if m > n:
                input_ids[row, n - 1] = examples.tokens[start + m - 1]
    positions = np.broadcast_to(np.arange(width, dtype=np.int64), input_ids.shape).copy()
    segment_ids = (positions >= lengths[:, None]).astype(np.int32)
    labels = np.where(ids >= 0, examples.labels[np.maximum(ids, 0)], -1)
    return {
        "input_ids": input_ids,
        "position_ids": positions,
        "segment_ids": segment_ids,
        "lengths": lengths.astype(np.int64),
        "labels": labels.astype(np.int64),
    }


class TaskLoader:
    """Deterministic, resumable micro-batches of labelled examples for one DDP rank.

    A subclass changes what an example is with ``read`` (the split's examples, which need
    ``lengths`` and ``len``) and ``rows`` (a batch of them); the stream, the rank slicing and
    the resume state stay these (``lm_train.data.pairs.PairLoader``)."""

    state_format = STATE_FORMAT
    # What a resumed state must agree on (the stream's settings).
    state_keys: tuple[str, ...] = (
        "fingerprint",
        "split",
        "seed",
        "seq_len",
        "bucket_by_length",
        "global_batch_size",
    )

    def __init__(
        self,
        data: str,
        split: str,
        seq_len: int,
        global_batch_size: int,
        micro_batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        num_epochs: int | None = None,
        bucket_by_length: bool = False,
    ) -> None:
        if not 0 <= rank < world_size:
            raise LoaderError(f"rank {rank} is not in [0, {world_size})")
        if global_batch_size % (micro_batch_size * world_size):
            raise LoaderError(
                f"global batch {global_batch_size} is not a multiple of micro batch {micro_batch_size} × {world_size} ranks"
            )
        self.manifest = load_manifest(data)
        self.split, self.seq_len, self.seed = split, seq_len, seed
        self.rank, self.world_size, self.micro = rank, world_size, micro_batch_size
        self.global_batch_size, self.num_epochs, self.bucket = global_batch_size, num_epochs, bucket_by_length
        tok = self.manifest.tokenizer
        self.pad_id = tok.pad_id if tok.pad_id is not None else tok.eos_id
        self.examples = self.read(data)
        if not len(self.examples):
            raise LoaderError(f"split {split!r} of {data} holds no example")
        self.fingerprint = self.manifest.fingerprint
        self._orders: dict[int, np.ndarray] = {}
        self._consumed = 0

    def read(self, data: str) -> Any:
        """Every example of the split (default: labelled texts)."""
        return read_examples(self.manifest, self.split, data)

    def rows(self, ids: np.ndarray, pad_to: int | None) -> dict[str, np.ndarray]:
        """The batch arrays of examples ``ids`` (-1: a padding row)."""
        return build_rows(self.examples, ids, self.seq_len, self.pad_id, pad_to)

    @property
    def samples_per_epoch(self) -> int:
        return len(self.examples)

    @property
    def samples_per_micro_step(self) -> int:
        return self.micro * self.world_size

    def _end(self) -> int | None:
        return None if self.num_epochs is None else self.num_epochs * self.samples_per_epoch

    def __len__(self) -> int:
        end = self._end()
        if end is None:
            raise TypeError("an endless loader (num_epochs=None) has no length")
        return -(-end // self.samples_per_micro_step)

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            window = self.global_batch_size * BUCKET_BATCHES
            self._orders = {
                epoch: epoch_order(
                    len(self.examples), self.examples.lengths, self.seed, epoch, window, self.bucket
                )
            }
        return self._orders[epoch]

    def sample_ids(self, micro_step: int) -> np.ndarray:
        """Example ids of this rank's micro-batch ``micro_step`` (-1 for rows past a finite end)."""
        base = micro_step * self.samples_per_micro_step + self.rank * self.micro
        positions = np.arange(base, base + self.micro, dtype=np.int64)
        n, end = self.samples_per_epoch, self._end()
        ids = np.array([self._order(int(p) // n)[int(p) % n] for p in positions], np.int64)
        if end is not None:
            ids[positions >= end] = -1
        return ids

    def batch_at(self, micro_step: int) -> dict[str, torch.Tensor]:
        pad_to = None if self.bucket else self.seq_len
        rows = self.rows(self.sample_ids(micro_step), pad_to)
        base = micro_step * self.samples_per_micro_step + self.rank * self.micro
        rows["sample_positions"] = np.arange(base, base + self.micro, dtype=np.int64)
        return {k: torch.from_numpy(v) for k, v in rows.items()}

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        per, end = self.samples_per_micro_step, self._end()
        u = self._consumed // per
        stop = None if end is None else -(-end // per)
        while stop is None or u < stop:
            batch = self.batch_at(u)
            u += 1
            self._consumed = u * per if end is None else min(u * per, end)
            yield batch
        self._consumed = 0  # a finite loader starts a fresh pass next time

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": self.state_format,
            "fingerprint": self.fingerprint,
            "split": self.split,
            "seed": self.seed,
            "seq_len": self.seq_len,
            "bucket_by_length": self.bucket,
            "global_batch_size": self.global_batch_size,
            "consumed_samples": self._consumed,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from ``state``; refuse a state of another dataset or stream settings."""
        if not isinstance(state, Mapping) or state.get("format") != self.state_format:
            found = state.get("format") if isinstance(state, Mapping) else type(state).__name__
            raise LoaderError(f"not a task loader state (format {found!r}, expected {self.state_format!r})")
        mine = self.state_dict()
        for key in self.state_keys:
            if state.get(key) != mine[key]:
                raise LoaderError(
                    f"task loader state has {key}={state.get(key)!r}, this loader {mine[key]!r}"
                )
        consumed = state.get("consumed_samples")
        if isinstance(consumed, bool) or not isinstance(consumed, int) or consumed < 0:
            raise LoaderError(
                f"task loader state has consumed_samples={consumed!r}, expected an integer >= 0"
            )
        if consumed % self.samples_per_micro_step:
            raise LoaderError(
                f"consumed_samples {consumed} is not a multiple of micro_batch_size × world_size "
                f"= {self.samples_per_micro_step}; resume at an optimizer-step boundary"
            )
        self._consumed = consumed

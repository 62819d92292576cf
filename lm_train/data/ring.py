"""Shared-memory slots that carry batches from DataLoader workers to the training process.

Handing a tensor from a worker to the main process through the DataLoader costs the
main process about a millisecond per tensor here (the shared-memory file descriptor is
passed over a socket and mapped), several percent of a 50 ms training step. Instead,
each worker writes its batches into a ring of slots in one shared buffer created before
the workers start, and hands over only (slot, sequence number, layout): a few small
Python objects. The main process copies the batch out at once (one memcpy of the used
bytes) so the slot can be reused.

Reuse is safe because the DataLoader keeps at most ``prefetch_factor`` batches of a
worker in flight and the main process copies each out before asking for more; a slot
is reused only ``prefetch_factor + 2`` batches later. A sequence-number check before
and after the copy (a seqlock) turns any violation into an error, never into silently
mixed data.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch

HEADER = 16  # two int64: sequence number when the write started, and when it finished
ALIGN = 8


class Field(NamedTuple):
    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int


class RingError(RuntimeError):
    """A slot was overwritten while it was being read (should never happen)."""


def max_batch_bytes(rows: int, seq_len: int) -> int:
    """Upper bound of a batch's size: six [rows, seq_len] arrays, cu_seqlens (<= tokens + 1)
    and the rows' stream positions."""
    tokens = rows * seq_len
    return tokens * (8 + 8 + 8 + 4 + 4 + 4) + 4 * (tokens + 1) + 8 * rows + 9 * ALIGN


class BatchRing:
    """``slots`` slots of ``slot_bytes`` for each of ``workers`` writers, in one shared tensor."""

    def __init__(self, workers: int, slots: int, slot_bytes: int) -> None:
        self.workers, self.slots = workers, slots
        self.stride = HEADER + -(-slot_bytes // ALIGN) * ALIGN
        self.slot_bytes = self.stride - HEADER
        self.buffer = torch.zeros(workers * slots * self.stride, dtype=torch.uint8).share_memory_()

    def _slot(self, worker: int, seq: int) -> tuple[np.ndarray, np.ndarray]:
        start = (worker * self.slots + seq % self.slots) * self.stride
        raw = self.buffer.numpy()[start : start + self.stride]
        return raw[:HEADER].view(np.int64), raw[HEADER:]

    def write(self, worker: int, seq: int, batch: dict[str, np.ndarray]) -> tuple[Field, ...]:
        """Store ``batch`` as the worker's ``seq``-th item; returns its layout."""
        header, payload = self._slot(worker, seq)
        layout, off = [], 0
        for name, arr in batch.items():
            layout.append(Field(name, arr.dtype.str, arr.shape, off))
            off += -(-arr.nbytes // ALIGN) * ALIGN
        if off > self.slot_bytes:
            raise RingError(f"batch of {off} bytes does not fit a {self.slot_bytes}-byte slot")
        header[0] = seq
        for field, arr in zip(layout, batch.values(), strict=True):
            payload[field.offset : field.offset + arr.nbytes] = (
                np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
            )
        header[1] = seq
        return tuple(layout)

    def read(self, worker: int, seq: int, layout: tuple[Field, ...]) -> dict[str, torch.Tensor]:
        """Copy the worker's ``seq``-th item out of its slot (fresh tensors the caller owns)."""
        header, payload = self._slot(worker, seq)
        if header[0] != seq or header[1] != seq:
            raise RingError(f"slot of worker {worker} holds item {header[1]}, expected {seq}")
        used = max((f.offset + _nbytes(f) for f in layout), default=0)
        data = payload[:used].copy()
        if header[0] != seq:
            raise RingError(f"slot of worker {worker} was overwritten while item {seq} was read")
        out = {}
        for f in layout:
            dtype = np.dtype(f.dtype)
            out[f.name] = torch.from_numpy(
                data[f.offset : f.offset + _nbytes(f)].view(dtype).reshape(f.shape)
            )
        return out


def _nbytes(f: Field) -> int:
    return int(np.prod(f.shape, dtype=np.int64)) * np.dtype(f.dtype).itemsize


_DONE = object()


def read_in_background(
    items: Iterator[tuple], ring: BatchRing, depth: int
) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of ``items`` (``(worker, seq, layout)`` from the DataLoader), read out of the
    ring by a helper thread up to ``depth`` ahead, in order.

    Like the DataLoader's pin-memory thread, this keeps the DataLoader's bookkeeping and
    the copy out of the ring off the training thread, which then only takes ready batches
    from a queue. Errors in the thread (including a worker's) are raised here.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for worker, seq, layout in items:
                if not put(ring.read(worker, seq, layout)):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)

    thread = threading.Thread(target=run, name="lmforge-loader-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=10)

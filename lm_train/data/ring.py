"""Shared-memory slots that carry batches from DataLoader workers to the training process.

Handing a tensor from a worker to the main process through the DataLoader costs the
main process about a millisecond per tensor here (the shared-memory file descriptor is
passed over a socket and mapped), several percent of a 50 ms training step. Instead,
each worker writes its batches into a ring of slots in one shared buffer created before
the workers start, and hands over only (slot, sequence number, layout): a few small
Python objects. The main process copies the batch out at once (one memcpy of the used
bytes) so the slot can be reused.

Reuse is safe because the DataLoader keeps at most ``prefetch_factor`` items (chunks of
batches) of a worker in flight and the main process copies a chunk's batches out before
asking for more; a slot is reused only ``prefetch_factor + 2`` chunks later. A sequence-number check before
and after the copy (a seqlock) turns any violation into an error, never into silently
mixed data.
"""

from __future__ import annotations

import threading
from collections import deque
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


class Handoff:
    """A bounded single-producer, single-consumer buffer whose consumer takes a ready item
    without a lock or a wake-up.

    ``queue.Queue.get`` notifies the waiting producer on every item, and the thread switch
    that follows costs the training thread a noticeable share of a short step. Here
    ``get`` is a ``deque.popleft`` (atomic under the GIL); the producer is
    woken only when the buffer has drained to half, and the consumer waits only when it
    is empty.
    """

    def __init__(self, depth: int) -> None:
        self.depth = max(1, depth)
        self.items: deque = deque()
        self.space = threading.Event()  # set by the consumer: the buffer is half empty
        self.data = threading.Event()  # set by the producer: an item was added
        self.closed = threading.Event()

    def put(self, item: Any) -> bool:
        """Add ``item``, waiting while the buffer is full; False once the consumer closed it."""
        while len(self.items) >= self.depth:
            if self.closed.is_set():
                return False
            self.space.wait(0.1)
            self.space.clear()
        if self.closed.is_set():
            return False
        self.items.append(item)
        self.data.set()
        return True

    def get(self) -> Any:
        """The oldest item, waiting while there is none."""
        while True:
            try:
                item = self.items.popleft()
            except IndexError:
                self.data.clear()
                if not self.items:  # an item added after the clear sets the event again
                    self.data.wait()
                continue
            if len(self.items) <= self.depth // 2:
                self.space.set()
            return item

    def close(self) -> None:
        self.closed.set()
        self.space.set()


def read_in_background(
    chunks: Iterator[tuple], ring: BatchRing, depth: int
) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of ``chunks`` (``(worker, [(seq, layout), ...])`` from the DataLoader), read out
    of the ring by a helper thread up to ``depth`` ahead, in order.

    Like the DataLoader's pin-memory thread, this keeps the DataLoader's bookkeeping and
    the copy out of the ring off the training thread, which then only takes ready batches
    from a ``Handoff``. Errors in the thread (including a worker's) are raised here.
    """
    ready = Handoff(depth)

    def run() -> None:
        try:
            for worker, items in chunks:
                for seq, layout in items:
                    if not ready.put(ring.read(worker, seq, layout)):
                        return
            ready.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            ready.put(exc)

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
        ready.close()
        thread.join(timeout=10)

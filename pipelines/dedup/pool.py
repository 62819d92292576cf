"""``ChunkPool``: per-chunk work on a few threads inside a DoFn, results in submission order.

Compression, shingling (compiled kernels) and MinHash (numpy) release the GIL, so a pool
thread keeps a second core busy while the calling thread is in Beam's own per-element
code. Only for DoFns whose outputs go to a GroupByKey (order does not matter); what is
still pending at the end of a bundle is emitted from ``finish_bundle`` via ``drain``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipelines.dedup.config import DedupConfig


class ChunkPool:
    """A bounded number of calls in flight; ``threads=1`` runs everything on the calling thread."""

    def __init__(self, threads: int):
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="dedup") if threads > 1 else None
        self._pending: deque[Future] = deque()

    def submit(self, fn: Callable[..., list], *args: Any) -> Iterator[list]:
        """Start ``fn(*args)``; yield the result lists that are ready (or must be waited for)."""
        if self._pool is None:
            yield fn(*args)
            return
        self._pending.append(self._pool.submit(fn, *args))
        while self._pending and (len(self._pending) > 2 * self.threads or self._pending[0].done()):
            yield self._pending.popleft().result()

    def drain(self) -> Iterator[Any]:
        """Everything still pending, as outputs for ``finish_bundle`` (global window)."""
        while self._pending:
            for out in self._pending.popleft().result():
                if isinstance(out, pvalue.TaggedOutput):
                    yield pvalue.TaggedOutput(out.tag, in_global_window(out.value))
                else:
                    yield in_global_window(out)

    def close(self) -> None:
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def in_global_window(value: Any) -> WindowedValue:
    """``finish_bundle`` outputs must name their window."""
    return WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])


class PooledDoFn(beam.DoFn):
    """A DoFn that runs its per-chunk work on a ``ChunkPool`` of ``config.threads`` threads."""

    def __init__(self, config: DedupConfig):
        self.config = config

    def setup(self) -> None:
        self.pool = ChunkPool(self.config.threads)

    def teardown(self) -> None:
        self.pool.close()

    def finish_bundle(self) -> Iterator[Any]:
        yield from self.pool.drain()

"""``PackFn``: chunks leave the reader packed (zstd pickle), with their id hashes on the side.

Packed chunks are what the runner holds between dedup's steps (bytes are far cheaper to
hold than dicts); the id hashes (``ID_BATCHES``) build the rename table that makes every
document id unique before anything keys by id (``pipelines.io.ids``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apache_beam import pvalue

from pipelines.dedup.pool import PooledDoFn
from pipelines.io.ids import chunk_id_batches
from pipelines.io.packing import pack

Doc = dict[str, Any]
ID_BATCHES = "id_batches"


class PackFn(PooledDoFn):
    """Chunk -> the chunk packed (compressed on the pool: zstd releases the GIL) and its id batches."""

    def process(self, chunk: tuple[str, list[Doc]]) -> Iterator[Any]:
        for batch in chunk_id_batches(chunk):
            yield pvalue.TaggedOutput(ID_BATCHES, batch)
        for outputs in self.pool.submit(packed_chunk, chunk):
            yield from outputs


def packed_chunk(chunk: tuple[str, list[Doc]]) -> list[tuple[str, bytes]]:
    return [(chunk[0], pack(chunk[1]))]

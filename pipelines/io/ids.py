"""Unique document ids by construction: ``UniqueIds``.

Dedup, the Parquet writers and the token shards all key documents by id, so two documents
sharing one (two files that both number their records 1, 2, 3...) switch dedup off for
them and break the dataset (``verify``: rows not sorted by unique doc_id). Ids are kept as
they are unless they collide; then the first holder (smallest chunk key and position, so
the choice does not depend on the runner) keeps its id and every other one is qualified by
where it came from: ``<id>#dup-<chunk key>-<position>`` (the chunk key starts with a hash of
the file's path). Identical documents under one id then meet dedup as exact duplicates.

Ids of documents an earlier version kept (the dedup index, ``reserved``) always win: a new
document that reuses one is qualified too, and a re-ingested copy of an old document still
meets it in dedup as an exact duplicate (by its text).

Only 64-bit id hashes travel, in one small shuffle (a numpy batch per chunk and shard); the
renames (one entry per colliding document) reach the chunks as a side input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from lmcore.hashing import stable_hash64
from pipelines.io.packing import pack, unpack
from pipelines.stage.accounting import DOCS
from pipelines.stage.counting import COUNTS

Doc = dict[str, Any]
Chunk = tuple[str, list[Doc]]
ID_SHARDS = 16
RENAMED = "ids/renamed"  # an annotation in stats.json: documents whose id was qualified


def id_hash(doc_id: str) -> int:
    """The id's 64-bit hash (surrogates cannot reach here: the readers quarantine them)."""
    return stable_hash64(doc_id)


def chunk_id_batches(chunk: Chunk, shards: int = ID_SHARDS) -> Iterator[tuple[int, tuple]]:
    """(shard, (id hashes, chunk key, positions)) for the documents of one chunk."""
    key, docs = chunk
    if not docs:
        return
    uids = np.fromiter((id_hash(d["id"]) for d in docs), np.uint64, len(docs))
    shard = uids % np.uint64(shards)
    for s in np.unique(shard):
        pos = np.flatnonzero(shard == s)
        yield int(s), (uids[pos], key, pos.astype(np.int64))


RESERVED_KEY = ""  # sorts before every chunk key: earlier versions' documents keep their ids


def reserved_id_batches(path: str, shards: int = ID_SHARDS) -> Iterator[tuple[int, tuple]]:
    """(shard, (id hashes, "", positions)) of an index file's documents (its ``uid`` column)."""
    import pyarrow.parquet as pq

    from lmcore import storage

    fs, p = storage.get_fs(path)
    with fs.open(p, "rb") as f:
        uids = pq.read_table(f, columns=["uid"]).column("uid").to_numpy().astype(np.uint64)
    shard = uids % np.uint64(shards)
    for s in np.unique(shard):
        sel = np.flatnonzero(shard == s)
        yield int(s), (uids[sel], RESERVED_KEY, np.full(len(sel), -1, np.int64))


def colliding_positions(batches: Iterable[tuple]) -> list[tuple[str, int]]:
    """(chunk key, position) of every document but the first holder (smallest chunk key and
    position) of an id hash that several documents share. Numpy until a collision is found:
    the common case (no shared id) builds no Python object per document."""
    batches = list(batches)
    if not batches:
        return []
    uids = np.concatenate([b[0] for b in batches])
    values, counts = np.unique(uids, return_counts=True)
    shared = values[counts > 1]
    if not len(shared):
        return []
    holders: dict[int, list[tuple[str, int]]] = {}
    for batch_uids, key, pos in batches:
        hit = np.flatnonzero(np.isin(batch_uids, shared))
        for j in hit:
            holders.setdefault(int(batch_uids[j]), []).append((key, int(pos[j])))
    return [place for places in holders.values() for place in sorted(places)[1:] if place[0] != RESERVED_KEY]


def rename_table(parts: Iterable[list[tuple[str, int]]]) -> dict[str, frozenset[int]]:
    """{chunk key: positions to qualify} from every shard's collisions."""
    table: dict[str, set[int]] = {}
    for part in parts:
        for key, pos in part:
            table.setdefault(key, set()).add(pos)
    return {key: frozenset(positions) for key, positions in table.items()}


def qualified_id(doc_id: str, key: str, pos: int) -> str:
    return f"{doc_id}#dup-{key}-{pos}"


def rename_chunk(chunk: Chunk, renames: dict[str, frozenset[int]]) -> tuple[Chunk, int]:
    """The chunk with its colliding ids qualified, and how many were."""
    key, docs = chunk
    here = renames.get(key)
    if not here:
        return chunk, 0
    out = [{**d, "id": qualified_id(d["id"], key, i)} if i in here else d for i, d in enumerate(docs)]
    return (key, out), len(here)


def rename_packed(chunk: tuple[str, Any], renames: dict[str, frozenset[int]]) -> tuple[tuple[str, Any], int]:
    """``rename_chunk`` for a packed chunk (``pipelines.io.packing``): untouched unless it holds
    a colliding id (the common case costs one dict lookup, no unpacking)."""
    key, packed = chunk
    if key not in renames:
        return chunk, 0
    (key, docs), n = rename_chunk((key, unpack(packed)), renames)
    return (key, pack(docs) if isinstance(packed, bytes) else docs), n


class RenameFn(beam.DoFn):
    """Chunks (plain or packed) -> chunks with unique ids (side input: the renames);
    counts ``ids/renamed``. Elements that are not chunks (``(path, None)``) pass through."""

    def __init__(self, packed: bool = False):
        self.packed = packed

    def process(self, chunk: tuple, renames: dict[str, frozenset[int]]) -> Iterator[Any]:
        if chunk[1] is None:
            yield chunk
            return
        out, n = rename_packed(chunk, renames) if self.packed else rename_chunk(chunk, renames)
        if n:
            yield pvalue.TaggedOutput(COUNTS, {RENAMED: n})
        yield out


class RenameTable(beam.PTransform):
    """(shard, id batch) elements -> one element: {chunk key: positions whose id must be qualified}."""

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return (
            batches
            | "GroupIds" >> beam.GroupByKey()
            | "Collisions" >> beam.Map(lambda kv: colliding_positions(kv[1]))
            | "AllCollisions" >> beam.combiners.ToList()
            | "RenameTable" >> beam.Map(rename_table)
        )


def apply_renames(
    chunks: beam.PCollection, table: beam.PCollection, packed: bool = False
) -> tuple[beam.PCollection, beam.PCollection]:
    """(chunks with unique ids, counts) given the one-element rename table."""
    out = chunks | "Rename" >> beam.ParDo(RenameFn(packed), pvalue.AsSingleton(table)).with_outputs(
        COUNTS, main=DOCS
    )
    return out[DOCS], out[COUNTS]


class UniqueIds(beam.PTransform):
    """(chunk key, docs) chunks -> the same chunks, every document id unique (see the module).

    ``reserved``: index files of earlier versions, whose ids stay theirs.
    Returns ``(chunks, counts)``; counts carry the ``ids/renamed`` annotation when ids collided.
    (Dedup computes the id batches while it packs its chunks and calls ``RenameTable`` and
    ``apply_renames`` itself, so that only packed chunks wait for the table.)
    """

    def __init__(self, reserved: list[str] | None = None, shards: int = ID_SHARDS):
        super().__init__()
        self.reserved = list(reserved or [])
        self.shards = shards

    def expand(self, chunks: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        batches = chunks | "IdBatches" >> beam.FlatMap(chunk_id_batches, self.shards)
        if self.reserved:
            old = (
                chunks.pipeline
                | "ReservedFiles" >> beam.Create(self.reserved)
                | "ReservedIds" >> beam.FlatMap(reserved_id_batches, self.shards)
            )
            batches = (batches, old) | "WithReserved" >> beam.Flatten()
        return apply_renames(chunks, batches | "Table" >> RenameTable())

"""One way to write records as N deterministic files: bucket, group, sort, encode, write atomically.

Every writer of the pipelines (documents, quarantine/dropped JSONL, the dedup index, token
shards) needs the same thing: the bytes of each file must depend only on the records, never
on the runner, the worker count or the order in which records arrive. ``WriteBucketed``
does it once: a record goes to file ``stable_bucket(key(record), n)``, each file's records
are gathered by a GroupByKey, sorted, encoded and written with ``storage.atomic_write_bytes``.

Usage, one record per element::

    written = records | "WriteQuarantine" >> WriteBucketed(
        key=lambda rec: rec["id"],  # the file is chosen by a stable hash of this
        num_files=4,  # an int, or a one-element PCollection (a side input)
        sort_key=lambda rec: rec["id"],  # order inside a file
        encode=jsonl_gz_bytes,  # list[record] -> bytes
        path=lambda index, n: f"{prefix}-{index:05d}-of-{n:05d}.jsonl.gz",
    )  # -> (path, number of records) per file written

Elements that are batches (a chunk of documents): ``batched=lambda chunk: chunk[1]`` names
the records of an element; each element is split per file before the shuffle, and
``pack``/``unpack`` may compress what the shuffle holds. Columnar writers (numpy or Arrow
batches) replace the per-record steps with ``assign(element, n) -> (file, part)`` pairs and
``gather(parts) -> records`` (already in file order). ``write(file, records, n)`` replaces
encode + path + atomic write when a file is written by someone else (a dataset writer), and
``result(path, records, data)`` says what is returned per file. ``write_empty=True`` writes
every file of ``file_ids(n)`` (default ``range(n)``) even when no record falls in it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from lmcore import storage
from lmcore.hashing import stable_bucket

Record = Any
FileId = Hashable
NumFiles = Any  # an int for plain bucketing; whatever ``assign``/``path`` expect otherwise


def bucket_of(key: str | bytes, num_files: int) -> int:
    """The file a record with this key goes to."""
    return stable_bucket(key, num_files)


def split_batch(
    records: Iterable[Record], key: Callable[[Record], str | bytes], num_files: int
) -> dict[int, list[Record]]:
    """A batch's records per file index (first-seen order inside each list)."""
    buckets: dict[int, list[Record]] = {}
    for rec in records:
        buckets.setdefault(bucket_of(key(rec), num_files), []).append(rec)
    return buckets


def sort_records(records: list[Record], sort_key: Callable[[Record], Any] | None) -> list[Record]:
    """Records in file order: by ``sort_key``, or by their own ordering when there is none."""
    return sorted(records, key=sort_key) if sort_key else sorted(records)


def count_result(path: str, records: Sequence[Record], data: bytes) -> tuple[str, int]:
    return path, len(records)


@dataclass(frozen=True)
class _Bucketing:
    """The per-element and per-file functions of ``WriteBucketed``: only these go to the workers."""

    path: Callable[[FileId, NumFiles], str] | None
    encode: Callable[[list[Record]], bytes] | None
    key: Callable[[Record], str | bytes] | None
    sort_key: Callable[[Record], Any] | None
    batched: Callable[[Any], Iterable[Record]] | None
    pack: Callable[[list[Record]], Any] | None
    unpack: Callable[[Any], Iterable[Record]] | None
    assign: Callable[..., Iterable[tuple[FileId, Any]]] | None
    gather: Callable[[list[Any]], list[Record]] | None
    write: Callable[[FileId, list[Record], NumFiles], Any] | None
    result: Callable[[str, list[Record], bytes], Any]

    def parts(self, element: Any, n: NumFiles, *side) -> Iterator[tuple[FileId, Any]]:
        """An element as (file, part) pairs: the record itself, or a batch's records per file."""
        if self.assign is not None:
            yield from self.assign(element, n, *side)
        elif self.batched is None:
            yield bucket_of(self.key(element), n), element
        else:
            for index, recs in split_batch(self.batched(element), self.key, n).items():
                yield index, self.pack(recs) if self.pack else recs

    def records(self, parts: list[Any]) -> list[Record]:
        """One file's parts as its records, in file order."""
        if self.gather is not None:
            return self.gather(parts)
        if self.batched is None and self.assign is None:
            records = parts
        else:
            records = [rec for part in parts for rec in (self.unpack(part) if self.unpack else part)]
        return sort_records(records, self.sort_key)

    def write_file(self, item: tuple[FileId, Iterable[Any]], n: NumFiles) -> Any:
        file_id, parts = item
        records = self.records([p for p in parts if p is not None])
        if self.write is not None:
            return self.write(file_id, records, n)
        data = self.encode(records)
        path = self.path(file_id, n)
        storage.atomic_write_bytes(path, data)
        return self.result(path, records, data)


class WriteBucketed(beam.PTransform):
    """Records -> N files, each sorted, encoded and written atomically; one result per file written.

    See the module docstring for the parameters and a usage example. Records are never
    ``None`` (``None`` marks an empty file in the shuffle).
    """

    def __init__(
        self,
        *,
        num_files: int | beam.PCollection,
        path: Callable[[FileId, NumFiles], str] | None = None,
        encode: Callable[[list[Record]], bytes] | None = None,
        key: Callable[[Record], str | bytes] | None = None,
        sort_key: Callable[[Record], Any] | None = None,
        batched: Callable[[Any], Iterable[Record]] | None = None,
        pack: Callable[[list[Record]], Any] | None = None,
        unpack: Callable[[Any], Iterable[Record]] | None = None,
        assign: Callable[..., Iterable[tuple[FileId, Any]]] | None = None,
        assign_side_inputs: Sequence[Any] = (),
        gather: Callable[[list[Any]], list[Record]] | None = None,
        write: Callable[[FileId, list[Record], NumFiles], Any] | None = None,
        result: Callable[[str, list[Record], bytes], Any] = count_result,
        write_empty: bool = False,
        file_ids: Callable[[NumFiles], Iterable[FileId]] = range,
    ):
        super().__init__()
        if assign is None and key is None:
            raise ValueError("WriteBucketed needs key= (or assign=)")
        if write is None and (path is None or encode is None):
            raise ValueError("WriteBucketed needs path= and encode= (or write=)")
        self.num_files = num_files
        self.assign_side_inputs = tuple(assign_side_inputs)
        self.write_empty = write_empty
        self.file_ids = file_ids
        self.bucketing = _Bucketing(
            path, encode, key, sort_key, batched, pack, unpack, assign, gather, write, result
        )

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        b = self.bucketing
        n: Any = self.num_files
        if isinstance(n, pvalue.PCollection):
            n = pvalue.AsSingleton(n)
        parts = records | "AssignFiles" >> beam.FlatMap(b.parts, n, *self.assign_side_inputs)
        if self.write_empty:
            file_ids = self.file_ids
            every = (
                records.pipeline
                | "EveryFile" >> beam.Create([None])
                | "FileIds" >> beam.FlatMap(lambda _, count: ((f, None) for f in file_ids(count)), n)
            )
            parts = (parts, every) | "WithEveryFile" >> beam.Flatten()
        return parts | "GroupByFile" >> beam.GroupByKey() | "WriteFiles" >> beam.Map(b.write_file, n)

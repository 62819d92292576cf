"""Gzipped JSONL record files (quarantine, dropped): ``PREFIX-0000i-of-0000N.jsonl.gz``."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam

from pipelines.stage.bucketed import WriteBucketed

KeyedLine = tuple[str, str]  # (bucket/sort key, the record as one JSON line)


def json_line(rec: Any) -> str:
    return json.dumps(rec, ensure_ascii=False, sort_keys=True)


def jsonl_gz_bytes(lines: Iterable[KeyedLine]) -> bytes:
    """The lines as one gzip member with a zero mtime, so equal lines give equal bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        for _, line in lines:
            gz.write(line.encode("utf-8") + b"\n")
    return buf.getvalue()


def jsonl_path(prefix: str, index: int, num_files: int) -> str:
    return f"{prefix}-{index:05d}-of-{num_files:05d}.jsonl.gz"


class WriteJsonl(beam.PTransform):
    """Write dict records as ``PREFIX-00000-of-0000N.jsonl.gz``, deterministically and atomically.

    Records are spread over ``num_shards`` files by a stable hash of ``key_fn(record)`` and
    sorted by (key, line) inside each file, so the bytes do not depend on the runner or
    worker count. Shards with no records are not written. Returns the paths written.
    """

    def __init__(self, path_prefix: str, num_shards: int = 1, key_fn: Callable[[Any], str] | None = None):
        super().__init__()
        self.path_prefix = path_prefix
        self.num_shards = num_shards
        self.key_fn = key_fn or json_line

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        key_fn, prefix = self.key_fn, self.path_prefix
        return (
            records
            | "Key" >> beam.Map(lambda rec: (key_fn(rec), json_line(rec)))
            | "Write"
            >> WriteBucketed(
                key=lambda kl: kl[0],
                num_files=self.num_shards,
                encode=jsonl_gz_bytes,
                path=lambda index, n: jsonl_path(prefix, index, n),
                result=lambda path, lines, data: path,
            )
        )

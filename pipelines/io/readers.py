"""Read raw inputs into chunks of documents: ``ReadDocuments``.

One Beam element is a *chunk* ``(chunk_key, [doc, ...])``, never a single line: Beam's
per-element overhead would dominate otherwise. Files are listed in the driver,
reshuffled so that workers share them, and read by ``ReadFileFn``, which emits chunks
on the main output and, for every record it cannot turn into a document, a quarantine
record and a count.

Chunk keys are ``<hash of path>-<chunk index>``: the same input always gives the same keys.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import apache_beam as beam

from pipelines import fsutil
from pipelines.accounting import COUNTS, DOCS, QUARANTINE, StageOutputs, bump, quarantine_record
from pipelines.hashing import stable_hash_hex
from pipelines.io.config import ReadConfig
from pipelines.io.documents import iter_document_chunks
from pipelines.progress import RateLogger
from schemas import DocumentError, validate_document

Doc = dict[str, Any]

COMPRESSION_SUFFIXES = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
FORMAT_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def detect_format(path: str) -> tuple[str | None, str | None]:
    """(format, compression) from the file name, e.g. ``a.jsonl.gz`` -> ("jsonl", "gzip")."""
    suffixes = [s.lower() for s in PurePosixPath(path.split("://")[-1]).suffixes]
    compression = COMPRESSION_SUFFIXES.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    fmt = FORMAT_SUFFIXES.get(suffixes[-1]) if suffixes else None
    return fmt, compression


def source_label(path: str) -> str:
    """Default ``source`` of a file's documents: its name without extensions."""
    name = PurePosixPath(path.split("://")[-1]).name
    return name.split(".")[0] or name


def derived_id(path: str, index: int) -> str:
    return stable_hash_hex(f"{path}#{index}")


class ReadFileFn(beam.DoFn):
    """InputFile -> (chunk_key, docs) chunks; bad records go to the ``quarantine`` output."""

    def __init__(self, config: ReadConfig, stage: str = "read", total_bytes: int | None = None):
        self.config = config
        self.stage = stage
        self.total_bytes = total_bytes

    def setup(self) -> None:
        self.progress = RateLogger(f"{self.stage}: reading", total_bytes=self.total_bytes)

    def process(self, file: fsutil.InputFile) -> Iterator[Any]:
        fmt, compression = detect_format(file.path)
        prefix = stable_hash_hex(file.path)[:16]
        reader = {"jsonl": self._read_jsonl, "parquet": self._read_parquet}.get(fmt or "")
        if reader is None:
            rec = quarantine_record(self.stage, file.path, None, "unsupported_format", f"cannot read {file.path!r}: unknown format")
            yield beam.pvalue.TaggedOutput(QUARANTINE, rec)
            yield beam.pvalue.TaggedOutput(COUNTS, {"input": 1, "quarantined/unsupported_format": 1})
            return
        chunk: list[Doc] = []
        index = 0
        for item in reader(file.path, compression):
            if isinstance(item, dict) and "reason" in item and "stage" in item:
                yield beam.pvalue.TaggedOutput(QUARANTINE, item)
                counts = {"input": 1, f"quarantined/{item['reason']}": 1}
                bump(self.stage, counts)
                yield beam.pvalue.TaggedOutput(COUNTS, counts)
                continue
            chunk.append(item)
            if len(chunk) >= self.config.chunk_docs:
                yield from self._emit(prefix, index, chunk)
                index, chunk = index + 1, []
        if chunk:
            yield from self._emit(prefix, index, chunk)

    def _emit(self, prefix: str, index: int, chunk: list[Doc]) -> Iterator[Any]:
        counts = {"input": len(chunk)}
        bump(self.stage, counts)
        self.progress.update(len(chunk), sum(len(d["text"]) for d in chunk))
        yield beam.pvalue.TaggedOutput(COUNTS, counts)
        yield f"{prefix}-{index:06d}", chunk

    # -- formats ----------------------------------------------------------------------------------
    def _doc_from_record(self, path: str, index: int, rec: Any) -> Doc:
        cfg = self.config
        if not isinstance(rec, dict):
            raise DocumentError(f"record is a {type(rec).__name__}, not an object")
        if cfg.text_field not in rec:
            raise DocumentError(f"record has no {cfg.text_field!r} field")
        raw_id = rec.get(cfg.id_field)
        doc = {
            "id": str(raw_id) if raw_id not in (None, "") else derived_id(path, index),
            "text": rec[cfg.text_field],
            "source": cfg.source or source_label(path),
            "url": rec.get(cfg.url_field),
            "lang": None,
            "lang_score": None,
            "meta": {},
        }
        validate_document(doc)
        return doc

    def _read_jsonl(self, path: str, compression: str | None) -> Iterator[Any]:
        fs, p = fsutil.get_fs(path)
        with fs.open(p, "rb", compression=compression) as raw:
            for index, line in enumerate(io.BufferedReader(raw)):
                if not line.strip():
                    continue
                try:
                    yield self._doc_from_record(path, index, json.loads(line.decode("utf-8")))
                except UnicodeDecodeError as exc:
                    yield quarantine_record(self.stage, path, index, "invalid_utf8", str(exc), line)
                except json.JSONDecodeError as exc:
                    yield quarantine_record(self.stage, path, index, "bad_json", str(exc), line)
                except DocumentError as exc:
                    yield quarantine_record(self.stage, path, index, "wrong_type", str(exc), line)

    def _read_parquet(self, path: str, compression: str | None) -> Iterator[Any]:
        for chunk in iter_document_chunks(path, self.config.chunk_docs):
            yield from chunk


class ReadDocuments(beam.PTransform):
    """Input globs -> ``StageOutputs`` with document chunks, counts and quarantine records."""

    def __init__(self, patterns: list[str], config: ReadConfig | None = None, stage: str = "read"):
        super().__init__()
        self.patterns = list(patterns)
        self.config = config or ReadConfig()
        self.stage = stage

    def expand(self, pbegin: beam.pvalue.PBegin) -> StageOutputs:
        files = fsutil.expand_inputs(self.patterns)
        total = sum(f.size for f in files)
        results = (
            pbegin
            | "ListFiles" >> beam.Create(files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadFiles" >> beam.ParDo(ReadFileFn(self.config, self.stage, total)).with_outputs(COUNTS, QUARANTINE, main=DOCS)
        )
        dropped = pbegin | "NoDropped" >> beam.Create([])
        return StageOutputs(results[DOCS], results[COUNTS], dropped, results[QUARANTINE])

"""Read raw inputs into chunks of documents: ``ReadDocuments``.

One Beam element is a *chunk* ``(chunk_key, [doc, ...])``, never a single line: Beam's
per-element overhead (several microseconds) would dominate otherwise. Files are listed
in the driver, reshuffled so that workers share them, and read by ``ReadFileFn``.

Formats by extension (``.gz``/``.zst`` compression on top, except WARC which handles
its own per-record gzip):

* ``.jsonl``/``.json``/``.ndjson``: one JSON object per line (``ReadConfig`` names the fields)
* ``.parquet``: lmforge document files, or any table with a text column
* ``.txt``/``.md``: one document per file, or per blank-line block (``text_mode``)
* ``.html``/``.htm``: one document per file, raw HTML (the clean stage extracts text)
* ``.warc``/``.warc.gz``: Common-Crawl-style ``response`` records with an HTML/text payload

Bad input never crashes a run and never vanishes: each unreadable record becomes a
quarantine record (path, byte offset, reason, error, sample) and a count. Reasons:
``bad_json``, ``invalid_utf8``, ``wrong_type``, ``missing_text``, ``line_too_long``,
``too_large``, ``empty_file``, ``truncated_file`` (gzip/zstd cut short: what came before is
kept), ``corrupt_file``, ``not_text``/``binary_content`` (WARC payloads), ``unsupported_format``
and, for any error not foreseen, ``read_error``. Lines are read
with a bounded ``readline`` so a 200 MB single-line record is skipped in pieces, never
held in memory whole. Chunk keys are ``<hash of path>-<chunk index>``: the same input
always gives the same keys.
"""

from __future__ import annotations

import functools
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import apache_beam as beam
import numpy as np

from pipelines import fsutil
from pipelines.accounting import COUNTS, DOCS, QUARANTINE, StageOutputs, bump, quarantine_record
from pipelines.clock import crash_point
from pipelines.hashing import stable_hash_hex
from pipelines.io.config import ReadConfig
from pipelines.progress import RateLogger
from schemas import DOCUMENT_FIELDS, DocumentError, validate_document

Doc = dict[str, Any]

COMPRESSION_SUFFIXES = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
FORMAT_SUFFIXES = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".txt": "text",
    ".md": "text",
    ".html": "html",
    ".htm": "html",
    ".warc": "warc",
}
HTML_META = {"content_type": "text/html"}
# Errors that mean "the compressed stream is broken or ends early".
STREAM_ERRORS = (EOFError, zlib.error, OSError)


def detect_format(path: str) -> tuple[str | None, str | None]:
    """(format, compression) from the file name, e.g. ``a.jsonl.gz`` -> ("jsonl", "gzip")."""
    suffixes = [s.lower() for s in PurePosixPath(path.split("://")[-1]).suffixes]
    compression = COMPRESSION_SUFFIXES.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    fmt = FORMAT_SUFFIXES.get(suffixes[-1]) if suffixes else None
    return fmt, compression


@functools.lru_cache(maxsize=4096)
def source_label(path: str) -> str:
    """Default ``source`` of a file's documents: its name without extensions (cached: per document)."""
    name = PurePosixPath(path.split("://")[-1]).name
    return name.split(".")[0] or name


def derived_id(path: str, index: int) -> str:
    return stable_hash_hex(f"{path}#{index}")


class Quarantined(Exception):
    """A record that cannot become a document; carries the quarantine reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def read_bounded_lines(raw: io.BufferedIOBase, max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(byte offset, line)``; an over-long line yields ``(offset, None)`` after being skipped in pieces."""
    offset = 0
    while True:
        line = raw.readline(max_line_bytes + 1)
        if not line:
            return
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            start, size = offset, len(line)
            while line and not line.endswith(b"\n"):
                line = raw.readline(1 << 20)
                size += len(line)
            offset = start + size
            yield start, None
            continue
        yield offset, line
        offset += len(line)


def parse_meta(meta: str | None) -> dict:
    """The ``meta`` column of a document file (JSON text) as a dict."""
    if not meta:
        return {}
    try:
        value = json.loads(meta)
    except json.JSONDecodeError as exc:
        raise Quarantined("bad_json", f"meta is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Quarantined("wrong_type", f"meta is a JSON {type(value).__name__}, not an object")
    return value


def decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Quarantined("invalid_utf8", f"not valid UTF-8: {exc}") from exc


def _has_document_types(schema: Any) -> bool:
    """Whether a Parquet file's columns have the document schema's types (string kinds, float score)."""
    import pyarrow as pa

    for name in DOCUMENT_FIELDS:
        t = schema.field(name).type
        ok = (
            pa.types.is_floating(t)
            if name == "lang_score"
            else (pa.types.is_string(t) or pa.types.is_large_string(t))
        )
        if not ok:
            return False
    return True


def _sound_document_rows(batch: Any, max_doc_bytes: int) -> np.ndarray:
    """Rows of a typed document batch that need no per-field checks: id, text and source
    present, id not empty, text within ``max_doc_bytes``, a finite or null ``lang_score``.
    Other rows take the checked path."""
    import pyarrow.compute as pc

    ids, text = batch.column("id"), batch.column("text")
    ok = pc.and_(pc.is_valid(ids), pc.is_valid(text))
    ok = pc.and_(ok, pc.is_valid(batch.column("source")))
    ok = pc.and_(ok, pc.greater(pc.fill_null(pc.binary_length(ids), 0), 0))
    ok = pc.and_(ok, pc.less_equal(pc.fill_null(pc.binary_length(text), 0), max_doc_bytes))
    ok = pc.and_(ok, pc.fill_null(pc.is_finite(batch.column("lang_score")), True))
    return ok.to_numpy(zero_copy_only=False)


class FileReader:
    """Turns one file into documents and quarantine records (pure Python, no Beam)."""

    def __init__(self, config: ReadConfig, stage: str = "read"):
        self.config = config
        self.stage = stage

    # -- records ---------------------------------------------------------------------------
    def make_doc(
        self,
        path: str,
        index: int,
        text: Any,
        raw_id: Any = None,
        url: Any = None,
        meta: dict | None = None,
        fields: dict | None = None,
    ) -> Doc:
        """A document from one record; ``fields`` (e.g. a document file's ``source``, ``lang``,
        ``lang_score``) replace the defaults and are validated with the rest."""
        if not isinstance(text, str):
            raise Quarantined(
                "wrong_type", f"field {self.config.text_field!r} is a {type(text).__name__}, not a string"
            )
        limit = self.config.max_doc_bytes
        if 4 * len(text) > limit and (len(text) > limit or len(text.encode("utf-8")) > limit):
            raise Quarantined(
                "too_large", f"document of {len(text.encode('utf-8')):,} bytes exceeds max_doc_bytes"
            )
        if isinstance(raw_id, bool) or (raw_id is not None and not isinstance(raw_id, str | int)):
            raise Quarantined("wrong_type", f"field {self.config.id_field!r} is a {type(raw_id).__name__}")
        if url is not None and not isinstance(url, str):
            raise Quarantined(
                "wrong_type", f"field {self.config.url_field!r} is a {type(url).__name__}, not a string"
            )
        doc = {
            "id": str(raw_id) if raw_id not in (None, "") else derived_id(path, index),
            "text": text,
            "source": self.config.source or source_label(path),
            "url": url,
            "lang": None,
            "lang_score": None,
            "meta": dict(meta or {}),
        }
        if fields:
            doc.update(fields)
        try:
            validate_document(doc)
        except DocumentError as exc:
            raise Quarantined("wrong_type", str(exc)) from exc
        return doc

    def quarantine(self, path: str, offset: int | None, exc: Quarantined, sample: Any = None) -> Doc:
        return quarantine_record(self.stage, path, offset, exc.reason, str(exc), sample)

    # -- dispatch ----------------------------------------------------------------------------
    def read(self, path: str) -> Iterator[Doc]:
        """Documents and quarantine records (dicts with ``reason``) of one file, in file order."""
        fmt, compression = detect_format(path)
        readers = {
            "jsonl": self._jsonl,
            "parquet": self._parquet,
            "text": self._text,
            "html": self._html,
            "warc": self._warc,
        }
        if fmt not in readers:
            yield self.quarantine(
                path, None, Quarantined("unsupported_format", f"cannot read {path!r}: unknown format")
            )
            return
        emitted = 0
        position = [0]
        try:
            for item in readers[fmt](path, compression, position):
                emitted += 1
                yield item
        except STREAM_ERRORS as exc:
            reason = "truncated_file" if isinstance(exc, EOFError) else "corrupt_file"
            yield self.quarantine(
                path,
                position[0],
                Quarantined(reason, f"{type(exc).__name__}: {exc}; records before this offset were read"),
            )
            return
        except Exception as exc:  # a decoder or library error we did not foresee: still never a crash
            yield self.quarantine(
                path,
                position[0],
                Quarantined(
                    "read_error", f"{type(exc).__name__}: {exc}; records before this offset were read"
                ),
            )
            return
        if emitted == 0:
            yield self.quarantine(path, 0, Quarantined("empty_file", "file holds no records"))

    def _open(self, path: str, compression: str | None):
        fs, p = fsutil.get_fs(path)
        return fs.open(p, "rb", compression=compression)

    # -- formats -----------------------------------------------------------------------------
    def _jsonl(self, path: str, compression: str | None, position: list[int]) -> Iterator[Doc]:
        cfg = self.config
        with self._open(path, compression) as raw:
            for index, (offset, line) in enumerate(
                read_bounded_lines(io.BufferedReader(raw), cfg.max_line_bytes)
            ):
                position[0] = offset
                if line is None:
                    exc = Quarantined(
                        "line_too_long", f"line longer than max_line_bytes={cfg.max_line_bytes:,}; skipped"
                    )
                    yield self.quarantine(path, offset, exc)
                    continue
                if not line.strip():
                    continue
                try:
                    rec = json.loads(decode_utf8(line))
                    if not isinstance(rec, dict):
                        raise Quarantined(
                            "wrong_type", f"record is a JSON {type(rec).__name__}, not an object"
                        )
                    if cfg.text_field not in rec:
                        raise Quarantined("missing_text", f"record has no {cfg.text_field!r} field")
                    yield self.make_doc(
                        path, index, rec[cfg.text_field], rec.get(cfg.id_field), rec.get(cfg.url_field)
                    )
                except json.JSONDecodeError as exc:
                    if compression and not line.endswith(b"\n"):
                        # zstd readers end a cut-off stream quietly: the last line is then partial.
                        exc = Quarantined(
                            "truncated_file", f"last line cut off (compressed stream ends early): {exc}"
                        )
                    else:
                        exc = Quarantined("bad_json", f"invalid JSON: {exc}")
                    yield self.quarantine(path, offset, exc, line)
                except Quarantined as exc:
                    yield self.quarantine(path, offset, exc, line)

    def _parquet(self, path: str, compression: str | None, position: list[int]) -> Iterator[Doc]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        cfg = self.config
        fs, p = fsutil.get_fs(path)
        try:
            f = fs.open(p, "rb")
            pf = pq.ParquetFile(f)
        except (pa.ArrowInvalid, OSError) as exc:
            yield self.quarantine(path, 0, Quarantined("corrupt_file", f"not a readable Parquet file: {exc}"))
            return
        names = set(pf.schema_arrow.names)
        is_documents = set(DOCUMENT_FIELDS) <= names
        if not is_documents and cfg.text_field not in names:
            yield self.quarantine(
                path, 0, Quarantined("missing_text", f"Parquet file has no {cfg.text_field!r} column")
            )
            return
        index = 0
        typed = is_documents and _has_document_types(pf.schema_arrow)
        with f:
            for batch in pf.iter_batches(batch_size=cfg.chunk_docs):
                rows = batch.to_pylist()
                sound = _sound_document_rows(batch, cfg.max_doc_bytes) if typed else None
                for j, row in enumerate(rows):
                    position[0] = index
                    try:
                        if sound is not None and sound[j]:
                            # a typed document file and a row the batch checks passed: only
                            # its meta JSON is left to check
                            doc = {
                                "id": row["id"],
                                "text": row["text"],
                                "source": row["source"],
                                "url": row["url"],
                                "lang": row["lang"],
                                "lang_score": row["lang_score"],
                                "meta": parse_meta(row["meta"]),
                            }
                        elif is_documents:
                            meta = row.get("meta")
                            doc = self.make_doc(
                                path,
                                index,
                                row["text"],
                                row["id"],
                                row.get("url"),
                                parse_meta(meta),
                                {
                                    "source": row["source"],
                                    "lang": row.get("lang"),
                                    "lang_score": row.get("lang_score"),
                                },
                            )
                        else:
                            doc = self.make_doc(
                                path,
                                index,
                                row.get(cfg.text_field),
                                row.get(cfg.id_field),
                                row.get(cfg.url_field),
                            )
                        yield doc
                    except Quarantined as exc:
                        yield self.quarantine(path, index, exc, str(row)[:200])
                    index += 1

    def _text(self, path: str, compression: str | None, position: list[int]) -> Iterator[Doc]:
        with self._open(path, compression) as raw:
            data = raw.read(self.config.max_doc_bytes + 1)
            if len(data) > self.config.max_doc_bytes:
                yield self.quarantine(path, 0, Quarantined("too_large", "text file exceeds max_doc_bytes"))
                return
        try:
            text = decode_utf8(data)
        except Quarantined as exc:
            yield self.quarantine(path, 0, exc, data)
            return
        if self.config.text_mode == "paragraph":
            blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")]
            for i, block in enumerate(b for b in blocks if b):
                yield self.make_doc(path, i, block)
        elif text.strip():
            yield self.make_doc(path, 0, text)

    def _html(self, path: str, compression: str | None, position: list[int]) -> Iterator[Doc]:
        with self._open(path, compression) as raw:
            data = raw.read(self.config.max_doc_bytes + 1)
        if len(data) > self.config.max_doc_bytes:
            yield self.quarantine(path, 0, Quarantined("too_large", "HTML file exceeds max_doc_bytes"))
            return
        try:
            yield self.make_doc(path, 0, decode_utf8(data), meta=HTML_META)
        except Quarantined as exc:
            yield self.quarantine(path, 0, exc, data)

    def _warc(self, path: str, compression: str | None, position: list[int]) -> Iterator[Doc]:
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed

        fs, p = fsutil.get_fs(path)
        with fs.open(p, "rb") as raw:
            try:
                records = ArchiveIterator(raw)
                for record in records:
                    if record.rec_type != "response":
                        continue
                    url = record.rec_headers.get_header("WARC-Target-URI")
                    rid = record.rec_headers.get_header("WARC-Record-ID") or None
                    ctype = (
                        record.http_headers.get_header("Content-Type") if record.http_headers else ""
                    ) or ""
                    payload = record.content_stream().read(self.config.max_doc_bytes + 1)
                    # (warcio: ask for the offset only after reading the payload, or it reads as empty)
                    offset = records.get_record_offset()
                    position[0] = offset
                    try:
                        if not ctype.startswith(("text/", "application/xhtml")):
                            raise Quarantined(
                                "not_text", f"response payload is {ctype or 'untyped'}, not text"
                            )
                        if len(payload) > self.config.max_doc_bytes:
                            raise Quarantined("too_large", "WARC payload exceeds max_doc_bytes")
                        if b"\x00" in payload[:4096]:
                            raise Quarantined("binary_content", "payload contains NUL bytes (binary data)")
                        meta = {"content_type": ctype.split(";")[0].strip() or "text/html"}
                        yield self.make_doc(path, offset, decode_utf8(payload), rid, url, meta)
                    except Quarantined as exc:
                        yield self.quarantine(path, offset, exc, payload[:200])
            except ArchiveLoadFailed as exc:
                yield self.quarantine(
                    path, position[0], Quarantined("corrupt_file", f"unreadable WARC: {exc}")
                )


class ReadFileFn(beam.DoFn):
    """InputFile -> (chunk_key, docs) chunks; bad records go to the ``quarantine`` output."""

    def __init__(self, config: ReadConfig, stage: str = "read", total_bytes: int | None = None):
        self.config = config
        self.stage = stage
        self.total_bytes = total_bytes

    def setup(self) -> None:
        self.reader = FileReader(self.config, self.stage)
        self.progress = RateLogger(f"{self.stage}: reading", total_bytes=self.total_bytes)

    def process(self, file: fsutil.InputFile) -> Iterator[Any]:
        crash_point("read")  # crash-safety tests only (LMFORGE_CRASH_AT=read)
        prefix = stable_hash_hex(file.path)[:16]
        chunk: list[Doc] = []
        chunk_bytes = 0
        index = 0
        for item in self.reader.read(file.path):
            if "reason" in item and "stage" in item and "text" not in item:
                counts = {"input": 1, f"quarantined/{item['reason']}": 1}
                bump(self.stage, counts)
                yield beam.pvalue.TaggedOutput(QUARANTINE, item)
                yield beam.pvalue.TaggedOutput(COUNTS, counts)
                continue
            chunk.append(item)
            chunk_bytes += len(item["text"])
            if len(chunk) >= self.config.chunk_docs or chunk_bytes >= self.config.chunk_bytes:
                yield from self._emit(prefix, index, chunk, chunk_bytes)
                index, chunk, chunk_bytes = index + 1, [], 0
        if chunk:
            yield from self._emit(prefix, index, chunk, chunk_bytes)

    def _emit(self, prefix: str, index: int, chunk: list[Doc], nbytes: int) -> Iterator[Any]:
        counts = {"input": len(chunk)}
        bump(self.stage, counts)
        self.progress.update(len(chunk), nbytes)
        yield beam.pvalue.TaggedOutput(COUNTS, counts)
        yield f"{prefix}-{index:06d}", chunk


class ReadDocuments(beam.PTransform):
    """Input globs (or an explicit file list) -> ``StageOutputs`` with chunks, counts and quarantine."""

    def __init__(
        self,
        patterns: list[str] | None = None,
        config: ReadConfig | None = None,
        stage: str = "read",
        files: list[fsutil.InputFile] | None = None,
    ):
        super().__init__()
        self.patterns = list(patterns or [])
        self.config = config or ReadConfig()
        self.stage = stage
        self.files = files

    def expand(self, pbegin: beam.pvalue.PBegin) -> StageOutputs:
        files = self.files if self.files is not None else fsutil.expand_inputs(self.patterns)
        total = sum(f.size for f in files)
        results = (
            pbegin
            | "ListFiles" >> beam.Create(files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadFiles"
            >> beam.ParDo(ReadFileFn(self.config, self.stage, total)).with_outputs(
                COUNTS, QUARANTINE, main=DOCS
            )
        )
        dropped = pbegin | "NoDropped" >> beam.Create([])
        return StageOutputs(results[DOCS], results[COUNTS], dropped, results[QUARANTINE])

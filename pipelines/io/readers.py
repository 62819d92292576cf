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

import codecs
import contextlib
import functools
import io
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import apache_beam as beam
import numpy as np

from lmcore import storage
from lmcore.faults import crash_point
from lmcore.hashing import stable_hash_hex
from pipelines.io.charset import CharsetError, decode_page
from pipelines.io.config import ReadConfig
from pipelines.io.streams import (
    ChainedStream,
    DecompressedStream,
    StreamDamage,
    TranscodedStream,
    sniff_utf16,
)
from pipelines.stage.accounting import COUNTS, DOCS, QUARANTINE, StageOutputs, bump, quarantine_record
from pipelines.stage.progress import RateLogger
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
# A JSON escape that may decode to a lone surrogate (\uD800-\uDFFF), which no UTF-8 writer accepts.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
SURROGATE = re.compile("[\ud800-\udfff]")


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
    return storage.text_safe(name.split(".")[0] or name)


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
    if "\\u" in meta and SURROGATE_ESCAPE.search(meta.encode("utf-8")):
        try:  # the meta is written back as UTF-8 JSON: a lone surrogate would crash that writer
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Quarantined("lone_surrogate", f"meta holds a lone surrogate: {exc}") from exc
    return value


def decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Quarantined("invalid_utf8", f"not valid UTF-8: {exc}") from exc


SAMPLE_BYTES = 200


def detect_suffix(path: str) -> str:
    """The compression suffix of a file name (``.gz``), for messages."""
    suffixes = PurePosixPath(path.split("://")[-1]).suffixes
    return suffixes[-1].lower() if suffixes else ""


def check_no_surrogates(rec: dict, fields: tuple[str, ...]) -> None:
    """Refuse a record whose string fields hold a lone surrogate (from a ``\\uD800`` escape):
    no UTF-8 writer (Parquet, hashing, the tokenizer) accepts one."""
    for name in fields:
        value = rec.get(name)
        if isinstance(value, str):
            m = SURROGATE.search(value)
            if m:
                raise Quarantined(
                    "lone_surrogate",
                    f"field {name!r} holds a lone surrogate U+{ord(m.group()):04X} at character "
                    f"{m.start():,} (an unpaired \\uD800-\\uDFFF escape): not encodable as UTF-8",
                )


def decode_text(data: bytes) -> str:
    """A plain-text file: UTF-8, or UTF-16 with a BOM; else ``invalid_utf8``."""
    encoding = sniff_utf16(data[:64])
    if encoding:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise Quarantined("invalid_charset", f"looks like {encoding}, but is not valid: {exc}") from exc
    return decode_utf8(data)


def decode_html(data: bytes, content_type: str | None = None) -> tuple[str, str | None]:
    """(text, declared charset when not UTF-8): see ``pipelines.io.charset``."""
    try:
        return decode_page(data, content_type)
    except CharsetError as exc:
        raise Quarantined(exc.reason, str(exc)) from exc


def _row_or_error(batch: Any, j: int) -> dict | Quarantined:
    """Row ``j`` of a record batch, or why it cannot be read (e.g. invalid UTF-8 in a string column)."""
    try:
        return batch.slice(j, 1).to_pylist()[0]
    except UnicodeDecodeError as exc:
        return Quarantined("invalid_utf8", f"a string column is not valid UTF-8: {exc}")
    except Exception as exc:
        return Quarantined("read_error", f"{type(exc).__name__}: {exc}")


@functools.cache
def _archive_iterator_class() -> type:
    """warcio's ``ArchiveIterator`` that remembers whether the last gzip member was complete.

    warcio ends quietly on a gzip member cut short, and the record in it vanishes; the
    decompressor's ``eof`` flag, just before warcio closes it, says whether that happened."""
    from warcio.archiveiterator import ArchiveIterator

    class Checked(ArchiveIterator):
        truncated = False
        end_offset = 0

        def close(self) -> None:
            dec = self.reader.decompressor if self.reader is not None else None
            if dec is not None and not dec.eof:
                self.truncated = True
            try:
                self.end_offset = self.fh.tell()
            except (OSError, ValueError, AttributeError):
                self.end_offset = 0
            super().close()

    return Checked


def checked_archive_iterator(raw: Any) -> Any:
    """A warcio iterator over ``raw`` that notices a cut-off last gzip member."""
    return _archive_iterator_class()(raw)


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
        if (isinstance(raw_id, str) and SURROGATE.search(raw_id)) or (url and SURROGATE.search(url)):
            check_no_surrogates({"id": raw_id, "url": url}, ("id", "url"))
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

    @contextlib.contextmanager
    def _open(self, path: str, compression: str | None) -> Iterator[Any]:
        """The file's (decompressed) bytes; a ``DecompressedStream`` records damage instead of raising."""
        fs, p = storage.get_fs(path)
        with fs.open(p, "rb") as raw:
            if compression is None:
                yield raw
            else:
                with DecompressedStream(raw, compression) as stream:
                    yield stream

    def _damage(self, path: str, stream: Any, offset: int, sample: Any = None) -> Doc | None:
        """The quarantine record of a stream that ended early, or None when it is intact."""
        error: StreamDamage | None = getattr(stream, "error", None)
        if error is None:
            return None
        exc = Quarantined(error.reason, f"{error}; records before this offset were read")
        return self.quarantine(path, offset, exc, sample)

    def _read_whole(self, path: str, compression: str | None) -> tuple[bytes | None, Doc | None]:
        """(the file's bytes, None) or (None, its quarantine record: too large or damaged)."""
        with self._open(path, compression) as raw:
            data = raw.read(self.config.max_doc_bytes + 1)
            damage = self._damage(path, raw, 0, data[:SAMPLE_BYTES])
        if damage is not None:
            return None, damage
        if len(data) > self.config.max_doc_bytes:
            exc = Quarantined("too_large", f"file exceeds max_doc_bytes={self.config.max_doc_bytes:,}")
            return None, self.quarantine(path, 0, exc)
        return data, None

    # -- formats -----------------------------------------------------------------------------
    def _jsonl(self, path: str, compression: str | None, position: list[int]) -> Iterator[Doc]:
        cfg = self.config
        with self._open(path, compression) as raw:
            lines: Any = io.BufferedReader(raw)
            encoding = sniff_utf16(lines.peek(64)[:64])
            if encoding:  # a UTF-16 file: read as the UTF-8 it stands for (offsets count UTF-8 bytes)
                lines = io.BufferedReader(TranscodedStream(lines, encoding))
            if lines.peek(64)[:64].lstrip(codecs.BOM_UTF8 + b" \t\r\n").startswith(b"["):
                head = lines.read(cfg.max_line_bytes + 1)
                records = self._json_array(head)
                if records is not None:  # a whole-file JSON array of records, not JSONL
                    yield from self._array_records(path, records)
                    return
                lines = io.BufferedReader(ChainedStream(head, lines))  # JSONL after all: from the start
            yield from self._jsonl_lines(path, raw, lines, compression, position)

    def _json_array(self, data: bytes) -> list | None:
        """The records of a file that is one JSON array (read whole, up to ``max_line_bytes``), or None."""
        if len(data) > self.config.max_line_bytes:
            return None
        try:
            value = json.loads(data.decode("utf-8-sig"))
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, list) else None

    def _array_records(self, path: str, records: list) -> Iterator[Doc]:
        """A JSON array's records, as if each were a line (offset = its index in the array)."""
        cfg = self.config
        for index, rec in enumerate(records):
            try:
                if not isinstance(rec, dict):
                    raise Quarantined("wrong_type", f"record is a JSON {type(rec).__name__}, not an object")
                if cfg.text_field not in rec:
                    raise Quarantined("missing_text", f"record has no {cfg.text_field!r} field")
                check_no_surrogates(rec, (cfg.text_field, cfg.id_field, cfg.url_field))
                yield self.make_doc(
                    path, index, rec[cfg.text_field], rec.get(cfg.id_field), rec.get(cfg.url_field)
                )
            except Quarantined as exc:
                yield self.quarantine(path, index, exc, json.dumps(rec, ensure_ascii=False)[:200])

    def _jsonl_lines(
        self, path: str, raw: Any, lines: Any, compression: str | None, position: list[int]
    ) -> Iterator[Doc]:
        """JSONL records line by line; ``raw`` is the (decompressed) stream, for its damage."""
        cfg = self.config
        end = 0
        for index, (offset, line) in enumerate(read_bounded_lines(lines, cfg.max_line_bytes)):
            position[0] = offset
            if line is None:
                exc = Quarantined(
                    "line_too_long", f"line longer than max_line_bytes={cfg.max_line_bytes:,}; skipped"
                )
                yield self.quarantine(path, offset, exc)
                continue
            end = offset + len(line)
            if not line.endswith(b"\n") and getattr(raw, "error", None) is not None:
                end = offset  # the last line, cut off with the stream: part of the damage record
                break
            if index == 0 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            if not line.strip():
                continue
            yield self._jsonl_record(path, index, offset, line, compression)
        damage = self._damage(path, raw, end)
        if damage is not None:
            position[0] = end
            yield damage

    def _jsonl_record(self, path: str, index: int, offset: int, line: bytes, compression: str | None) -> Doc:
        """One JSONL line -> a document or its quarantine record (never raises)."""
        cfg = self.config
        try:
            rec = json.loads(decode_utf8(line))
            if not isinstance(rec, dict):
                raise Quarantined("wrong_type", f"record is a JSON {type(rec).__name__}, not an object")
            if cfg.text_field not in rec:
                raise Quarantined("missing_text", f"record has no {cfg.text_field!r} field")
            if SURROGATE_ESCAPE.search(line):
                check_no_surrogates(rec, (cfg.text_field, cfg.id_field, cfg.url_field))
            return self.make_doc(
                path, index, rec[cfg.text_field], rec.get(cfg.id_field), rec.get(cfg.url_field)
            )
        except json.JSONDecodeError as exc:
            if compression and not line.endswith(b"\n"):
                # a stream that ends quietly inside a line: the last line is partial
                exc = Quarantined(
                    "truncated_file", f"last line cut off (compressed stream ends early): {exc}"
                )
            else:
                exc = Quarantined("bad_json", f"invalid JSON: {exc}")
            return self.quarantine(path, offset, exc, line)
        except RecursionError:
            exc = Quarantined(
                "json_too_deep", "JSON nested too deeply to parse (arrays/objects inside each other)"
            )
            return self.quarantine(path, offset, exc, line)
        except Quarantined as exc:
            return self.quarantine(path, offset, exc, line)
        except Exception as exc:  # not foreseen: this record only, the file goes on
            return self.quarantine(
                path, offset, Quarantined("read_error", f"{type(exc).__name__}: {exc}"), line
            )

    def _parquet(self, path: str, compression: str | None, position: list[int]) -> Iterator[Doc]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if compression:
            exc = Quarantined(
                "unsupported_format",
                f"compressed Parquet (.parquet{detect_suffix(path)}) is not supported: Parquet compresses "
                "its pages itself; give the plain .parquet file",
            )
            yield self.quarantine(path, 0, exc)
            return
        cfg = self.config
        fs, p = storage.get_fs(path)
        with fs.open(p, "rb") as f:
            try:
                pf = pq.ParquetFile(f)
            except (pa.ArrowInvalid, OSError) as exc:
                yield self.quarantine(
                    path, 0, Quarantined("corrupt_file", f"not a readable Parquet file: {exc}")
                )
                return
            names = set(pf.schema_arrow.names)
            is_documents = set(DOCUMENT_FIELDS) <= names
            if not is_documents and cfg.text_field not in names:
                yield self.quarantine(
                    path, 0, Quarantined("missing_text", f"Parquet file has no {cfg.text_field!r} column")
                )
                return
            typed = is_documents and _has_document_types(pf.schema_arrow)
            index = 0
            for group in range(pf.metadata.num_row_groups):
                rows_in_group = pf.metadata.row_group(group).num_rows
                start, read = index, 0
                try:
                    for batch in pf.iter_batches(batch_size=cfg.chunk_docs, row_groups=[group]):
                        yield from self._parquet_batch(path, batch, index, is_documents, typed)
                        index += batch.num_rows
                        read += batch.num_rows
                        position[0] = index
                except Exception as exc:  # a damaged row group: the others are still read
                    exc = Quarantined(
                        "corrupt_row_group",
                        f"row group {group} (rows {start + read:,} to {start + rows_in_group - 1:,}) "
                        f"cannot be read: {type(exc).__name__}: {exc}",
                    )
                    yield self.quarantine(path, start + read, exc)
                index = start + rows_in_group

    def _parquet_batch(
        self, path: str, batch: Any, first: int, is_documents: bool, typed: bool
    ) -> Iterator[Doc]:
        """The documents and quarantine records of one record batch, row by row."""
        try:
            rows = batch.to_pylist()
        except Exception:  # e.g. invalid UTF-8 in a string column: find the bad rows one by one
            rows = [_row_or_error(batch, j) for j in range(batch.num_rows)]
        sound = _sound_document_rows(batch, self.config.max_doc_bytes) if typed else None
        for j, row in enumerate(rows):
            index = first + j
            try:
                if isinstance(row, Quarantined):
                    raise row
                yield self._parquet_row(path, index, row, is_documents, sound is not None and sound[j])
            except Quarantined as exc:
                yield self.quarantine(path, index, exc, str(row)[:200])

    def _parquet_row(self, path: str, index: int, row: dict, is_documents: bool, sound: bool) -> Doc:
        cfg = self.config
        if sound:
            # a typed document file and a row the batch checks passed: only its meta JSON is left
            return {
                "id": row["id"],
                "text": row["text"],
                "source": row["source"],
                "url": row["url"],
                "lang": row["lang"],
                "lang_score": row["lang_score"],
                "meta": parse_meta(row["meta"]),
            }
        if is_documents:
            return self.make_doc(
                path,
                index,
                row["text"],
                row["id"],
                row.get("url"),
                parse_meta(row.get("meta")),
                {"source": row["source"], "lang": row.get("lang"), "lang_score": row.get("lang_score")},
            )
        return self.make_doc(
            path, index, row.get(cfg.text_field), row.get(cfg.id_field), row.get(cfg.url_field)
        )

    def _text(self, path: str, compression: str | None, position: list[int]) -> Iterator[Doc]:
        data, bad = self._read_whole(path, compression)
        if bad is not None:
            yield bad
            return
        try:
            text = decode_text(data)
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
        data, bad = self._read_whole(path, compression)
        if bad is not None:
            yield bad
            return
        try:
            text, charset = decode_html(data)
            meta = {**HTML_META, "charset": charset} if charset else HTML_META
            yield self.make_doc(path, 0, text, meta=meta)
        except Quarantined as exc:
            yield self.quarantine(path, 0, exc, data)

    def _warc(self, path: str, compression: str | None, position: list[int]) -> Iterator[Doc]:
        from warcio.exceptions import ArchiveLoadFailed

        fs, p = storage.get_fs(path)
        with fs.open(p, "rb") as raw:
            records = checked_archive_iterator(raw)
            try:
                for record in records:
                    if record.rec_type != "response":
                        continue
                    yield from self._warc_response(path, record, records, position)
            except ArchiveLoadFailed as exc:
                yield self.quarantine(
                    path, position[0], Quarantined("corrupt_file", f"unreadable WARC: {exc}")
                )
                return
            if records.truncated:
                exc = Quarantined(
                    "truncated_file",
                    "EOFError: the last gzip member ends early (the file is cut short); "
                    "records before this offset were read",
                )
                yield self.quarantine(path, records.end_offset, exc)

    def _warc_response(self, path: str, record: Any, records: Any, position: list[int]) -> Iterator[Doc]:
        url = record.rec_headers.get_header("WARC-Target-URI")
        rid = record.rec_headers.get_header("WARC-Record-ID") or None
        ctype = (record.http_headers.get_header("Content-Type") if record.http_headers else "") or ""
        limit = self.config.max_doc_bytes
        payload = record.content_stream().read(limit + 1)
        # (warcio: ask for the offset only after reading the payload, or it reads as empty)
        offset = records.get_record_offset()
        position[0] = offset
        missing = getattr(record.raw_stream, "limit", 0) if len(payload) <= limit else 0
        try:
            if missing > 0:
                raise Quarantined(
                    "truncated_record",
                    f"record is cut short: {missing:,} of its Content-Length "
                    f"{record.length:,} bytes are missing",
                )
            if not ctype.startswith(("text/", "application/xhtml")):
                raise Quarantined("not_text", f"response payload is {ctype or 'untyped'}, not text")
            if len(payload) > limit:
                raise Quarantined("too_large", "WARC payload exceeds max_doc_bytes")
            if b"\x00" in payload[:4096] and not payload.startswith(
                (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
            ):
                raise Quarantined("binary_content", "payload contains NUL bytes (binary data)")
            text, charset = decode_html(payload, ctype)
            meta = {"content_type": ctype.split(";")[0].strip() or "text/html"}
            if charset:
                meta["charset"] = charset
            yield self.make_doc(path, offset, text, rid, url, meta)
        except Quarantined as exc:
            yield self.quarantine(path, offset, exc, payload[:200])


class ReadFileFn(beam.DoFn):
    """InputFile -> (chunk_key, docs) chunks; bad records go to the ``quarantine`` output."""

    def __init__(self, config: ReadConfig, stage: str = "read", total_bytes: int | None = None):
        self.config = config
        self.stage = stage
        self.total_bytes = total_bytes

    def setup(self) -> None:
        self.reader = FileReader(self.config, self.stage)
        self.progress = RateLogger(f"{self.stage}: reading", total_bytes=self.total_bytes)

    def process(self, file: storage.InputFile) -> Iterator[Any]:
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
        files: list[storage.InputFile] | None = None,
    ):
        super().__init__()
        self.patterns = list(patterns or [])
        self.config = config or ReadConfig()
        self.stage = stage
        self.files = files

    def expand(self, pbegin: beam.pvalue.PBegin) -> StageOutputs:
        files = self.files if self.files is not None else storage.expand_inputs(self.patterns)
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

"""Labelled records from input files: documents whose ``meta`` carries the label (and split) field.

The pretraining readers keep only a record's text, id and url. A task needs the label too,
so JSONL and Parquet are read here with the same helpers (offsets, damage, quarantine
reasons) and ``meta`` = the record's label and split fields when it has them; CSV/TSV
already keep every other column in ``meta``. Other formats (plain text, HTML, WARC) have no
labels: such a file is one ``unsupported_format`` record. Nothing here raises: an error
nobody foresaw ends its file with one ``read_error`` record after the records read.

``text_role`` names what the text field is: ``text`` (classification: the readers' own
``missing_text`` and ``wrong_type``) or ``source`` (pairs: a record whose source field is
absent or null is ``missing_source``, one whose source is not a string ``bad_source``, so the
two sides of a pair are quarantined with reasons of the same shape).
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

from pipelines.io import file_reader
from pipelines.io.damage import READ_BEFORE, open_input, stream_damage
from pipelines.io.decoding import SURROGATE_ESCAPE, check_no_surrogates, decode_utf8
from pipelines.io.formats import jsonl, parquet
from pipelines.io.formats.base import FileContext
from pipelines.io.lines import read_bounded_lines
from pipelines.io.records import Quarantine, Quarantined, Record
from pipelines.io.registry import FORMATS, detect_format
from pipelines.io.streams import ChainedStream, TranscodedStream, sniff_utf16

LabelledReader = Callable[[FileContext, tuple[str, ...], str], Iterator[Record]]
TEXT = "text"  # the text field's role in a classification task


def _missing_reason(role: str) -> str:
    return "missing_text" if role == TEXT else f"missing_{role}"


def _checked(file: FileContext, rec: Any, role: str) -> dict:
    """``rec`` if it is an object with a text field (of a string, when it is a pair's source),
    else ``Quarantined``."""
    if role != TEXT and isinstance(rec, dict):
        field = file.config.text_field
        value = rec.get(field)
        if value is None:
            raise Quarantined(_missing_reason(role), f"record has no {role} (field {field!r})")
        if not isinstance(value, str):
            raise Quarantined(f"bad_{role}", f"field {field!r} is a {type(value).__name__}, not a string")
    return jsonl.checked_record(file, rec)


def _document(file: FileContext, index: int, rec: dict, fields: tuple[str, ...]) -> Record:
    cfg = file.config
    meta = {name: rec[name] for name in fields if name in rec}
    return file.document(index, rec[cfg.text_field], rec.get(cfg.id_field), rec.get(cfg.url_field), meta)


def _json_record(file: FileContext, index: int, rec: Any, fields: tuple[str, ...], role: str) -> Record:
    cfg = file.config
    rec = _checked(file, rec, role)
    check_no_surrogates(rec, (cfg.text_field, cfg.id_field, cfg.url_field, *fields))
    return _document(file, index, rec, fields)


def _json_line(
    file: FileContext, index: int, offset: int, line: bytes, fields: tuple[str, ...], role: str
) -> Record:
    try:
        rec = json.loads(decode_utf8(line))
        if not SURROGATE_ESCAPE.search(line):
            return _document(file, index, _checked(file, rec, role), fields)
        return _json_record(file, index, rec, fields, role)
    except json.JSONDecodeError as exc:
        return file.quarantine(offset, Quarantined("bad_json", f"invalid JSON: {exc}"), line)
    except RecursionError:
        return file.quarantine(offset, Quarantined("json_too_deep", "JSON nested too deeply to parse"), line)
    except Quarantined as exc:
        return file.quarantine(offset, exc, line)


def read_jsonl(file: FileContext, fields: tuple[str, ...], role: str = TEXT) -> Iterator[Record]:
    """JSON Lines (or one JSON array of records), as ``pipelines.io.formats.jsonl`` reads them."""
    max_line_bytes = file.config.max_line_bytes
    with open_input(file) as raw:
        lines: Any = io.BufferedReader(raw)
        encoding = sniff_utf16(lines.peek(64)[:64])
        if encoding:
            lines = io.BufferedReader(TranscodedStream(lines, encoding))
        if lines.peek(64)[:64].lstrip(jsonl.ARRAY_START_SKIP).startswith(b"["):
            head = lines.read(max_line_bytes + 1)
            records = jsonl.json_array(head, max_line_bytes)
            if records is not None:
                for index, rec in enumerate(records):
                    try:
                        yield _json_record(file, index, rec, fields, role)
                    except Quarantined as exc:
                        yield file.quarantine(index, exc, json.dumps(rec, ensure_ascii=False)[:200])
                return
            lines = io.BufferedReader(ChainedStream(head, lines))
        end = 0
        for index, (offset, line) in enumerate(read_bounded_lines(lines, max_line_bytes)):
            file.position = offset
            if line is None:
                why = Quarantined("line_too_long", f"line longer than max_line_bytes={max_line_bytes:,}")
                yield file.quarantine(offset, why)
                continue
            end = offset + len(line)
            if not line.endswith(b"\n") and getattr(raw, "error", None) is not None:
                end = offset  # cut off with the stream: part of the damage record
                break
            if index == 0 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            if line.strip():
                yield _json_line(file, index, offset, line, fields, role)
        damage = stream_damage(file, raw, end)
        if damage is not None:
            yield damage


def read_parquet(file: FileContext, fields: tuple[str, ...], role: str = TEXT) -> Iterator[Record]:
    """Any Parquet table with the text column; the label and split columns go to ``meta``."""
    import pyarrow.parquet as pq

    from lmcore import storage

    if file.compression:
        yield file.quarantine(0, Quarantined("unsupported_format", "compressed Parquet is not supported"))
        return
    fs, p = storage.get_fs(file.path)
    with fs.open(p, "rb") as f:
        try:
            pf = pq.ParquetFile(f)
        except Exception as exc:
            yield file.quarantine(0, Quarantined("corrupt_file", f"not a readable Parquet file: {exc}"))
            return
        if file.config.text_field not in pf.schema_arrow.names:
            why = Quarantined(_missing_reason(role), f"Parquet file has no {file.config.text_field!r} column")
            yield file.quarantine(0, why)
            return
        start = 0
        for group in range(pf.metadata.num_row_groups):
            index = start
            try:
                for batch in pf.iter_batches(batch_size=file.config.chunk_docs, row_groups=[group]):
                    for j in range(batch.num_rows):
                        row = parquet.row_or_error(batch, j)
                        try:
                            if isinstance(row, Quarantined):
                                raise row
                            yield _document(file, index + j, _checked(file, row, role), fields)
                        except Quarantined as exc:
                            yield file.quarantine(index + j, exc, str(row)[:200])
                    index += batch.num_rows
                    file.position = index
            except Exception as exc:  # a damaged row group: the others are still read
                why = Quarantined("corrupt_row_group", f"row group {group}: {type(exc).__name__}: {exc}")
                yield file.quarantine(index, why)
            start += pf.metadata.row_group(group).num_rows


def _registered(name: str) -> LabelledReader:
    """A pretraining reader (CSV/TSV keep every other column in ``meta``); a file without the
    text column is ``missing_<role>``."""

    def read(file: FileContext, fields: tuple[str, ...], role: str = TEXT) -> Iterator[Record]:
        for item in FORMATS[name].read(file):
            if role != TEXT and isinstance(item, Quarantine) and item.reason == "missing_text":
                item = item._replace(reason=_missing_reason(role))
            yield item

    return read


LABELLED_FORMATS: dict[str, LabelledReader] = {
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "csv": _registered("csv"),
    "tsv": _registered("tsv"),
}


def labelled_records(file: FileContext, fields: tuple[str, ...], text_role: str = TEXT) -> Iterator[Record]:
    """``file``'s records with ``fields`` (label or target, split) in ``meta``; never raises."""
    fmt, _ = detect_format(file.path)
    read = LABELLED_FORMATS.get(fmt or "")
    if read is None:
        why = Quarantined(
            "unsupported_format",
            f"cannot read labelled records from {file.path!r}: give JSONL, CSV, TSV or Parquet",
        )
        yield file.quarantine(None, why)
        return
    emitted = 0
    try:
        for item in read(file, fields, text_role):
            emitted += 1
            yield item
    except file_reader.STREAM_ERRORS as exc:
        reason = "truncated_file" if isinstance(exc, EOFError) else "corrupt_file"
        yield file.quarantine(
            file.position, Quarantined(reason, f"{type(exc).__name__}: {exc}; {READ_BEFORE}")
        )
        return
    except Exception as exc:
        why = Quarantined("read_error", f"{type(exc).__name__}: {exc}; {READ_BEFORE}")
        yield file.quarantine(file.position, why)
        return
    if emitted == 0:
        yield file.quarantine(0, Quarantined("empty_file", "file holds no records"))


class LabelledFileReader:
    """``FileReader``'s interface (``records(path)``) for labelled records."""

    def __init__(self, config: Any, fields: tuple[str, ...], stage: str = "read", text_role: str = TEXT):
        self.config = config
        self.fields = fields
        self.stage = stage
        self.text_role = text_role

    def records(self, path: str) -> Iterator[Record]:
        _, compression = detect_format(path)
        file = FileContext(path, compression, self.config, self.stage)
        return labelled_records(file, self.fields, self.text_role)

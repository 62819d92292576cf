"""JSON Lines (``.jsonl``/``.json``/``.ndjson``): one JSON object per line, fields named by ``ReadConfig``.

A ``.json`` file that is one JSON array of records is read as those records (offset = the
index in the array), not as one ``bad_json`` per line. UTF-16 files are transcoded to the
UTF-8 they stand for, so offsets always count UTF-8 bytes.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator
from typing import Any

from pipelines.io.damage import open_input, stream_damage
from pipelines.io.decoding import SURROGATE_ESCAPE, check_no_surrogates, decode_utf8
from pipelines.io.formats.base import FileContext, Format
from pipelines.io.lines import read_bounded_lines
from pipelines.io.records import Quarantined, Record
from pipelines.io.streams import ChainedStream, TranscodedStream, sniff_utf16

ARRAY_START_SKIP = codecs.BOM_UTF8 + b" \t\r\n"


def read_jsonl(file: FileContext) -> Iterator[Record]:
    with open_input(file) as raw:
        lines: Any = io.BufferedReader(raw)
        encoding = sniff_utf16(lines.peek(64)[:64])
        if encoding:
            lines = io.BufferedReader(TranscodedStream(lines, encoding))
        if lines.peek(64)[:64].lstrip(ARRAY_START_SKIP).startswith(b"["):
            head = lines.read(file.config.max_line_bytes + 1)
            records = json_array(head, file.config.max_line_bytes)
            if records is not None:
                yield from array_records(file, records)
                return
            # JSONL after all: read from the start, without opening the file again
            lines = io.BufferedReader(ChainedStream(head, lines))
        yield from jsonl_lines(file, raw, lines)


def json_array(data: bytes, max_bytes: int) -> list | None:
    """The records of a file that is one JSON array (read whole, up to ``max_bytes``), or None."""
    if len(data) > max_bytes:
        return None
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, list) else None


def checked_record(file: FileContext, rec: Any) -> dict:
    """``rec`` if it is an object with a text field, else ``Quarantined``."""
    if not isinstance(rec, dict):
        raise Quarantined("wrong_type", f"record is a JSON {type(rec).__name__}, not an object")
    if file.config.text_field not in rec:
        raise Quarantined("missing_text", f"record has no {file.config.text_field!r} field")
    return rec


def record_document(file: FileContext, index: int, rec: dict) -> Record:
    cfg = file.config
    return file.document(index, rec[cfg.text_field], rec.get(cfg.id_field), rec.get(cfg.url_field))


def array_records(file: FileContext, records: list) -> Iterator[Record]:
    """A JSON array's records, as if each were a line (offset = its index in the array)."""
    cfg = file.config
    for index, rec in enumerate(records):
        try:
            checked_record(file, rec)
            check_no_surrogates(rec, (cfg.text_field, cfg.id_field, cfg.url_field))
            yield record_document(file, index, rec)
        except Quarantined as exc:
            yield file.quarantine(index, exc, json.dumps(rec, ensure_ascii=False)[:200])


def jsonl_lines(file: FileContext, raw: Any, lines: Any) -> Iterator[Record]:
    """JSONL records line by line; ``raw`` is the (decompressed) stream, for its damage."""
    max_line_bytes = file.config.max_line_bytes
    end = 0
    for index, (offset, line) in enumerate(read_bounded_lines(lines, max_line_bytes)):
        file.position = offset
        if line is None:
            exc = Quarantined("line_too_long", f"line longer than max_line_bytes={max_line_bytes:,}; skipped")
            yield file.quarantine(offset, exc)
            continue
        end = offset + len(line)
        if not line.endswith(b"\n") and getattr(raw, "error", None) is not None:
            end = offset  # the last line, cut off with the stream: part of the damage record
            break
        if index == 0 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
        if not line.strip():
            continue
        yield jsonl_record(file, index, offset, line)
    damage = stream_damage(file, raw, end)
    if damage is not None:
        file.position = end
        yield damage


def jsonl_record(file: FileContext, index: int, offset: int, line: bytes) -> Record:
    """One JSONL line -> a document or its quarantine record (never raises)."""
    cfg = file.config
    try:
        rec = checked_record(file, json.loads(decode_utf8(line)))
        if SURROGATE_ESCAPE.search(line):
            check_no_surrogates(rec, (cfg.text_field, cfg.id_field, cfg.url_field))
        return record_document(file, index, rec)
    except json.JSONDecodeError as exc:
        if file.compression and not line.endswith(b"\n"):
            # a stream that ends quietly inside a line: the last line is partial
            why = Quarantined("truncated_file", f"last line cut off (compressed stream ends early): {exc}")
        else:
            why = Quarantined("bad_json", f"invalid JSON: {exc}")
        return file.quarantine(offset, why, line)
    except RecursionError:
        why = Quarantined(
            "json_too_deep", "JSON nested too deeply to parse (arrays/objects inside each other)"
        )
        return file.quarantine(offset, why, line)
    except Quarantined as exc:
        return file.quarantine(offset, exc, line)
    except Exception as exc:  # not foreseen: this record only, the file goes on
        return file.quarantine(offset, Quarantined("read_error", f"{type(exc).__name__}: {exc}"), line)


FORMAT = Format("jsonl", (".jsonl", ".json", ".ndjson"), read_jsonl)

"""CSV (``.csv``) and TSV (``.tsv``): a header row, then one record per row.

The header names the columns: ``read.text_field`` holds the text, ``read.id_field`` and
``read.url_field`` are used when present, and every other column is kept, as a string, in
the document's ``meta`` (so a labelled set's ``label`` or ``split`` column reaches
``pipelines.prepare_task``). Quoted fields may span lines. A row that cannot be a record
is quarantined alone, and the rows around it are read: ``bad_row`` (a field count that
differs from the header's), ``bad_csv`` (a quoting error), ``invalid_utf8``,
``line_too_long``; a file without the text column is one ``missing_text`` record. Offsets are
the byte offset of the row's first line in the (decompressed) file.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import Any

from pipelines.io.damage import open_input, stream_damage
from pipelines.io.decoding import SURROGATE
from pipelines.io.formats.base import FileContext, Format
from pipelines.io.lines import read_bounded_lines
from pipelines.io.records import Quarantined, Record


class _Lines:
    """The file's lines as text for ``csv.reader``, remembering where each one starts.

    Bytes that are not UTF-8 become lone surrogates (``surrogateescape``), so the row that
    holds them, and only that row, is quarantined as ``invalid_utf8``.
    """

    def __init__(self, stream: Any, max_line_bytes: int):
        self._lines = read_bounded_lines(stream, max_line_bytes)
        self.starts: list[int] = []  # byte offset of every line handed out
        self.too_long: list[int] = []  # offsets of lines skipped for their length, not yet reported
        self.end = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        for offset, line in self._lines:
            if line is None:
                self.too_long.append(offset)
                continue
            self.end = offset + len(line)
            if offset == 0 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            self.starts.append(offset)
            return line.decode("utf-8", "surrogateescape")
        raise StopIteration

    def start_of(self, line_num_before: int) -> int:
        """Byte offset of the record that began after ``line_num_before`` lines."""
        if line_num_before < len(self.starts):
            return self.starts[line_num_before]
        return self.end


def _row_text(row: list[str]) -> str:
    return ",".join(row)[:200]


def _row_document(file: FileContext, index: int, header: list[str], row: list[str]) -> Record:
    cfg = file.config
    if len(row) != len(header):
        raise Quarantined("bad_row", f"row has {len(row)} field(s), the header has {len(header)}")
    if any(SURROGATE.search(value) for value in row):
        raise Quarantined("invalid_utf8", "row is not valid UTF-8")
    values = dict(zip(header, row, strict=True))
    named = (cfg.text_field, cfg.id_field, cfg.url_field)
    meta = {name: value for name, value in values.items() if name not in named}
    return file.document(
        index,
        values[cfg.text_field],
        values.get(cfg.id_field) or None,
        values.get(cfg.url_field) or None,
        meta,
    )


def read_delimited(file: FileContext, delimiter: str) -> Iterator[Record]:
    cfg = file.config
    csv.field_size_limit(max(csv.field_size_limit(), cfg.max_doc_bytes))
    with open_input(file) as raw:
        lines = _Lines(io.BufferedReader(raw), cfg.max_line_bytes)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        header: list[str] | None = None
        index = 0
        while True:
            before = reader.line_num
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                offset = lines.start_of(before)
                file.position = offset
                yield file.quarantine(offset, Quarantined("bad_csv", f"line {before + 1}: {exc}"))
                continue
            finally:
                while lines.too_long:
                    offset = lines.too_long.pop(0)
                    why = Quarantined(
                        "line_too_long", f"line longer than max_line_bytes={cfg.max_line_bytes:,}"
                    )
                    yield file.quarantine(offset, why)
            offset = lines.start_of(before)
            file.position = offset
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            if header is None:
                header = [name.strip() for name in row]
                if cfg.text_field not in header:
                    why = Quarantined("missing_text", f"header has no {cfg.text_field!r} column: {header}")
                    yield file.quarantine(offset, why, _row_text(row))
                    return
                continue
            try:
                yield _row_document(file, index, header, row)
            except Quarantined as exc:
                yield file.quarantine(offset, exc, _row_text(row))
            index += 1
        damage = stream_damage(file, raw, lines.end)
        if damage is not None:
            file.position = lines.end
            yield damage


def read_csv(file: FileContext) -> Iterator[Record]:
    return read_delimited(file, ",")


def read_tsv(file: FileContext) -> Iterator[Record]:
    return read_delimited(file, "\t")


FORMAT = Format("csv", (".csv",), read_csv)
TSV_FORMAT = Format("tsv", (".tsv",), read_tsv)

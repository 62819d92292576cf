"""WARC (``.warc``/``.warc.gz``): Common-Crawl-style ``response`` records with an HTML/text payload.

warcio reads the per-record gzip itself, so the file's compression is not unwrapped here.
Offsets are the records' byte offsets in the (compressed) file.
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import Iterator
from typing import Any

from lmcore import storage
from pipelines.io.decoding import decode_html
from pipelines.io.formats.base import FileContext, Format
from pipelines.io.records import Quarantined, Record

TEXT_TYPES = ("text/", "application/xhtml")
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


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


def read_warc(file: FileContext) -> Iterator[Record]:
    from warcio.exceptions import ArchiveLoadFailed

    fs, p = storage.get_fs(file.path)
    with fs.open(p, "rb") as raw:
        records = checked_archive_iterator(raw)
        try:
            for record in records:
                if record.rec_type == "response":
                    yield response_record(file, record, records)
        except ArchiveLoadFailed as exc:
            yield file.quarantine(file.position, Quarantined("corrupt_file", f"unreadable WARC: {exc}"))
            return
        if records.truncated:
            exc = Quarantined(
                "truncated_file",
                "EOFError: the last gzip member ends early (the file is cut short); "
                "records before this offset were read",
            )
            yield file.quarantine(records.end_offset, exc)


def response_record(file: FileContext, record: Any, records: Any) -> Record:
    """One ``response`` record -> a document or its quarantine record."""
    url = record.rec_headers.get_header("WARC-Target-URI")
    rid = record.rec_headers.get_header("WARC-Record-ID") or None
    ctype = (record.http_headers.get_header("Content-Type") if record.http_headers else "") or ""
    limit = file.config.max_doc_bytes
    payload = record.content_stream().read(limit + 1)
    # (warcio: ask for the offset only after reading the payload, or it reads as empty)
    offset = records.get_record_offset()
    file.position = offset
    missing = getattr(record.raw_stream, "limit", 0) if len(payload) <= limit else 0
    try:
        if missing > 0:
            raise Quarantined(
                "truncated_record",
                f"record is cut short: {missing:,} of its Content-Length {record.length:,} bytes are missing",
            )
        if not ctype.startswith(TEXT_TYPES):
            raise Quarantined("not_text", f"response payload is {ctype or 'untyped'}, not text")
        if len(payload) > limit:
            raise Quarantined("too_large", "WARC payload exceeds max_doc_bytes")
        if b"\x00" in payload[:4096] and not payload.startswith(UTF16_BOMS):
            raise Quarantined("binary_content", "payload contains NUL bytes (binary data)")
        text, charset = decode_html(payload, ctype)
        meta = {"content_type": ctype.split(";")[0].strip() or "text/html"}
        if charset:
            meta["charset"] = charset
        return file.document(offset, text, rid, url, meta)
    except Quarantined as exc:
        return file.quarantine(offset, exc, payload[:200])


FORMAT = Format("warc", (".warc",), read_warc)

"""HTML (``.html``/``.htm``): one document per file, raw HTML (the clean stage extracts the text)."""

from __future__ import annotations

from collections.abc import Iterator

from pipelines.io.damage import read_whole
from pipelines.io.decoding import decode_html
from pipelines.io.formats.base import FileContext, Format
from pipelines.io.records import Quarantine, Quarantined, Record

HTML_META = {"content_type": "text/html"}


def read_html(file: FileContext) -> Iterator[Record]:
    data = read_whole(file)
    if isinstance(data, Quarantine):
        yield data
        return
    try:
        text, charset = decode_html(data)
        meta = {**HTML_META, "charset": charset} if charset else HTML_META
        yield file.document(0, text, meta=meta)
    except Quarantined as exc:
        yield file.quarantine(0, exc, data)


FORMAT = Format("html", (".html", ".htm"), read_html)

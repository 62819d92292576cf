"""Bytes to text for the readers, and the lone-surrogate check, each failure a ``Quarantined``.

A lone surrogate (from a ``\\uD800`` JSON escape) is refused at read time because no UTF-8
writer downstream (Parquet, hashing, the tokenizer) accepts one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pipelines.io.charset import CharsetError, decode_page
from pipelines.io.records import Quarantined
from pipelines.io.streams import sniff_utf16

# A JSON escape that may decode to a lone surrogate (\uD800-\uDFFF), which no UTF-8 writer accepts.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
SURROGATE = re.compile("[\ud800-\udfff]")


def decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Quarantined("invalid_utf8", f"not valid UTF-8: {exc}") from exc


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


def check_no_surrogates(rec: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    """Refuse a record whose string ``fields`` hold a lone surrogate."""
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

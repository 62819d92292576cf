"""Text of an HTML page or a text payload: UTF-8 first, then a BOM or the declared charset.

Valid UTF-8 is always read as UTF-8 (what every page read before still gives). Otherwise a
UTF-16 BOM, the HTTP ``Content-Type`` charset (WARC) or a ``<meta charset>`` declaration in
the first 2 KB decides, with the WHATWG aliases browsers use (``gb2312`` is read as GB18030,
``iso-8859-1`` as windows-1252). A charset Python does not know, or bytes that are not valid
in the declared one, are quarantined with a reason that names the declaration.
"""

from __future__ import annotations

import codecs
import re

# WHATWG encoding labels whose decoder is a superset of the label's literal codec.
WHATWG_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "euc-kr": "cp949",
    "big5": "big5hkscs",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
}
META_CHARSET = re.compile(rb"""<meta[^>]{0,500}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]{1,40})""", re.I)
HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]{1,40})""", re.I)
PRESCAN_BYTES = 2048


class CharsetError(Exception):
    """Bytes that cannot become text; carries the quarantine reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def declared_charset(data: bytes, content_type: str | None = None) -> str | None:
    """The charset an HTTP header or the page itself declares (lower case), or None."""
    if content_type:
        m = HEADER_CHARSET.search(content_type)
        if m:
            return m.group(1).lower()
    m = META_CHARSET.search(data[:PRESCAN_BYTES])
    return m.group(1).decode("ascii").lower() if m else None


def python_codec(label: str) -> str | None:
    """The Python codec for an encoding label (WHATWG aliases applied), or None if unknown."""
    name = WHATWG_ALIASES.get(label, label)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_page(data: bytes, content_type: str | None = None) -> tuple[str, str | None]:
    """(text, charset used when not UTF-8); raises ``CharsetError``."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise CharsetError("invalid_charset", f"UTF-16 BOM, but not valid UTF-16: {exc}") from exc
    label = declared_charset(data, content_type)
    if label is None or label in ("utf-8", "utf8"):
        raise CharsetError("invalid_utf8", f"not valid UTF-8: {utf8_error}")
    codec = python_codec(label)
    if codec is None:
        raise CharsetError(
            "unsupported_charset", f"declared charset {label!r} is not supported (no decoder for it)"
        )
    try:
        return data.decode(codec), label
    except UnicodeDecodeError as exc:
        raise CharsetError(
            "invalid_charset", f"declared charset {label!r}, but the bytes are not valid {codec}: {exc}"
        ) from exc

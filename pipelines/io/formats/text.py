"""Plain text (``.txt``/``.md``): one document per file, or one per blank-line block (``text_mode``)."""

from __future__ import annotations

from collections.abc import Iterator

from pipelines.io.damage import read_whole
from pipelines.io.decoding import decode_text
from pipelines.io.formats.base import FileContext, Format
from pipelines.io.records import Quarantine, Quarantined, Record


def paragraphs(text: str) -> list[str]:
    """The non-empty blank-line-separated blocks of ``text``, stripped."""
    blocks = (b.strip() for b in text.replace("\r\n", "\n").split("\n\n"))
    return [b for b in blocks if b]


def read_text(file: FileContext) -> Iterator[Record]:
    data = read_whole(file)
    if isinstance(data, Quarantine):
        yield data
        return
    try:
        text = decode_text(data)
    except Quarantined as exc:
        yield file.quarantine(0, exc, data)
        return
    if file.config.text_mode == "paragraph":
        for i, block in enumerate(paragraphs(text)):
            yield file.document(i, block)
    elif text.strip():
        yield file.document(0, text)


FORMAT = Format("text", (".txt", ".md"), read_text)

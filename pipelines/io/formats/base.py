"""What every format reader is given and returns: ``FileContext`` in, ``Record``s out.

A format reader is one function ``read(file: FileContext) -> Iterator[Record]``. It builds
its documents and quarantine records through ``file`` so that ids, source labels, size
limits and validation are the same for every format.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from lmcore import storage
from lmcore.hashing import stable_hash_hex
from pipelines.io.config import ReadConfig
from pipelines.io.decoding import SURROGATE, check_no_surrogates
from pipelines.io.records import Document, Quarantine, Quarantined, Record
from schemas import DocumentError, validate_document

# Bytes of a refused whole file kept as its quarantine sample.
SAMPLE_BYTES = 200


@functools.lru_cache(maxsize=4096)
def source_label(path: str) -> str:
    """Default ``source`` of a file's documents: its name without extensions (cached: per document)."""
    name = PurePosixPath(path.split("://")[-1]).name
    return storage.text_safe(name.split(".")[0] or name)


def derived_id(path: str, index: int) -> str:
    """The id of a record that has none: stable, so a rerun gives the same ids."""
    return stable_hash_hex(f"{path}#{index}")


def make_document(
    config: ReadConfig,
    path: str,
    index: int,
    text: Any,
    raw_id: Any = None,
    url: Any = None,
    meta: dict | None = None,
    fields: dict | None = None,
) -> Document:
    """A document from one record, or ``Quarantined``; ``fields`` (e.g. a document file's
    ``source``, ``lang``, ``lang_score``) replace the defaults and are validated with the rest."""
    if not isinstance(text, str):
        raise Quarantined(
            "wrong_type", f"field {config.text_field!r} is a {type(text).__name__}, not a string"
        )
    limit = config.max_doc_bytes
    # (4 bytes per character at most: most texts pass without being encoded)
    if 4 * len(text) > limit and (len(text) > limit or len(text.encode("utf-8")) > limit):
        raise Quarantined(
            "too_large", f"document of {len(text.encode('utf-8')):,} bytes exceeds max_doc_bytes"
        )
    if isinstance(raw_id, bool) or (raw_id is not None and not isinstance(raw_id, str | int)):
        raise Quarantined("wrong_type", f"field {config.id_field!r} is a {type(raw_id).__name__}")
    if url is not None and not isinstance(url, str):
        raise Quarantined("wrong_type", f"field {config.url_field!r} is a {type(url).__name__}, not a string")
    if (isinstance(raw_id, str) and SURROGATE.search(raw_id)) or (url and SURROGATE.search(url)):
        check_no_surrogates({"id": raw_id, "url": url}, ("id", "url"))
    doc: Document = {
        "id": str(raw_id) if raw_id not in (None, "") else derived_id(path, index),
        "text": text,
        "source": config.source or source_label(path),
        "url": url,
        "lang": None,
        "lang_score": None,
        "meta": dict(meta or {}),
    }
    if fields:
        doc.update(fields)  # type: ignore[typeddict-item]
    try:
        validate_document(doc)
    except DocumentError as exc:
        raise Quarantined("wrong_type", str(exc)) from exc
    return doc


@dataclass
class FileContext:
    """One input file being read: where it is, how it is compressed, and the read settings.

    ``position`` is the offset of the record being read, kept up to date by the format
    reader: an error nobody foresaw is reported there, after the records already read."""

    path: str
    compression: str | None
    config: ReadConfig
    stage: str = "read"
    position: int = 0

    def document(
        self,
        index: int,
        text: Any,
        raw_id: Any = None,
        url: Any = None,
        meta: dict | None = None,
        fields: dict | None = None,
    ) -> Document:
        """``make_document`` for this file (raises ``Quarantined``)."""
        return make_document(self.config, self.path, index, text, raw_id, url, meta, fields)

    def quarantine(self, offset: int | None, exc: Quarantined, sample: Any = None) -> Quarantine:
        return Quarantine.of(self.stage, self.path, offset, exc, sample)


FormatReader = Callable[[FileContext], Iterator[Record]]


@dataclass(frozen=True)
class Format:
    """A readable input format: its name, the file suffixes that select it, and its reader."""

    name: str
    suffixes: tuple[str, ...]
    read: FormatReader

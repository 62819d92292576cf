"""Opening an input so that damage (a cut-off or corrupt gzip/zstd stream) is reported, not raised.

``DecompressedStream`` ends at the damage and keeps why in ``error``; these helpers turn that
into one quarantine record placed after the last good record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from lmcore import storage
from pipelines.io.formats.base import SAMPLE_BYTES, FileContext
from pipelines.io.records import Quarantine, Quarantined
from pipelines.io.streams import DecompressedStream, StreamDamage

# How a record for damage that ends a file says that the records before it were kept.
READ_BEFORE = "records before this offset were read"


@contextlib.contextmanager
def open_input(file: FileContext) -> Iterator[Any]:
    """The file's (decompressed) bytes."""
    fs, p = storage.get_fs(file.path)
    with fs.open(p, "rb") as raw:
        if file.compression is None:
            yield raw
        else:
            with DecompressedStream(raw, file.compression) as stream:
                yield stream


def stream_damage(file: FileContext, stream: Any, offset: int, sample: Any = None) -> Quarantine | None:
    """The quarantine record of a stream that ended early, or None when it is intact."""
    error: StreamDamage | None = getattr(stream, "error", None)
    if error is None:
        return None
    return file.quarantine(offset, Quarantined(error.reason, f"{error}; {READ_BEFORE}"), sample)


def read_whole(file: FileContext) -> bytes | Quarantine:
    """The file's bytes, or its quarantine record (larger than ``max_doc_bytes``, or damaged)."""
    limit = file.config.max_doc_bytes
    with open_input(file) as raw:
        data = raw.read(limit + 1)
        damage = stream_damage(file, raw, 0, data[:SAMPLE_BYTES])
    if damage is not None:
        return damage
    if len(data) > limit:
        return file.quarantine(0, Quarantined("too_large", f"file exceeds max_doc_bytes={limit:,}"))
    return data

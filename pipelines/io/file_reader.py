"""One file -> its documents and quarantine records, in file order (pure Python, no Beam).

Bad input never crashes a run and never vanishes: each unreadable record becomes a
quarantine record (path, byte offset, reason, error, sample). Reasons: ``bad_json``,
``invalid_utf8``, ``wrong_type``, ``missing_text``, ``line_too_long``, ``too_large``,
``empty_file``, ``truncated_file`` (gzip/zstd cut short: what came before is kept),
``corrupt_file``, ``not_text``/``binary_content`` (WARC payloads), ``unsupported_format`` and,
for any error not foreseen, ``read_error``: that one ends the file, after the records read.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from pipelines.io.config import ReadConfig
from pipelines.io.damage import READ_BEFORE
from pipelines.io.formats.base import FileContext
from pipelines.io.records import Quarantine, Quarantined, Record
from pipelines.io.registry import FORMATS, detect_format

# Errors that mean "the compressed stream is broken or ends early".
STREAM_ERRORS = (EOFError, zlib.error, OSError)


def read_records(file: FileContext, fmt: str | None) -> Iterator[Record]:
    """``file``'s records as format ``fmt`` reads them; never raises."""
    spec = FORMATS.get(fmt) if fmt else None
    if spec is None:
        why = Quarantined("unsupported_format", f"cannot read {file.path!r}: unknown format")
        yield file.quarantine(None, why)
        return
    emitted = 0
    try:
        for item in spec.read(file):
            emitted += 1
            yield item
    except STREAM_ERRORS as exc:
        reason = "truncated_file" if isinstance(exc, EOFError) else "corrupt_file"
        yield file.quarantine(
            file.position, Quarantined(reason, f"{type(exc).__name__}: {exc}; {READ_BEFORE}")
        )
        return
    except Exception as exc:  # a decoder or library error we did not foresee: still never a crash
        yield file.quarantine(
            file.position, Quarantined("read_error", f"{type(exc).__name__}: {exc}; {READ_BEFORE}")
        )
        return
    if emitted == 0:
        yield file.quarantine(0, Quarantined("empty_file", "file holds no records"))


class FileReader:
    """Reads files with one ``ReadConfig``; quarantine records name ``stage``."""

    def __init__(self, config: ReadConfig, stage: str = "read"):
        self.config = config
        self.stage = stage

    def records(self, path: str) -> Iterator[Record]:
        """Typed: each item is a ``Document`` (dict) or a ``Quarantine``."""
        fmt, compression = detect_format(path)
        return read_records(FileContext(path, compression, self.config, self.stage), fmt)

    def read(self, path: str) -> Iterator[dict[str, Any]]:
        """Plain dicts, for callers that collect records as JSON-like data (tests, benches):
        documents, and quarantine records as written to ``quarantine/``."""
        for item in self.records(path):
            yield item.as_record() if isinstance(item, Quarantine) else item

"""The readable input formats by name, and ``detect_format``: which one a file name selects.

Adding a format: a module under ``pipelines/io/formats/`` with its ``FORMAT``, and one line
below. ``.gz``/``.zst`` on top of a format's suffix is decompressed by the reader (WARC
handles its own per-record gzip).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pipelines.io.formats import csv, html, jsonl, parquet, text, warc
from pipelines.io.formats.base import Format

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        jsonl.FORMAT,
        parquet.FORMAT,
        text.FORMAT,
        html.FORMAT,
        warc.FORMAT,
        *(csv.FORMAT, csv.TSV_FORMAT),
    )
}
COMPRESSION_SUFFIXES = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
FORMAT_SUFFIXES = {suffix: f.name for f in FORMATS.values() for suffix in f.suffixes}


def detect_format(path: str) -> tuple[str | None, str | None]:
    """(format, compression) from the file name, e.g. ``a.jsonl.gz`` -> ("jsonl", "gzip")."""
    suffixes = [s.lower() for s in PurePosixPath(path.split("://")[-1]).suffixes]
    compression = COMPRESSION_SUFFIXES.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    fmt = FORMAT_SUFFIXES.get(suffixes[-1]) if suffixes else None
    return fmt, compression

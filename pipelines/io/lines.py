"""Line reading with a bound: a 200 MB single-line record is skipped in pieces, never held whole."""

from __future__ import annotations

import io
from collections.abc import Iterator


def read_bounded_lines(raw: io.BufferedIOBase, max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(byte offset, line)``; an over-long line yields ``(offset, None)`` after being skipped in pieces."""
    offset = 0
    while True:
        line = raw.readline(max_line_bytes + 1)
        if not line:
            return
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            start, size = offset, len(line)
            while line and not line.endswith(b"\n"):
                line = raw.readline(1 << 20)
                size += len(line)
            offset = start + size
            yield start, None
            continue
        yield offset, line
        offset += len(line)

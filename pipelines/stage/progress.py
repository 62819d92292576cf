"""Progress lines with rates and ETA, printed from inside Beam DoFns (one logger per worker)."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("lmforge.progress")
# Beam's worker lowers the root logger to WARNING while a pipeline runs (in this process or a
# worker's), which would silence a logger that inherits its level: this one keeps INFO.
log.setLevel(logging.INFO)


def _fmt_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class RateLogger:
    """Logs ``name: N docs, X docs/s, Y MB/s, ETA`` at most every ``every_s`` seconds.

    ``total_bytes`` (when known, e.g. the size of the input files) gives the ETA; with
    several workers each one reports its own share, so the ETA is an estimate.
    """

    def __init__(self, name: str, every_s: float = 10.0, total_bytes: int | None = None):
        self.name = name
        self.every_s = every_s
        self.total_bytes = total_bytes
        self.docs = 0
        self.bytes = 0
        self.start = time.monotonic()
        self._last = self.start
        self._lock = threading.Lock()  # DoFns may update from a thread pool

    def update(self, docs: int, nbytes: int) -> None:
        with self._lock:
            self.docs += docs
            self.bytes += nbytes
            now = time.monotonic()
            if now - self._last < self.every_s:
                return
            self._last = now
        log.info(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.start, 1e-9)
        mb_s = self.bytes / elapsed / 1e6
        text = f"{self.name}: {self.docs:,} docs, {self.docs / elapsed:,.0f} docs/s, {mb_s:.2f} MB/s"
        if self.total_bytes and self.bytes:
            remaining = max(self.total_bytes - self.bytes, 0) / max(self.bytes / elapsed, 1e-9)
            text += f", {100 * min(self.bytes / self.total_bytes, 1):.0f}% of input, ETA {_fmt_seconds(remaining)}"
        return text

"""Byte streams that end at damage instead of raising: decompression and UTF-16 transcoding.

Python's ``gzip`` module raises in the middle of a ``readline`` when a file has trailing
garbage or is cut short, and the lines already decompressed into its buffer are lost with
the exception; ``zstandard``'s stream reader ends a cut-off frame quietly, so a truncated
``.zst`` looks complete (or empty). ``DecompressedStream`` decompresses every gzip member /
zstd frame itself, hands out everything that could be decompressed, then reports EOF and
keeps the reason in ``error`` (``truncated_file`` or ``corrupt_file``): the reader turns that
into one quarantine record after the last good line.
"""

from __future__ import annotations

import codecs
import io
import zlib
from typing import Any

READ_BLOCK = 256 * 1024
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class StreamDamage(Exception):
    """Why a stream ended early: a quarantine reason and a message."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _new_decompressor(compression: str) -> Any:
    if compression == "gzip":
        return zlib.decompressobj(wbits=31)
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


def _magic(compression: str) -> bytes:
    return GZIP_MAGIC if compression == "gzip" else ZSTD_MAGIC


class DecompressedStream(io.RawIOBase):
    """The decompressed bytes of a gzip (all members) or zstd (all frames) stream.

    Ends (EOF) at the first damage; ``error`` then says why (``StreamDamage``) and
    ``decompressed`` how many bytes came out before it. Trailing zero padding is ignored,
    as ``gzip`` does.
    """

    def __init__(self, raw: Any, compression: str):
        super().__init__()
        self.raw = raw
        self.compression = compression
        self.error: StreamDamage | None = None
        self.decompressed = 0
        self._dec: Any = None  # None between members/frames
        self._dec_started = False
        self._members = 0
        self._buf = b""
        self._pos = 0
        self._done = False
        self._carry = b""  # compressed bytes not fed yet (the start of the next member)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._buf) and not self._done:
            self._buf, self._pos = self._fill(), 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        self.decompressed += n
        return n

    def _stop(self, reason: str | None = None, message: str = "") -> bytes:
        self._done = True
        if reason:
            self.error = StreamDamage(reason, message)
        return b""

    def _fill(self) -> bytes:
        data = self._carry or self.raw.read(READ_BLOCK)
        self._carry = b""
        if not data:
            if self._dec is not None and self._dec_started:
                return self._stop(
                    "truncated_file",
                    f"EOFError: {self.compression} stream ends before its end-of-stream marker "
                    "(the file is cut short)",
                )
            return self._stop()
        if self._dec is None:
            data = data.lstrip(b"\x00")
            if not data:
                return b""
            if len(data) < len(_magic(self.compression)):
                more = self.raw.read(READ_BLOCK)
                if more:
                    self._carry = data + more
                    return b""
            if not data.startswith(_magic(self.compression)):
                if not self._members:
                    return self._stop(
                        "corrupt_file",
                        f"not a {self.compression} file: no {self.compression} header at its start",
                    )
                return self._stop(
                    "corrupt_file",
                    f"{len(data):,}+ bytes of garbage after the last complete {self.compression} "
                    f"member, at compressed offset {self._compressed_offset(data)}",
                )
            self._dec, self._dec_started = _new_decompressor(self.compression), False
            self._members += 1
        try:
            out = self._dec.decompress(data)
        except Exception as exc:  # zlib.error, zstandard.ZstdError
            return self._stop("corrupt_file", f"{type(exc).__name__}: {exc}")
        self._dec_started = True
        if self._dec.eof:
            self._carry = self._dec.unused_data
            self._dec = None
        return out

    def _compressed_offset(self, pending: bytes) -> str:
        try:
            return f"{self.raw.tell() - len(pending):,}"
        except (OSError, AttributeError, ValueError):
            return "?"


class TranscodedStream(io.RawIOBase):
    """UTF-8 bytes of a stream in another encoding (UTF-16 with or without BOM)."""

    def __init__(self, raw: Any, encoding: str):
        super().__init__()
        self.raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)("surrogatepass")
        self._buf = b""
        self._pos = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._buf) and not self._done:
            chunk = self.raw.read(READ_BLOCK)
            self._done = not chunk
            text = self._decoder.decode(chunk, final=self._done)
            # a lone surrogate stays a (CESU) byte sequence: the line is quarantined as invalid UTF-8
            self._buf, self._pos = text.encode("utf-8", "surrogatepass"), 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n


def sniff_utf16(head: bytes) -> str | None:
    """``utf-16`` (with a BOM), ``utf-16-le``/``-be`` (NUL in every other byte) or None."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:64]
    if len(sample) < 4 or sample.count(0) < len(sample) // 4:
        return None
    odd, even = sample[1::2], sample[0::2]
    if odd.count(0) >= len(odd) * 3 // 4 and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) >= len(even) * 3 // 4 and odd.count(0) == 0:
        return "utf-16-be"
    return None


class ChainedStream(io.RawIOBase):
    """``head`` (bytes already read) followed by the rest of ``stream``."""

    def __init__(self, head: bytes, stream: Any):
        super().__init__()
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._head.nbytes:
            n = min(len(b), self._head.nbytes)
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(b))
        b[: len(data)] = data
        return len(data)

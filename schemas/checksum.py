"""SHA-256 of files, read through fsspec so local and remote shards are checked the same way."""

from __future__ import annotations

import hashlib

import fsspec

_CHUNK = 8 * 1024 * 1024


def sha256_bytes(data: bytes | memoryview) -> str:
    """Hex SHA-256 of an in-memory buffer."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str, fs: fsspec.AbstractFileSystem | None = None) -> str:
    """Hex SHA-256 of a file's bytes, streamed in 8 MiB chunks (constant memory)."""
    if fs is None:
        fs, path = fsspec.core.url_to_fs(path)
    digest = hashlib.sha256()
    with fs.open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

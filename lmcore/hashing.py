"""Stable hashes. Python's ``hash()`` is salted per process, so it must never decide anything here."""

from __future__ import annotations

import xxhash

_xxh3_64 = xxhash.xxh3_64_intdigest


def _as_bytes(value: str | bytes) -> bytes:
    """UTF-8 bytes; a lone surrogate (a file name that is not valid UTF-8) is encoded as is,
    so hashing never fails. Valid text hashes exactly as before."""
    if not isinstance(value, str):
        return value
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def stable_hash64(value: str | bytes, seed: int = 0) -> int:
    """64-bit xxh3 hash, identical across processes, machines and runs.

    Called per line and per document id on dedup's hot paths, so the conversion is inline
    (the ``try`` costs nothing until a lone surrogate needs ``_as_bytes``).
    """
    try:
        return _xxh3_64(value.encode("utf-8") if isinstance(value, str) else value, seed)
    except UnicodeEncodeError:
        return _xxh3_64(_as_bytes(value), seed)


def stable_hash_hex(value: str | bytes, seed: int = 0) -> str:
    """128-bit xxh3 hash as 32 hex characters (for ids and keys)."""
    return xxhash.xxh3_128_hexdigest(_as_bytes(value), seed=seed)


def stable_bucket(value: str | bytes, num_buckets: int, seed: int = 0) -> int:
    """Assign ``value`` to one of ``num_buckets`` buckets, stably."""
    if num_buckets <= 0:
        raise ValueError("num_buckets must be positive")
    return stable_hash64(value, seed) % num_buckets


def stable_fraction(value: str | bytes, seed: int = 0) -> float:
    """A stable pseudo-random number in [0, 1) derived from ``value`` (for sampling and splits)."""
    return stable_hash64(value, seed) / 2.0**64

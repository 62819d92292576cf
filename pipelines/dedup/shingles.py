"""Shingle hashes with numpy: word n-grams for space-separated text, character n-grams for CJK.

A text is normalised (lower case, every run of non-word characters -> one space; for CJK
all non-word characters removed), turned into its UTF-32 code points, and every shingle
span is hashed with a polynomial hash computed from one prefix sum. No Python loop runs
per word or per shingle, which is what usually caps MinHash throughput.

Polynomial hash over Z/2^64 with an odd base B (invertible mod 2^64):
    S[k] = sum_{m<k} c[m] * B^-m,   hash(i, j) = B^(j-1) * (S[j] - S[i])
equals sum_{m=i}^{j-1} c[m] * B^(j-1-m) -- the usual rolling hash -- for any span.
"""

from __future__ import annotations

import re

import numpy as np

from pipelines.clean.segment import is_cjk_text

NON_WORD = re.compile(r"[\W_]+")
CJK_LANGUAGES = frozenset({"zh", "ja"})
_BASE = np.uint64(0x100000001B3 | 1)
_BASE_INV = np.uint64(pow(int(_BASE), -1, 2**64))
_powers: dict[str, np.ndarray] = {"pow": np.ones(1, np.uint64), "inv": np.ones(1, np.uint64)}


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """B^k and B^-k for k < n (grown by doubling, cached per process)."""
    have = len(_powers["pow"])
    if have < n:
        size = max(n, 2 * have)
        with np.errstate(over="ignore"):
            for key, base in (("pow", _BASE), ("inv", _BASE_INV)):
                out = np.empty(size, np.uint64)
                out[0] = 1
                # repeated doubling: out[k:2k] = out[:k] * base^k
                k = 1
                step = base
                while k < size:
                    m = min(k, size - k)
                    out[k : k + m] = out[:m] * step
                    step = step * step
                    k += m
                _powers[key] = out
    return _powers["pow"], _powers["inv"]


def is_cjk(text: str, lang: str | None) -> bool:
    return lang in CJK_LANGUAGES if lang else is_cjk_text(text)


def normalize_for_hash(text: str, cjk: bool) -> str:
    return NON_WORD.sub("" if cjk else " ", text.lower()).strip()


def _mix64(h: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(33))
        h = h * np.uint64(0xFF51AFD7ED558CCD)
        return h ^ (h >> np.uint64(33))


def shingle_hashes(norm: str, n: int, cjk: bool) -> np.ndarray:
    """Distinct 32-bit hashes of the document's shingles (at least one for a non-empty text)."""
    if not norm:
        return np.zeros(0, np.uint32)
    cp = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    length = len(cp)
    if cjk:
        if length <= n:
            starts, ends = np.zeros(1, np.int64), np.full(1, length)
        else:
            starts = np.arange(length - n + 1)
            ends = starts + n
    else:
        spaces = np.flatnonzero(cp == 32)
        word_starts = np.concatenate(([0], spaces + 1))
        word_ends = np.concatenate((spaces, [length]))
        if len(word_starts) <= n:
            starts, ends = np.zeros(1, np.int64), np.full(1, length)
        else:
            starts = word_starts[: len(word_starts) - n + 1]
            ends = word_ends[n - 1 :]
    pw, inv = _power_tables(length + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(length + 1, np.uint64)
        np.cumsum(cp * inv[:length], out=prefix[1:])
        h = pw[ends - 1] * (prefix[ends] - prefix[starts])
    return np.unique((_mix64(h) & np.uint64(0xFFFFFFFF)).astype(np.uint32))

"""Shingle hashes for a whole chunk at once with numpy: word n-grams, or character n-grams for CJK.

Normalisation: lower case; a *word character* is one for which ``str.isalnum()`` holds.
Space-separated languages are tokenised into maximal runs of word characters (so
punctuation and whitespace differences do not matter); Chinese/Japanese documents are
tokenised into single word characters -- splitting them on ``\\W`` would make a whole
sentence one token. A shingle is ``n`` consecutive tokens of one document (a document
with fewer tokens has one shingle: all of them).

Everything runs on the chunk's concatenated UTF-32 code points; no Python loop runs per
word or per shingle (that is what usually caps MinHash throughput). Token and n-gram
hashes are polynomial hashes over Z/2^64 with an odd base B, each computed from one
prefix sum:  S[k] = sum_{m<k} c[m] * B^-m,  hash(i, j) = B^(j-1) * (S[j] - S[i])
(= sum_{m=i}^{j-1} c[m] * B^(j-1-m), the usual rolling hash, for any span).
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

import numpy as np
from xxhash import xxh3_64_intdigest

from pipelines.clean.segment import is_cjk_text
from pipelines.hashing import stable_hash64

CJK_LANGUAGES = frozenset({"zh", "ja"})
# Bumped whenever shingle hashes change: persisted signatures must stay comparable.
SHINGLE_VERSION = 2
_BASE = np.uint64(0x100000001B3 | 1)
_BASE_INV = np.uint64(pow(int(_BASE), -1, 2**64))
_lock = threading.Lock()
_cache: dict[str, Any] = {"tables": (np.ones(1, np.uint64), np.ones(1, np.uint64))}


class ChunkShingles(NamedTuple):
    """Distinct 32-bit shingle hashes of each document, flattened.

    ``hashes[offsets[i]:offsets[i+1]]`` are document i's, sorted; ``exact`` is a 64-bit
    hash of the normalised token sequence (equal for texts that differ only in case,
    punctuation and whitespace).
    """

    hashes: np.ndarray  # uint32
    offsets: np.ndarray  # int64, len = docs + 1
    exact: np.ndarray  # uint64, len = docs

    def of(self, i: int) -> np.ndarray:
        return self.hashes[self.offsets[i] : self.offsets[i + 1]]


def is_cjk(text: str, lang: str | None) -> bool:
    """Character shingles for zh/ja; when the language is unknown, look at the script."""
    return lang in CJK_LANGUAGES if lang else is_cjk_text(text)


def _word_table() -> np.ndarray:
    """bool per code point: is it a word character (``str.isalnum``)? Built once per process."""
    with _lock:  # several signing threads start at once: build it once
        if "word" not in _cache:
            _cache["word"] = np.fromiter((chr(c).isalnum() for c in range(0x110000)), bool, 0x110000)
    return _cache["word"]


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """B^k and B^-k for k < n (grown by doubling, cached per process).

    Both tables are published together as one tuple: under Beam's multi-threading runner
    another thread must never see a new ``pow`` with an old, shorter ``inv``.
    """
    pw, inv = _cache["tables"]
    if len(pw) < n:
        size = max(n, 2 * len(pw))
        grown = []
        for base in (_BASE, _BASE_INV):
            out = np.empty(size, np.uint64)
            out[0] = 1
            k, step = 1, base
            while k < size:  # out[k:2k] = out[:k] * base^k
                m = min(k, size - k)
                out[k : k + m] = out[:m] * step
                step = np.uint64((int(step) * int(step)) % 2**64)
                k += m
            grown.append(out)
        pw, inv = _cache["tables"] = (grown[0], grown[1])
    return pw, inv


def _mix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _span_hashes(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Polynomial hash of ``values[starts[k]:ends[k]]`` for every k, from one prefix sum."""
    pw, inv = _power_tables(len(values) + 1)
    prefix = np.zeros(len(values) + 1, np.uint64)
    np.cumsum(values * inv[: len(values)], out=prefix[1:])
    return pw[ends - 1] * (prefix[ends] - prefix[starts])


def chunk_shingles(texts: list[str], cjk: list[bool], word_ngram: int, char_ngram: int) -> ChunkShingles:
    """Shingle hashes and exact hashes of a chunk's documents (see the module docstring)."""
    n_docs = len(texts)
    lowered = [t.lower() for t in texts]
    doc_len = np.fromiter((len(t) for t in lowered), np.int64, n_docs)
    cp = np.frombuffer("".join(lowered).encode("utf-32-le"), np.uint32)
    doc_of_char = np.repeat(np.arange(n_docs), doc_len)
    word = _word_table()[cp]
    cjk_arr = np.asarray(cjk, bool).reshape(n_docs)

    # tokens: runs of word characters (space-separated docs) or single word characters (CJK)
    prev_word = np.concatenate(([False], word[:-1]))
    same_doc = np.concatenate(([False], doc_of_char[1:] == doc_of_char[:-1]))
    char_cjk = cjk_arr[doc_of_char]
    tok_start = word & (char_cjk | ~prev_word | ~same_doc)
    starts = np.flatnonzero(tok_start)
    # a token ends before the next non-word char, the next token start, or the document end
    boundary = ~word | tok_start
    boundary_idx = np.concatenate((np.flatnonzero(boundary[1:]) + 1, [len(cp)]))
    ends = boundary_idx[np.searchsorted(boundary_idx, starts, side="right")]
    doc_ends = np.cumsum(doc_len)
    ends = np.minimum(ends, doc_ends[doc_of_char[starts]]) if len(starts) else ends
    tok_hash = _mix64(_span_hashes(cp.astype(np.uint64), starts, ends))
    tok_doc = doc_of_char[starts]
    tok_count = np.bincount(tok_doc, minlength=n_docs)
    tok_off = np.concatenate(([0], np.cumsum(tok_count)))

    # exact hash: the token sequence (same tokens => same normalised text); xxh3 over each
    # document's slice of one bytes buffer (no per-document numpy slicing or copies)
    tok_bytes = memoryview(tok_hash.tobytes())
    bounds = (tok_off * 8).tolist()
    exact = np.fromiter(
        (
            xxh3_64_intdigest(tok_bytes[bounds[i] : bounds[i + 1]])
            if bounds[i + 1] > bounds[i]
            else stable_hash64("\x00" + texts[i].strip())
            for i in range(n_docs)
        ),
        np.uint64,
        n_docs,
    )

    # n-grams of tokens inside one document; short documents: one shingle of all tokens
    n_per_doc = np.where(cjk_arr, char_ngram, word_ngram)
    n_tok = n_per_doc[tok_doc]
    idx = np.arange(len(tok_hash))
    last = tok_off[1:][tok_doc]  # one past the document's last token
    full = idx + n_tok <= last
    short_first = (tok_count < n_per_doc) & (tok_count > 0)
    g_starts = np.concatenate((idx[full], tok_off[:-1][short_first]))
    g_ends = np.concatenate(((idx + n_tok)[full], tok_off[1:][short_first]))
    g_doc = np.concatenate((tok_doc[full], np.flatnonzero(short_first)))
    g_hash = _mix64(_span_hashes(tok_hash, g_starts, g_ends)) & np.uint64(0xFFFFFFFF)

    keyed = np.sort((g_doc.astype(np.uint64) << np.uint64(32)) | g_hash)  # np.unique hashes: slower
    keyed = keyed[np.concatenate(([True], keyed[1:] != keyed[:-1]))]
    hashes = (keyed & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    offsets = np.searchsorted(keyed >> np.uint64(32), np.arange(n_docs + 1, dtype=np.uint64)).astype(np.int64)
    return ChunkShingles(hashes, offsets, exact)


def shingle_hashes(text: str, n: int, cjk: bool) -> np.ndarray:
    """Distinct 32-bit shingle hashes of one text (convenience for tests and tools)."""
    return chunk_shingles([text], [cjk], n, n).of(0)

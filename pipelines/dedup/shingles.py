"""Shingle hashes for a whole chunk at once: word n-grams, or character n-grams for CJK.

Normalisation: lower case; a *word character* is one for which ``str.isalnum()`` holds.
Space-separated languages are tokenised into maximal runs of word characters (so
punctuation and whitespace differences do not matter); Chinese/Japanese documents are
tokenised into single word characters -- splitting them on ``\\W`` would make a whole
sentence one token. A shingle is ``n`` consecutive tokens of one document (a document
with fewer tokens has one shingle: all of them).

Everything runs on the chunk's concatenated UTF-32 code points in two compiled kernels
(numba, GIL-free, so chunks on several threads run in parallel); no Python loop runs per
word or per shingle (that is what usually caps MinHash throughput). Token and n-gram
hashes are polynomial hashes over Z/2^64 with an odd base B,
hash(c[i:j]) = sum_{m=i}^{j-1} c[m] * B^(j-1-m) (Horner's rule), each passed through the
MurmurHash3 64-bit finalizer; n-gram hashes keep its low 32 bits. (Until this version
they were computed from numpy prefix sums; the values are the same.)
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

import numba
import numpy as np

from pipelines.clean.segment import is_cjk_text
from pipelines.hashing import stable_hash64

CJK_LANGUAGES = frozenset({"zh", "ja"})
# Bumped whenever shingle hashes change: persisted signatures must stay comparable.
SHINGLE_VERSION = 2
_lock = threading.Lock()
_cache: dict[str, Any] = {}


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


@numba.njit(cache=True, nogil=True)
def _mix64_one(h):
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


@numba.njit(cache=True, nogil=True)
def _tokens(cp, word, doc_len, cjk):
    """Token hashes (mixed polynomial hash of the code points) and tokens per document.

    One pass over the chunk's code points; compiled and free of the GIL, so chunks
    shingled on several threads run in parallel. Same values as the span formula in
    the module docstring (Horner's rule evaluates the same polynomial).
    """
    base = np.uint64(0x100000001B3 | 1)
    out = np.empty(len(cp), np.uint64)
    count = np.zeros(len(doc_len), np.int64)
    t = 0
    pos = 0
    for d in range(len(doc_len)):
        end = pos + doc_len[d]
        i = pos
        while i < end:
            if not word[cp[i]]:
                i += 1
                continue
            h = np.uint64(cp[i])
            i += 1
            if not cjk[d]:  # a run of word characters; in Chinese/Japanese every character
                while i < end and word[cp[i]]:
                    h = h * base + np.uint64(cp[i])
                    i += 1
            out[t] = _mix64_one(h)
            t += 1
            count[d] += 1
        pos = end
    return out[:t], count


@numba.njit(cache=True, nogil=True)
def _ngrams(tok_hash, tok_count, n_per_doc):
    """``(doc << 32) | hash32`` of every token n-gram of every document (one shingle of all
    tokens for a document shorter than n)."""
    base = np.uint64(0x100000001B3 | 1)
    total = 0
    for d in range(len(tok_count)):
        c, n = tok_count[d], n_per_doc[d]
        total += c - n + 1 if c >= n else (1 if c > 0 else 0)
    out = np.empty(total, np.uint64)
    k = 0
    off = 0
    for d in range(len(tok_count)):
        c, n = tok_count[d], n_per_doc[d]
        if c > 0:
            width = n if c >= n else c
            for i in range(off, off + c - width + 1):
                h = np.uint64(0)
                for m in range(i, i + width):
                    h = h * base + tok_hash[m]
                out[k] = (np.uint64(d) << np.uint64(32)) | (_mix64_one(h) & np.uint64(0xFFFFFFFF))
                k += 1
        off += c
    return out


def chunk_shingles(texts: list[str], cjk: list[bool], word_ngram: int, char_ngram: int) -> ChunkShingles:
    """Shingle hashes and exact hashes of a chunk's documents (see the module docstring)."""
    n_docs = len(texts)
    lowered = [t.lower() for t in texts]
    doc_len = np.fromiter((len(t) for t in lowered), np.int64, n_docs)
    cp = np.frombuffer("".join(lowered).encode("utf-32-le"), np.uint32)
    cjk_arr = np.asarray(cjk, bool).reshape(n_docs)
    tok_hash, tok_count = _tokens(cp, _word_table(), doc_len, cjk_arr)
    tok_off = np.concatenate(([0], np.cumsum(tok_count)))

    # exact hash: the token sequence (same tokens => same normalised text); xxh3 over each
    # document's slice of one bytes buffer (no per-document numpy slicing or copies)
    tok_bytes = memoryview(tok_hash.tobytes())
    bounds = (tok_off * 8).tolist()
    exact = np.fromiter(
        (
            stable_hash64(tok_bytes[bounds[i] : bounds[i + 1]])
            if bounds[i + 1] > bounds[i]
            else stable_hash64("\x00" + texts[i].strip())
            for i in range(n_docs)
        ),
        np.uint64,
        n_docs,
    )

    # n-grams of tokens inside one document; short documents: one shingle of all tokens
    n_per_doc = np.where(cjk_arr, char_ngram, word_ngram).astype(np.int64)
    keyed = np.sort(_ngrams(tok_hash, tok_count, n_per_doc))  # (doc << 32) | hash; np.unique: slower
    if len(keyed):
        keyed = keyed[np.concatenate(([True], keyed[1:] != keyed[:-1]))]
    hashes = (keyed & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    offsets = np.searchsorted(keyed >> np.uint64(32), np.arange(n_docs + 1, dtype=np.uint64)).astype(np.int64)
    return ChunkShingles(hashes, offsets, exact)


def shingle_hashes(text: str, n: int, cjk: bool) -> np.ndarray:
    """Distinct 32-bit shingle hashes of one text (convenience for tests and tools)."""
    return chunk_shingles([text], [cjk], n, n).of(0)

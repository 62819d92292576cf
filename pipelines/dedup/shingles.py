"""Shingle hashes for a whole chunk at once: n-grams of script-aware tokens.

Normalisation: lower case; a *word character* is one for which ``str.isalnum()`` holds.
Tokens are script-aware, whatever a document's language label says: every Chinese or
Japanese character (Han, kana) is a token of its own -- splitting them on ``\\W`` would
make a whole sentence one token -- and every maximal run of other word characters (a
Latin word, a number, an option name) is a token. So technical Chinese full of English
terms, or an English page quoting Chinese, shingles each script as it should be. A
shingle is ``n`` consecutive tokens of one document (a document with fewer tokens has
one shingle: all of them); ``n`` is ``char_ngram`` for documents whose tokens are mostly
CJK characters, ``word_ngram`` otherwise.

Everything runs on the chunk's concatenated UTF-32 code points in two compiled kernels
(numba, GIL-free, so chunks on several threads run in parallel); no Python loop runs per
word or per shingle (that is what usually caps MinHash throughput). Token and n-gram
hashes are polynomial hashes over Z/2^64 with an odd base B,
hash(c[i:j]) = sum_{m=i}^{j-1} c[m] * B^(j-1-m) (Horner's rule), each passed through the
MurmurHash3 64-bit finalizer; n-gram hashes keep its low 32 bits.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

import numba
import numpy as np

from lmcore.hashing import stable_hash64

# Bumped whenever shingle hashes change: persisted signatures must stay comparable.
SHINGLE_VERSION = 3
# Code point ranges whose characters are tokens of their own: CJK radicals, 々〆〇, kana,
# bopomofo, CJK ideographs (unified, extensions, compatibility), half-width katakana.
CJK_RANGES = (
    (0x2E80, 0x2FDF),
    (0x3005, 0x3007),
    (0x3040, 0x30FF),
    (0x3100, 0x312F),
    (0x31A0, 0x31FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),
    (0x20000, 0x323AF),
)
NOT_WORD, WORD, CJK_CHAR = 0, 1, 2
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


def _word_table() -> np.ndarray:
    """uint8 class per code point: 0 not a word character, 1 word character, 2 a CJK
    character (a token alone). Built once per process."""
    with _lock:  # several signing threads start at once: build it once
        if "word" not in _cache:
            table = np.fromiter((chr(c).isalnum() for c in range(0x110000)), np.uint8, 0x110000)
            for lo, hi in CJK_RANGES:
                part = table[lo : hi + 1]
                part[part == WORD] = CJK_CHAR
            _cache["word"] = table
    return _cache["word"]


@numba.njit(cache=True, nogil=True)
def mix64(h):
    """The 64-bit finaliser of MurmurHash3: spreads a polynomial hash over all bits (compiled)."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


@numba.njit(cache=True, nogil=True)
def _tokens(cp, word, doc_len):
    """Token hashes (mixed polynomial hash of the code points), tokens and CJK tokens per document.

    One pass over the chunk's code points; compiled and free of the GIL, so chunks
    shingled on several threads run in parallel. Same values as the span formula in
    the module docstring (Horner's rule evaluates the same polynomial).
    """
    base = np.uint64(0x100000001B3 | 1)
    out = np.empty(len(cp), np.uint64)
    count = np.zeros(len(doc_len), np.int64)
    cjk_count = np.zeros(len(doc_len), np.int64)
    t = 0
    pos = 0
    for d in range(len(doc_len)):
        end = pos + doc_len[d]
        i = pos
        while i < end:
            kind = word[cp[i]]
            if kind == 0:
                i += 1
                continue
            h = np.uint64(cp[i])
            i += 1
            if kind == 2:  # a Chinese/Japanese character is a token alone
                cjk_count[d] += 1
            else:  # a run of other word characters
                while i < end and word[cp[i]] == 1:
                    h = h * base + np.uint64(cp[i])
                    i += 1
            out[t] = mix64(h)
            t += 1
            count[d] += 1
        pos = end
    return out[:t], count, cjk_count


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
                out[k] = (np.uint64(d) << np.uint64(32)) | (mix64(h) & np.uint64(0xFFFFFFFF))
                k += 1
        off += c
    return out


def chunk_tokens(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token hashes of a chunk's documents (lower-cased, script-aware; see the module
    docstring), flattened, with each document's token count and CJK token count."""
    lowered = [t.lower() for t in texts]
    doc_len = np.fromiter((len(t) for t in lowered), np.int64, len(texts))
    cp = np.frombuffer("".join(lowered).encode("utf-32-le"), np.uint32)
    return _tokens(cp, _word_table(), doc_len)


def token_classes(text: str) -> np.ndarray:
    """Per code point of ``text`` (already lower-cased): ``NOT_WORD``, ``WORD`` or ``CJK_CHAR``."""
    return _word_table()[np.frombuffer(text.encode("utf-32-le"), np.uint32)]


def chunk_shingles(
    texts: list[str], cjk: list[bool] | None, word_ngram: int, char_ngram: int
) -> ChunkShingles:
    """Shingle hashes and exact hashes of a chunk's documents (see the module docstring).

    ``cjk`` picks each document's n-gram size (``char_ngram`` where true); ``None`` lets
    the tokens decide (mostly CJK characters: ``char_ngram``).
    """
    n_docs = len(texts)
    tok_hash, tok_count, cjk_count = chunk_tokens(texts)
    tok_off = np.concatenate(([0], np.cumsum(tok_count)))
    cjk_arr = (
        2 * cjk_count >= np.maximum(tok_count, 1) if cjk is None else np.asarray(cjk, bool).reshape(n_docs)
    )

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


def shingle_hashes(text: str, n: int, cjk: bool | None = None) -> np.ndarray:
    """Distinct 32-bit shingle hashes of one text (convenience for tests and tools)."""
    return chunk_shingles([text], None if cjk is None else [cjk], n, n).of(0)

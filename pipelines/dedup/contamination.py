"""Long n-grams shared with reference texts (task validation/test sets): the pure part of decontamination.

A *token* is what dedup's shingles use (``pipelines.dedup.shingles``): a lower-cased run
of word characters, or one Chinese/Japanese character. So one n-gram size serves both
scripts: 13 tokens are 13 words of English text and 13 characters of Chinese, and a
Chinese sentence quoted inside an English page is matched character by character.

Hashes are 64-bit (polynomial hash of the token hashes, then the MurmurHash3 finalizer):
the reference set can hold millions of n-grams and every document n-gram is looked up in
it, so 32-bit shingle hashes would flag innocent documents by collision. The reference
set is one sorted ``uint64`` array; a chunk's n-grams are looked up with one
``np.searchsorted``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numba
import numpy as np

from pipelines.dedup.shingles import CJK_CHAR, WORD, chunk_tokens, mix64, token_classes

TEXTS_PER_BATCH = 1000  # reference texts hashed per kernel call (bounds the temporary arrays)


@numba.njit(cache=True, nogil=True)
def _ngrams64(tok_hash, tok_count, n):
    """64-bit hashes of every n consecutive tokens of each document, document after document;
    a document with fewer than ``n`` tokens has none."""
    base = np.uint64(0x100000001B3 | 1)
    total = 0
    for d in range(len(tok_count)):
        if tok_count[d] >= n:
            total += tok_count[d] - n + 1
    out = np.empty(total, np.uint64)
    k = 0
    off = 0
    for d in range(len(tok_count)):
        c = tok_count[d]
        for i in range(off, off + c - n + 1):
            h = np.uint64(0)
            for m in range(i, i + n):
                h = h * base + tok_hash[m]
            out[k] = mix64(h)
            k += 1
        off += c
    return out


@dataclass(frozen=True)
class ChunkNgrams:
    """``hashes[offsets[i]:offsets[i+1]]``: document i's n-grams in text order (the k-th
    starts at its k-th token)."""

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64, len = docs + 1
    tokens: np.ndarray  # int64 tokens per document

    def of(self, i: int) -> np.ndarray:
        return self.hashes[self.offsets[i] : self.offsets[i + 1]]


def chunk_ngrams(texts: list[str], n: int) -> ChunkNgrams:
    """The n-gram hashes of a chunk's documents, in two compiled passes."""
    tok_hash, tok_count, _ = chunk_tokens(texts)
    hashes = _ngrams64(tok_hash, tok_count, n)
    per_doc = np.maximum(tok_count - n + 1, 0)
    return ChunkNgrams(hashes, np.concatenate(([0], np.cumsum(per_doc))).astype(np.int64), tok_count)


@dataclass(frozen=True)
class ReferencePart:
    """The distinct n-grams of one reference file, and how many of its texts gave none."""

    source: int  # index of the file in the sorted list of reference files
    hashes: np.ndarray  # uint64, sorted, distinct
    texts: int
    short_texts: int  # fewer than n tokens: nothing to match (an n-gram needs n tokens)
    unreadable: int = 0  # records of the file its reader refused


def reference_part(source: int, texts: Iterable[str], n: int) -> ReferencePart:
    """Hash a reference file's texts, a batch at a time."""
    parts: list[np.ndarray] = [np.zeros(0, np.uint64)]
    count = short = 0
    batch: list[str] = []

    def flush() -> None:
        nonlocal short
        grams = chunk_ngrams(batch, n)
        parts.append(np.unique(grams.hashes))
        short += int((grams.tokens < n).sum())
        batch.clear()

    for text in texts:
        count += 1
        batch.append(text)
        if len(batch) >= TEXTS_PER_BATCH:
            flush()
    if batch:
        flush()
    return ReferencePart(source, np.unique(np.concatenate(parts)), count, short)


@dataclass(frozen=True)
class ReferenceSet:
    """Every reference n-gram once, sorted, with the first reference file (in file order) that holds it."""

    hashes: np.ndarray  # uint64, sorted, distinct
    source: np.ndarray  # int32, index into ``files``
    files: tuple[str, ...]
    texts: int
    short_texts: int
    unreadable: int

    def stats(self) -> dict[str, int]:
        """Annotation counts for ``stats.json``: what the documents were checked against."""
        return {
            "decontamination/reference_files": len(self.files),
            "decontamination/reference_texts": self.texts,
            "decontamination/reference_texts_too_short": self.short_texts,
            "decontamination/reference_ngrams": len(self.hashes),
            "decontamination/reference_unreadable": self.unreadable,
        }


def merge_parts(parts: Iterable[ReferencePart], files: tuple[str, ...]) -> ReferenceSet:
    """One set from the files' parts, whatever order they arrive in (ties go to the first file)."""
    parts = sorted(parts, key=lambda p: p.source)
    hashes = np.concatenate([np.zeros(0, np.uint64)] + [p.hashes for p in parts])
    source = np.concatenate(
        [np.zeros(0, np.int32)] + [np.full(len(p.hashes), p.source, np.int32) for p in parts]
    )
    order = np.lexsort((source, hashes))
    hashes, source = hashes[order], source[order]
    first = np.concatenate(([True], hashes[1:] != hashes[:-1])) if len(hashes) else np.zeros(0, bool)
    return ReferenceSet(
        hashes[first],
        source[first],
        files,
        sum(p.texts for p in parts),
        sum(p.short_texts for p in parts),
        sum(p.unreadable for p in parts),
    )


@dataclass(frozen=True)
class Match:
    """A contaminated document: its first n-gram found in a reference, and that reference."""

    doc: int  # index in the chunk
    ngram: int  # position of the n-gram (= its first token) in the document
    source: int  # index into ``ReferenceSet.files``


def find_matches(reference: ReferenceSet, grams: ChunkNgrams) -> list[Match]:
    """Documents of the chunk sharing at least one n-gram with the reference set, in chunk order."""
    ref = reference.hashes
    if not len(ref) or not len(grams.hashes):
        return []
    pos = np.minimum(np.searchsorted(ref, grams.hashes), len(ref) - 1)
    hit = np.flatnonzero(ref[pos] == grams.hashes)
    if not len(hit):
        return []
    doc_of = np.searchsorted(grams.offsets, hit, side="right") - 1
    docs, first = np.unique(doc_of, return_index=True)  # hit is ascending: first = earliest n-gram
    return [
        Match(int(d), int(hit[f] - grams.offsets[d]), int(reference.source[pos[hit[f]]]))
        for d, f in zip(docs, first, strict=True)
    ]


def token_spans(lowered: str) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (code point offsets) of each token of a lower-cased text, the tokens
    that ``chunk_tokens`` hashes, in order."""
    cls = token_classes(lowered)
    word = cls == WORD
    before = np.concatenate(([False], word[:-1]))
    after = np.concatenate((word[1:], [False]))
    cjk = np.flatnonzero(cls == CJK_CHAR)
    starts = np.concatenate((np.flatnonzero(word & ~before), cjk))
    ends = np.concatenate((np.flatnonzero(word & ~after) + 1, cjk + 1))
    order = np.argsort(starts, kind="stable")
    return starts[order], ends[order]


def matched_text(text: str, ngram: int, n: int) -> str:
    """The (lower-cased) words of n-gram ``ngram`` of ``text``: what the report shows of a match."""
    lowered = text.lower()
    starts, ends = token_spans(lowered)
    return lowered[int(starts[ngram]) : int(ends[ngram + n - 1])]

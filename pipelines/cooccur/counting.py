"""GloVe's co-occurrence counts as numpy blocks (no Beam): the logic the pipeline wires.

A *block* is a compact sparse piece of the matrix: ``(keys, weights)``, two int64 arrays,
``keys`` sorted and unique, ``key = i << 32 | j`` (so key order is ``(i, j)`` order) and
``weights`` the summed weights of the pair. Weights are kept as exact integers: an
occurrence at distance ``d`` adds ``scale // d`` where ``scale = lcm(1..window)``, and the
written ``x`` is ``weight / scale``. Integer sums do not depend on the order they are added
in, so the counts are byte-identical whatever the bucket count, runner or worker count
(float sums of ``1/3`` in another order differ in the last bit), and equal to the exact
``Σ 1/d`` correctly rounded.

Out-of-vocabulary words are removed before windowing (as GloVe's ``cooccur`` does):
distance counts in-vocabulary words. Windows never cross a document boundary.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from lmcore.words import split_words

MAX_WINDOW = 20  # lcm(1..20) = 232,792,560: a pair may occur ~3.9e7 times before x loses exactness
MAX_VOCAB_IDS = 2**31 - 1  # ids are int32 in the files
KEY_SHIFT = np.int64(32)
KEY_MASK = np.int64(0xFFFFFFFF)
COMPACT_ROWS = 4_000_000  # pending pairs held before they are summed into the block

Block = tuple[np.ndarray, np.ndarray]


def weight_scale(window: int) -> int:
    """``lcm(1, ..., window)``: the integer every distance weight ``1/d`` is a whole multiple of."""
    if not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"window must be 1..{MAX_WINDOW}, got {window}")
    return math.lcm(*range(1, window + 1))


def empty_block() -> Block:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)


# -- pass 1: the vocabulary ------------------------------------------------------------------
def count_words(texts: Iterable[str], langs: Iterable[str | None]) -> tuple[Counter, int, int]:
    """(word counts, documents, words) over a batch of documents."""
    counts: Counter = Counter()
    docs = words = 0
    for text, lang in zip(texts, langs, strict=True):
        found = split_words(text, lang)
        counts.update(found)
        docs += 1
        words += len(found)
    return counts, docs, words


def select_vocabulary(
    counts: Iterable[tuple[str, int]], min_count: int, max_vocab: int | None = None
) -> tuple[list[str], list[int]]:
    """Words with at least ``min_count`` occurrences, by count descending then word; at most
    ``max_vocab`` of them. Word ids are positions in this order."""
    kept = sorted(((w, int(c)) for w, c in counts if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
    limit = min(max_vocab or MAX_VOCAB_IDS, MAX_VOCAB_IDS)
    kept = kept[:limit]
    return [w for w, _ in kept], [c for _, c in kept]


# -- pass 2: the co-occurrences ----------------------------------------------------------------
def document_ids(words: Sequence[str], index: Mapping[str, int]) -> np.ndarray:
    """The in-vocabulary words of a document as ids (out-of-vocabulary words removed)."""
    get = index.get
    return np.fromiter((i for i in map(get, words) if i is not None), dtype=np.int64)


def pair_keys(ids: np.ndarray, window: int, scale: int) -> Block:
    """Every (i, j) pair within ``window`` of one document, both directions, not yet summed."""
    keys, weights = [], []
    n = len(ids)
    for d in range(1, min(window, n - 1) + 1):
        left, right = ids[:-d], ids[d:]
        w = np.full(2 * (n - d), scale // d, dtype=np.int64)
        keys.append(np.concatenate([(left << KEY_SHIFT) | right, (right << KEY_SHIFT) | left]))
        weights.append(w)
    if not keys:
        return empty_block()
    return np.concatenate(keys), np.concatenate(weights)


def compact(keys: np.ndarray, weights: np.ndarray) -> Block:
    """Sum the weights of equal keys; keys sorted and unique (exact int64 sums)."""
    if len(keys) == 0:
        return empty_block()
    order = np.argsort(keys, kind="stable")
    k, w = keys[order], weights[order]
    starts = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
    return k[starts], np.add.reduceat(w, starts)


def merge_blocks(blocks: Iterable[Block]) -> Block:
    """One block from several (their pair weights summed)."""
    blocks = [b for b in blocks if len(b[0])]
    if not blocks:
        return empty_block()
    if len(blocks) == 1:
        return blocks[0]
    return compact(np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks]))


def bucket_of_rows(keys: np.ndarray, num_parts: int) -> np.ndarray:
    """The part each key goes to: its row ``i`` modulo the part count (ids are by frequency, so
    consecutive frequent rows spread over every part)."""
    return (keys >> KEY_SHIFT) % num_parts


def split_by_part(block: Block, num_parts: int) -> list[tuple[int, Block]]:
    """A block's keys per part, each still sorted; parts without keys are left out."""
    keys, weights = block
    if len(keys) == 0:
        return []
    parts = bucket_of_rows(keys, num_parts)
    order = np.argsort(parts, kind="stable")  # stable: keys stay sorted inside each part
    sorted_parts = parts[order]
    bounds = np.flatnonzero(np.concatenate([[True], sorted_parts[1:] != sorted_parts[:-1], [True]]))
    out = []
    for a, b in itertools.pairwise(bounds):
        sel = order[a:b]
        out.append((int(sorted_parts[a]), (keys[sel], weights[sel])))
    return out


def block_columns(block: Block, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i int32, j int32, x float64)`` of a block, in key order."""
    keys, weights = block
    i = (keys >> KEY_SHIFT).astype(np.int32)
    j = (keys & KEY_MASK).astype(np.int32)
    return i, j, weights.astype(np.float64) / float(scale)


class BlockBuilder:
    """Sums the pairs of many documents into one block, compacting whenever ``COMPACT_ROWS``
    pairs are pending; ``full`` says when the summed block is big enough to hand on."""

    def __init__(self, window: int, scale: int, compact_rows: int = COMPACT_ROWS):
        self.window = window
        self.scale = scale
        self.compact_rows = compact_rows
        self._pending: list[Block] = []
        self._pending_rows = 0
        self._block: Block = empty_block()

    def add(self, ids: np.ndarray) -> None:
        if len(ids) < 2:
            return
        keys, weights = pair_keys(ids, self.window, self.scale)
        self._pending.append((keys, weights))
        self._pending_rows += len(keys)
        if self._pending_rows >= self.compact_rows:
            self._fold()

    def _fold(self) -> None:
        if self._pending:
            pending = compact(
                np.concatenate([b[0] for b in self._pending]), np.concatenate([b[1] for b in self._pending])
            )
            self._block = merge_blocks([self._block, pending])
            self._pending, self._pending_rows = [], 0

    @property
    def full(self) -> bool:
        return len(self._block[0]) >= self.compact_rows

    def take(self) -> Block:
        """The summed block so far; the builder starts again empty."""
        self._fold()
        block, self._block = self._block, empty_block()
        return block


def cooccurrence_block(documents: Iterable[Sequence[str]], index: Mapping[str, int], window: int) -> Block:
    """The whole block of a list of word lists (for tests and small inputs)."""
    builder = BlockBuilder(window, weight_scale(window))
    for words in documents:
        builder.add(document_ids(words, index))
    return builder.take()

"""Vectorised MinHash signatures, bit-for-bit equal to datasketch's ``affine32`` scheme.

datasketch (``MinHash(num_perm, seed, scheme="affine32")``) maps each 32-bit shingle hash
through the MurmurHash3 finalizer and then through ``num_perm`` affine permutations
``a*h + b mod 2^32``; the signature is the per-permutation minimum. We take the same
permutations from datasketch and apply them to a whole chunk's shingles at once, in
blocks that bound memory (block rows x num_perm x 4 bytes).
"""

from __future__ import annotations

import functools

import numpy as np
from datasketch import LeanMinHash, MinHash
from datasketch.lsh import _optimal_param
from datasketch.minhash import _fmix

BLOCK_ROWS = 16384


@functools.lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _groups(lengths: np.ndarray) -> list[np.ndarray]:
    """Doc indices (non-empty docs only) in groups of at most BLOCK_ROWS shingles (or one big doc)."""
    groups, current, rows = [], [], 0
    for d in np.flatnonzero(lengths):
        if current and rows + lengths[d] > BLOCK_ROWS:
            groups.append(np.array(current))
            current, rows = [], 0
        current.append(d)
        rows += lengths[d]
    if current:
        groups.append(np.array(current))
    return groups


def signatures(shingles: list[np.ndarray], num_perm: int, seed: int) -> np.ndarray:
    """(num_docs, num_perm) uint32 signatures; an empty shingle set gets all-max values."""
    a, b = permutations(num_perm, seed)
    out = np.full((len(shingles), num_perm), np.iinfo(np.uint32).max, np.uint32)
    lengths = np.array([len(s) for s in shingles], np.int64)
    with np.errstate(over="ignore"):
        for docs in _groups(lengths):
            mixed = _fmix(np.concatenate([shingles[d] for d in docs]), 32)
            if len(mixed) > BLOCK_ROWS:  # one large document: reduce block by block
                sig = out[docs[0]]
                for lo in range(0, len(mixed), BLOCK_ROWS):
                    sig = np.minimum(sig, (mixed[lo : lo + BLOCK_ROWS, None] * a + b).min(axis=0))
                out[docs[0]] = sig
                continue
            offsets = np.concatenate(([0], np.cumsum(lengths[docs])[:-1]))
            out[docs] = np.minimum.reduceat(mixed[:, None] * a + b, offsets, axis=0)
    return out


def optimal_bands(threshold: float, num_perm: int, fp_weight: float, fn_weight: float) -> tuple[int, int]:
    """(bands, rows) minimising datasketch's weighted false positive/negative areas."""
    return _optimal_param(threshold, num_perm, fp_weight, fn_weight)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)


def lean_minhash(signature: np.ndarray, seed: int) -> LeanMinHash:
    """A datasketch ``LeanMinHash`` for a signature (for interoperability and tests)."""
    return LeanMinHash(seed=seed, hashvalues=signature.astype(np.uint32), scheme="affine32")

"""Vectorised MinHash signatures, bit-for-bit equal to datasketch's ``affine32`` scheme.

datasketch (``MinHash(num_perm, seed, scheme="affine32")``) maps each 32-bit shingle hash
through the MurmurHash3 finalizer and then through ``num_perm`` affine permutations
``a*h + b mod 2^32``; the signature is the per-permutation minimum. We take the same
permutations from datasketch and apply them to a whole chunk's shingles at once. The
layout is permutation-major -- ``a[p:p+16, None] * h[None, :]`` over all shingles of the
chunk, then one ``minimum.reduceat`` per block of 16 permutations -- which keeps numpy's
inner loops long and contiguous (about 3x faster than shingle-major blocks).

LSH band keys are computed with numpy too: one 64-bit hash per (document, band) from the
band's ``rows`` values, salted with the band index so equal rows in different bands never
share a bucket.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
from datasketch import LeanMinHash, MinHash
from datasketch.lsh import _optimal_param
from datasketch.minhash import _fmix

PERM_BLOCK = 16  # permutations per pass: block = PERM_BLOCK x shingles x 4 bytes
MAX_SHINGLES_PER_PASS = 1 << 20  # bounds memory for very large chunks
EMPTY = np.iinfo(np.uint32).max


@functools.lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own affine32 permutation parameters for (num_perm, seed)."""
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def flat_signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """(docs, num_perm) uint32 signatures of ``hashes[offsets[i]:offsets[i+1]]``; empty sets get EMPTY."""
    n_docs = len(offsets) - 1
    out = np.full((num_perm, n_docs), EMPTY, np.uint32)
    lengths = np.diff(offsets)
    # split the chunk into passes of whole documents (a huge document is a pass of its own)
    bounds = [0]
    for i in range(1, n_docs + 1):
        if offsets[i] - offsets[bounds[-1]] > MAX_SHINGLES_PER_PASS and i - 1 > bounds[-1]:
            bounds.append(i - 1)
    bounds.append(n_docs)
    a, b = permutations(num_perm, seed)
    for lo, hi in itertools.pairwise(bounds):
        docs = np.arange(lo, hi)[lengths[lo:hi] > 0]
        if not len(docs):
            continue
        mixed = _fmix(hashes[offsets[lo] : offsets[hi]].astype(np.uint32), 32)
        starts = offsets[docs] - offsets[lo]
        buf = np.empty((PERM_BLOCK, len(mixed)), np.uint32)
        for p in range(0, num_perm, PERM_BLOCK):
            q = min(p + PERM_BLOCK, num_perm)
            block = buf[: q - p]
            np.multiply(a[p:q, None], mixed[None, :], out=block)
            np.add(block, b[p:q, None], out=block)
            out[p:q, docs] = np.minimum.reduceat(block, starts, axis=1)
    return np.ascontiguousarray(out.T)


def signatures(shingles: list[np.ndarray], num_perm: int, seed: int) -> np.ndarray:
    """Signatures of a list of shingle-hash arrays (see ``flat_signatures``)."""
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in shingles]))).astype(np.int64)
    flat = np.concatenate(shingles) if shingles else np.zeros(0, np.uint32)
    return flat_signatures(flat.astype(np.uint32), offsets, num_perm, seed)


def optimal_bands(threshold: float, num_perm: int, fp_weight: float, fn_weight: float) -> tuple[int, int]:
    """(bands, rows) minimising datasketch's weighted false positive/negative areas."""
    return _cached_optimal(round(threshold, 6), num_perm, fp_weight, fn_weight)


@functools.lru_cache(maxsize=32)
def _cached_optimal(threshold: float, num_perm: int, fp_weight: float, fn_weight: float) -> tuple[int, int]:
    return tuple(_optimal_param(threshold, num_perm, fp_weight, fn_weight))


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(docs, bands) uint64 bucket keys: a hash of each band's ``rows`` signature values."""
    n = sigs.shape[0]
    v = sigs[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    h = np.broadcast_to(np.arange(1, bands + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15), (n, bands))
    for r in range(rows):
        h = (h ^ v[:, :, r]) * np.uint64(0x100000001B3)
        h = h ^ (h >> np.uint64(29))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    return h ^ (h >> np.uint64(32))


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)


def lean_minhash(signature: np.ndarray, seed: int) -> LeanMinHash:
    """A datasketch ``LeanMinHash`` for a signature (for interoperability and tests)."""
    return LeanMinHash(seed=seed, hashvalues=signature.astype(np.uint32), scheme="affine32")

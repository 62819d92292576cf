"""Candidate pairs from one shard of (key, document) rows -- exact hashes or LSH band keys.

Pure numpy over batches, so the Beam shuffle moves a few arrays per (chunk, shard)
instead of one element per (document, band). Every function is deterministic: rows are
sorted by (key, not old, exact hash, uid) before pairs are formed, so the same input
rows give the same pairs in any order.
"""

from __future__ import annotations

import numpy as np

WINDOW = 8  # within a bucket, pair each member with the next WINDOW members (all pairs up to 9)


def _concat(batches: list[tuple]) -> tuple[np.ndarray, ...]:
    return tuple(np.concatenate([b[i] for b in batches]) for i in range(len(batches[0])))


def _group_starts(keys: np.ndarray) -> np.ndarray:
    """For sorted keys: index of the first row of each row's group."""
    first = np.concatenate(([True], keys[1:] != keys[:-1]))
    return np.maximum.accumulate(np.where(first, np.arange(len(keys)), 0))


def exact_pairs(batches: list[tuple]) -> np.ndarray:
    """(k, 2) uid pairs linking every member of an exact-hash group to its first member.

    Batches hold (exact hashes, uids, old flags); old documents sort first, so they are
    the star centres.
    """
    if not batches:
        return np.zeros((0, 2), np.uint64)
    keys, uids, old = _concat(batches)
    order = np.lexsort((uids, ~old, keys))
    keys, uids = keys[order], uids[order]
    head = _group_starts(keys)
    member = np.arange(len(keys)) != head
    same = uids[head[member]] != uids[member]
    return np.stack((uids[head[member]][same], uids[member][same]), axis=1)


def band_pairs(batches: list[tuple], collapse_exact: bool) -> np.ndarray:
    """(k, 2) distinct candidate uid pairs (smaller uid first) from LSH bucket collisions.

    Batches hold (band keys, uids, exact hashes, old flags). With ``collapse_exact`` only
    one member per exact hash stays in a bucket (the exact pass links the others), which
    keeps buckets of many identical copies from exploding. Each remaining member is paired
    with the next ``WINDOW`` members of its bucket: all pairs for buckets of up to
    WINDOW + 1, a connected band of pairs for larger ones.
    """
    if not batches:
        return np.zeros((0, 2), np.uint64)
    keys, uids, exact, old = _concat(batches)
    # Most keys occur once (no pair): keep only rows whose key recurs before the full sort.
    by_key = np.argsort(keys, kind="stable")
    sk = keys[by_key]
    recurs = np.zeros(len(sk), bool)
    recurs[1:] = sk[1:] == sk[:-1]
    recurs[:-1] |= recurs[1:]
    sel = by_key[recurs]
    if not len(sel):
        return np.zeros((0, 2), np.uint64)
    keys, uids, exact, old = keys[sel], uids[sel], exact[sel], old[sel]
    order = np.lexsort((uids, exact, ~old, keys))
    keys, uids, exact = keys[order], uids[order], exact[order]
    keep = np.concatenate(([True], (keys[1:] != keys[:-1]) | (uids[1:] != uids[:-1])))
    if collapse_exact:
        # same key and same exact hash as an earlier row: drop (sorted by exact within old/new)
        ex_order = np.lexsort((uids, exact, keys))
        k2, e2 = keys[ex_order], exact[ex_order]
        dup = np.concatenate(([False], (k2[1:] == k2[:-1]) & (e2[1:] == e2[:-1])))
        drop = np.zeros(len(keys), bool)
        drop[ex_order[dup]] = True
        keep &= ~drop
    keys, uids = keys[keep], uids[keep]
    pairs = []
    for k in range(1, WINDOW + 1):
        if len(keys) <= k:
            break
        same = keys[k:] == keys[:-k]
        if not same.any():
            break
        pairs.append(np.stack((uids[:-k][same], uids[k:][same]), axis=1))
    return unique_pairs(pairs)


def unique_pairs(pairs: list[np.ndarray]) -> np.ndarray:
    """Distinct pairs, each ordered (smaller uid, larger uid), sorted."""
    if not pairs:
        return np.zeros((0, 2), np.uint64)
    p = np.concatenate(pairs)
    p = np.stack((p.min(axis=1), p.max(axis=1)), axis=1)
    p = p[p[:, 0] != p[:, 1]]
    if not len(p):
        return p
    p = p[np.lexsort((p[:, 1], p[:, 0]))]
    first = np.concatenate(([True], (p[1:, 0] != p[:-1, 0]) | (p[1:, 1] != p[:-1, 1])))
    return p[first]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted arrays of distinct shingle hashes."""
    if not len(a) and not len(b):
        return 1.0
    if not len(a) or not len(b):
        return 0.0
    at = np.searchsorted(b, a)  # both sorted and distinct: a[i] is in b iff b[at[i]] == a[i]
    at[at == len(b)] = 0
    inter = int(np.count_nonzero(b[at] == a))
    return inter / (len(a) + len(b) - inter)

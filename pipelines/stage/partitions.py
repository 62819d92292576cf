"""How the Dask runner moves elements between partitions: plain functions, no Beam, no Dask.

Every split is a pure function of the partition's contents and its index, so a task that
Dask recomputes after losing a worker sends exactly the same elements to exactly the same
buckets as the first time: nothing is lost or delivered twice. (Beam's own ``Reshuffle``
draws random keys, which a recomputation would draw differently.)

Balance: our elements are coarse (a read chunk is a whole small file, or 8 M characters of
a big one) and of very different cost, so dealing them by count, or keys by hash, leaves
one partition with several times the work of another. The weighted splits plan the deal
from every partition's element weights (``weight``: characters and bytes held) with
longest-first placement (``plan_deal``, ``plan_keys``); the plan is a pure function of the
weights, so it too comes out the same when recomputed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from lmcore.hashing import stable_bucket

T = TypeVar("T")
# Keys a GroupByKey may place by weight; past this many the plan would cost more than it
# saves (dedup's band keys run into the millions) and keys go by hash.
MAX_PLANNED_KEYS = 4096
_WEIGHT_DEPTH = 6  # containers nested deeper count 1: a bound on the cost of weighing


def concat(*parts: Sequence[T]) -> list[T]:
    """The partitions' elements, in partition order."""
    return [item for part in parts for item in part]


def round_robin(items: Sequence[T], buckets: int, offset: int = 0) -> tuple[list[T], ...]:
    """``items`` dealt over ``buckets`` lists, starting at bucket ``offset``.

    The offset (the partition's index) keeps many one-element partitions from all landing
    in bucket 0.
    """
    out: tuple[list[T], ...] = tuple([] for _ in range(buckets))
    for i, item in enumerate(items):
        out[(offset + i) % buckets].append(item)
    return out


def split_by_key(
    pairs: Iterable[tuple[Any, Any]], buckets: int, encode: Callable[[Any], bytes]
) -> tuple[list[tuple[bytes, Any, Any]], ...]:
    """``(key, value)`` pairs as ``(encoded key, key, value)`` in the bucket of their key's stable hash."""
    out: tuple[list[tuple[bytes, Any, Any]], ...] = tuple([] for _ in range(buckets))
    for key, value in pairs:
        encoded = encode(key)
        out[stable_bucket(encoded, buckets)].append((encoded, key, value))
    return out


def group_encoded(*buckets: Iterable[tuple[bytes, Any, Any]]) -> list[tuple[Any, list[Any]]]:
    """``(key, values)`` per distinct encoded key, keys and values in arrival order.

    Keys are compared by their encoding, as Beam's GroupByKey does, so unhashable keys group too.
    """
    groups: dict[bytes, tuple[Any, list[Any]]] = {}
    for bucket in buckets:
        for encoded, key, value in bucket:
            entry = groups.get(encoded)
            if entry is None:
                groups[encoded] = entry = (key, [])
            entry[1].append(value)
    return list(groups.values())


PARTITIONS_PER_THREAD = 4


def default_partitions(worker_threads: int, requested: int | None = None) -> int:
    """Partitions per shuffled collection: ``requested``, else four per worker thread (at least 2).

    Four, not one: the weights only roughly predict a chunk's cost (HTML costs more per
    character to clean than plain text), and with several partitions per thread a worker that
    finishes early takes queued ones (``bench/bench_dask.py`` measures the split).
    """
    if requested:
        return max(1, int(requested))
    return max(2, PARTITIONS_PER_THREAD * int(worker_threads))


def weight(value: Any, depth: int = _WEIGHT_DEPTH) -> int:
    """The work an element stands for: the characters and bytes it holds, 1 per other leaf.

    Cleaning, signing and tokenizing cost about in proportion to the text; the estimate is
    deterministic (unlike ``dask.sizeof``, which samples lists at random).
    """
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return len(value) + 1
    if depth <= 0:
        return 1
    if isinstance(value, dict):
        return 1 + sum(weight(k, depth - 1) + weight(v, depth - 1) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return 1 + sum(weight(v, depth - 1) for v in value)
    return 1


def place_longest_first(weights: Sequence[int], buckets: int, offset: int = 0) -> list[int]:
    """The bucket of each weight: heaviest first onto the least loaded bucket (LPT).

    Ties go to the bucket that comes first counting from ``offset``, so equal weights are
    dealt round-robin from ``offset``, exactly as ``round_robin``.
    """
    order = sorted(range(len(weights)), key=lambda i: (-weights[i], i))
    heap = [(0, (b - offset) % buckets) for b in range(buckets)]
    heapq.heapify(heap)
    out = [0] * len(weights)
    for i in order:
        load, rank = heapq.heappop(heap)
        out[i] = (rank + offset) % buckets
        heapq.heappush(heap, (load + weights[i], rank))
    return out


def weights_of(items: Sequence[Any]) -> list[int]:
    """Each element's ``weight``."""
    return [weight(item) for item in items]


def plan_deal(part_weights: Sequence[Sequence[int]], buckets: int) -> list[list[int]]:
    """Per partition, the bucket of each of its elements, planned over all partitions at once."""
    flat = [w for ws in part_weights for w in ws]
    placed = place_longest_first(flat, buckets)
    out, start = [], 0
    for ws in part_weights:
        out.append(placed[start : start + len(ws)])
        start += len(ws)
    return out


def deal(items: Sequence[T], buckets: int, plan: Sequence[Sequence[int]], index: int) -> tuple[list[T], ...]:
    """Partition ``index``'s elements into the buckets ``plan`` gives them, in arrival order."""
    out: tuple[list[T], ...] = tuple([] for _ in range(buckets))
    for item, bucket in zip(items, plan[index], strict=True):
        out[bucket].append(item)
    return out


def key_weights(
    pairs: Iterable[tuple[Any, Any]], encode: Callable[[Any], bytes], limit: int = MAX_PLANNED_KEYS
) -> dict[bytes, int] | None:
    """The summed ``weight`` of the values of each encoded key; None past ``limit`` keys."""
    out: dict[bytes, int] = {}
    for key, value in pairs:
        encoded = encode(key)
        if encoded not in out and len(out) >= limit:
            return None
        out[encoded] = out.get(encoded, 0) + weight(value)
    return out


def plan_keys(
    summaries: Sequence[Mapping[bytes, int] | None], buckets: int, limit: int = MAX_PLANNED_KEYS
) -> dict[bytes, int] | None:
    """The bucket of every key, heaviest first onto the least loaded; None (place by hash)
    when a partition had too many keys or all together have more than ``limit``."""
    if any(s is None for s in summaries):
        return None
    totals: dict[bytes, int] = {}
    for summary in summaries:
        for encoded, w in summary.items():  # type: ignore[union-attr]
            totals[encoded] = totals.get(encoded, 0) + w
    if len(totals) > limit:
        return None
    keys = sorted(totals)  # by encoding: the plan does not depend on the partitions' order
    placed = place_longest_first([totals[k] for k in keys], buckets)
    return dict(zip(keys, placed, strict=True))


def split_by_plan(
    pairs: Iterable[tuple[Any, Any]],
    buckets: int,
    encode: Callable[[Any], bytes],
    plan: Mapping[bytes, int] | None,
) -> tuple[list[tuple[bytes, Any, Any]], ...]:
    """As ``split_by_key``, but into the bucket ``plan`` gives each key (by hash without one)."""
    if plan is None:
        return split_by_key(pairs, buckets, encode)
    out: tuple[list[tuple[bytes, Any, Any]], ...] = tuple([] for _ in range(buckets))
    for key, value in pairs:
        encoded = encode(key)
        out[plan[encoded]].append((encoded, key, value))
    return out


def worker_slots(nthreads: Mapping[str, int]) -> list[str]:
    """One entry per worker thread, interleaved (a, b, a, b), so that consecutive partitions
    go to different workers."""
    order = sorted(nthreads)
    return [w for round_ in range(max(nthreads.values(), default=0)) for w in order if nthreads[w] > round_]


def home_of(index: int, slots: Sequence[str]) -> str | None:
    """The worker of partition ``index``: the partitions go round the slots; None without any."""
    return slots[index % len(slots)] if slots else None

"""How the Dask runner moves elements between partitions: plain functions, no Beam, no Dask.

Every split is a pure function of the partition's contents and its index, so a task that
Dask recomputes after losing a worker sends exactly the same elements to exactly the same
buckets as the first time: nothing is lost or delivered twice. (Beam's own ``Reshuffle``
draws random keys, which a recomputation would draw differently.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from lmcore.hashing import stable_bucket

T = TypeVar("T")


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


def default_partitions(worker_threads: int, requested: int | None = None) -> int:
    """Partitions per shuffled collection: ``requested``, else twice the cluster's threads (at least 2)."""
    if requested:
        return max(1, int(requested))
    return max(2, 2 * int(worker_threads))

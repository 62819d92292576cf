"""Which sample sits at each position of the endless global stream: shuffle and weighted mixing.

Samples are grouped (by source, by dataset, or one group). Per epoch, group ``g``
contributes ``quota[g]`` samples (its size, or its share of the epoch by weight). Group
``g``'s samples are consumed from an endless sequence of passes, each pass a fresh
permutation seeded by (seed, group name, pass); a group that is up-weighted repeats in
new orders, a down-weighted one advances through its passes across epochs, so every
sample is seen before any repeats. Groups are interleaved by a low-discrepancy schedule:
the j-th item of group g gets time ``(j + phase_g) / quota[g]`` with a per-epoch random
phase, and positions are the items sorted by time. After any prefix of ``t`` positions,
every group has supplied ``t × quota[g] / N`` samples to within one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import xxhash


def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    words = [int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF]
    for key in keys:
        h = xxhash.xxh3_64_intdigest(str(key).encode("utf-8"))
        words += [h & 0xFFFFFFFF, h >> 32]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))


def quotas(sizes: Sequence[int], weights: Sequence[float] | None) -> np.ndarray:
    """Samples each group gives per epoch: its size, or by weight with the same total (largest remainder)."""
    sizes = np.asarray(sizes, np.int64)
    if weights is None:
        return sizes.copy()
    w = np.asarray(weights, np.float64)
    total = int(sizes.sum())
    exact = total * w / w.sum()
    q = np.floor(exact).astype(np.int64)
    rest = total - int(q.sum())
    if rest:
        q[np.argsort(-(exact - q), kind="stable")[:rest]] += 1
    q[sizes == 0] = 0  # an empty group cannot contribute
    return q


def interleave(
    quota: np.ndarray, seed: int, epoch: int, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(group, rank-within-group) for every position of one epoch, low-discrepancy ordered."""
    groups = np.repeat(np.arange(len(quota), dtype=np.int32), quota)
    first = np.concatenate([[0], np.cumsum(quota)[:-1]])
    j = np.arange(len(groups), dtype=np.int64) - np.repeat(first, quota)
    rng = _rng(seed, "interleave", epoch)
    phase = rng.random(len(quota))
    with np.errstate(divide="ignore", invalid="ignore"):
        time = (j + phase[groups]) / quota[groups]
    order = np.lexsort((groups, time))
    return groups[order], j[order]


class StreamOrder:
    """Maps global stream positions to sample ids; a pure function of its arguments."""

    def __init__(
        self,
        group_ptr: np.ndarray,
        names: Sequence[str],
        seed: int,
        weights: Sequence[float] | None = None,
    ) -> None:
        self.group_ptr = np.asarray(group_ptr, np.int64)
        self.sizes = np.diff(self.group_ptr)
        self.names = list(names)
        self.seed = int(seed)
        self.quota = quotas(self.sizes, weights)
        self.epoch_len = int(self.quota.sum())
        self._epochs: OrderedDict[int, np.ndarray] = OrderedDict()
        self._perms: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()

    def _epoch(self, epoch: int) -> np.ndarray:
        """Sample id at every position of ``epoch`` (8 bytes per sample, two epochs kept)."""
        ids = self._epochs.get(epoch)
        if ids is None:
            groups, j = interleave(self.quota, self.seed, epoch, self.names)
            q = epoch * self.quota[groups] + j  # position in the group's endless sequence of passes
            passes = q // self.sizes[groups]
            within = q - passes * self.sizes[groups]
            ids = np.empty(len(groups), np.int64)
            for gg, pp in _pairs(groups, passes):
                m = (groups == gg) & (passes == pp)
                ids[m] = self.group_ptr[gg] + self._perm(gg, pp)[within[m]]
            self._epochs[epoch] = ids
            while len(self._epochs) > 2:
                self._epochs.popitem(last=False)
        return ids

    def _perm(self, g: int, pass_: int) -> np.ndarray:
        key = (g, pass_)
        if key not in self._perms:
            rng = _rng(self.seed, "shuffle", self.names[g], pass_)
            self._perms[key] = rng.permutation(int(self.sizes[g])).astype(np.int64)
            while len(self._perms) > 2 * len(self.names) + 2:
                self._perms.popitem(last=False)
        return self._perms[key]

    def samples(self, positions: np.ndarray) -> np.ndarray:
        """Sample id at each stream position (positions may span epochs): one gather per epoch."""
        positions = np.asarray(positions, np.int64)
        if self.epoch_len == 0:
            raise ValueError("the dataset split has no samples")
        if len(positions) == 0:
            return np.zeros(0, np.int64)
        lo, hi = int(positions.min()) // self.epoch_len, int(positions.max()) // self.epoch_len
        if lo == hi:
            return self._epoch(lo)[positions - lo * self.epoch_len]
        out = np.empty(len(positions), np.int64)
        epochs = positions // self.epoch_len
        for e in np.unique(epochs).tolist():
            sel = np.nonzero(epochs == e)[0]
            out[sel] = self._epoch(e)[positions[sel] - e * self.epoch_len]
        return out


def _pairs(groups: np.ndarray, passes: np.ndarray) -> list[tuple[int, int]]:
    """The distinct (group, pass) pairs of an epoch, sorted (numpy; epochs can be long)."""
    key = np.unique(groups.astype(np.int64) << 32 | passes)
    return list(zip((key >> 32).tolist(), (key & 0xFFFFFFFF).tolist()))

"""Word n-gram statistics for Gopher's repetition rules, vectorised with numpy.

The straightforward version (a ``Counter`` of tuples per n, six more scans for the
duplicated n-grams) was the slowest step of the clean stage. Here tokens become integer
ids once, n-grams become 64-bit rolling hashes (``h_n = h_{n-1} * M + id``, wrapping), and
counts come from sorting. The duplicated-n-gram rule scans greedily left to right, which
does not vectorise; a vectorised *upper bound* (characters of every n-gram that occurred
before, overlaps merged) settles almost every document, and only the rest get the exact
scan. Results equal the straightforward definitions (up to 64-bit hash collisions).
"""

from __future__ import annotations

import numpy as np

MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


class NgramIndex:
    """Token ids, lengths and n-gram hashes of one document's tokens."""

    def __init__(self, tokens: list[str]):
        vocab: dict[str, int] = {}
        self.size = len(tokens)
        # id of a token = position of its first occurrence (+1); map() keeps the loop in C.
        first_seen = map(vocab.setdefault, tokens, range(1, self.size + 1))
        self.ids = np.fromiter(first_seen, np.uint64, self.size)
        lens = np.fromiter(map(len, tokens), np.int64, self.size)
        self.prefix = np.concatenate(([0], np.cumsum(lens)))
        self.total_chars = int(self.prefix[-1]) or 1
        self._hashes: dict[int, np.ndarray] = {1: self.ids}
        self._unique: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def hashes(self, n: int) -> np.ndarray:
        """Hash of the n-gram starting at each position (``size - n + 1`` values)."""
        if n not in self._hashes:
            prev = self.hashes(n - 1)
            self._hashes[n] = prev[:-1] * MULTIPLIER + self.ids[n - 1 :]
        return self._hashes[n]

    def _counts(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Distinct n-gram hashes and their counts (a plain sort, no argsort), cached."""
        if n not in self._unique:
            self._unique[n] = np.unique(self.hashes(n), return_counts=True)
        return self._unique[n]

    def gram_chars(self, n: int) -> np.ndarray:
        return self.prefix[n:] - self.prefix[:-n]

    def top_fraction(self, n: int) -> float:
        """Characters of the most frequent n-gram times its count, over all token characters.

        Ties go to the n-gram that occurs first (as ``Counter.most_common`` would).
        """
        if self.size < n:
            return 0.0
        hashes = self.hashes(n)
        values, counts = self._counts(n)
        best = counts.max()
        if best <= 1:
            return 0.0
        tied = values[counts == best]
        if len(tied) <= 8:
            start = min(int(np.argmax(hashes == v)) for v in tied)
        else:
            start = int(np.flatnonzero(np.isin(hashes, tied))[0])
        return float(self.gram_chars(n)[start]) * int(best) / self.total_chars

    def top_exceeds(self, n: int, limit: float) -> bool:
        """``top_fraction(n) > limit``, skipping the exact answer when a cheap bound settles it."""
        if self.size < n:
            return False
        if self.size * n <= 64:  # tiny documents: just compute it
            return self.top_fraction(n) > limit
        # The most frequent n-gram occurs at most (positions) times and has at most the
        # longest n-gram's characters; most documents are far under the limit.
        _, counts = self._counts(n)
        if int(counts.max()) * int(self.gram_chars(n).max()) <= limit * self.total_chars:
            return False
        return self.top_fraction(n) > limit

    def _repeats(self, n: int) -> np.ndarray:
        """Positions whose n-gram occurred at an earlier position."""
        h = self.hashes(n)
        order = np.argsort(h, kind="stable")
        ordered = h[order]
        repeat = np.empty(len(h), bool)
        repeat[order] = np.concatenate(([False], ordered[1:] == ordered[:-1]))
        return repeat

    def duplicated_fraction_bound(self, n: int) -> float:
        """Upper bound of ``duplicated_fraction``: characters covered by any repeated occurrence."""
        if self.size < n:
            return 0.0
        starts = np.flatnonzero(self._repeats(n))
        if not len(starts):
            return 0.0
        delta = np.zeros(self.size + 1, np.int64)
        np.add.at(delta, starts, 1)
        np.add.at(delta, starts + n, -1)
        covered = np.cumsum(delta[:-1]) > 0
        lens = np.diff(self.prefix)
        return float(lens[covered].sum()) / self.total_chars

    def duplicated_fraction(self, n: int) -> float:
        """Gopher's duplicated n-gram character fraction (greedy scan, repeats skipped past)."""
        if self.size < n:
            return 0.0
        hashes = self.hashes(n).tolist()
        chars = self.gram_chars(n).tolist()
        seen: set[int] = set()
        repeated = 0
        i, last = 0, len(hashes) - 1
        while i <= last:
            h = hashes[i]
            if h in seen:
                repeated += chars[i]
                i += n
            else:
                seen.add(h)
                i += 1
        return repeated / self.total_chars

    def duplicated_exceeds(self, n: int, limit: float) -> bool:
        return self.duplicated_fraction_bound(n) > limit and self.duplicated_fraction(n) > limit

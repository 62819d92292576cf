"""Turn document lengths into samples (rows of ``seq_len + 1`` token slots), with numpy only.

A sample is a list of *pieces*; a piece is a contiguous run of one document's tokens
``(doc, offset, length)``. Pieces are laid out left to right in the row and the rest of
the row is padding. Both modes return the same CSR layout, so the batch builder does not
care which one made it:

* ``concat_windows``: the documents of a group concatenated into one stream, cut into
  windows of ``seq_len + 1`` tokens with stride ``seq_len`` (consecutive windows share one
  token, so no prediction is lost at the cut). The tail shorter than a window is dropped
  (the *truncation*); there is no padding.
* ``best_fit``: whole documents packed into rows by best-fit decreasing. A document longer
  than a row is split into pieces of ``seq_len + 1`` tokens with stride ``seq_len`` (again
  one shared token); the last, shorter piece is packed like any document. Nothing is
  dropped except one-token documents (nothing to predict); the cost is padding.

Best-fit decreasing: items sorted by size (largest first); each goes into the open row
with the least room that still fits it, else into a new row. Because sizes are integers
in ``[1, seq_len + 1]``, all items of one size are placed together: the row with the least
room ``r >= s`` takes ``r // s`` of them in a row (exactly what best-fit does one by one),
so the Python loop runs per (size, room) pair, not per document, and a bitmask over rooms
finds the tightest row in O(1) big-int operations. 1 M documents pack in about a second;
padding is typically well under 1 % when most documents are shorter than a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Packed:
    """Samples as CSR over pieces: sample ``s`` is pieces ``ptr[s]:ptr[s+1]``."""

    doc: np.ndarray  # int64, index into the group's documents
    offset: np.ndarray  # int64, first token of the piece inside its document
    length: np.ndarray  # int64, tokens in the piece
    ptr: np.ndarray  # int64, num_samples + 1
    dropped_tokens: int  # tokens of the group that no sample holds
    split_docs: int  # documents cut into more than one piece (best_fit) or across windows (concat)

    @property
    def num_samples(self) -> int:
        return len(self.ptr) - 1


def _empty(dropped: int) -> Packed:
    z = np.zeros(0, np.int64)
    return Packed(z, z, z, np.zeros(1, np.int64), dropped, 0)


def concat_windows(lengths: np.ndarray, seq_len: int) -> Packed:
    """Windows of ``seq_len + 1`` tokens, stride ``seq_len``, over the concatenated documents."""
    lengths = np.asarray(lengths, np.int64)
    doc_start = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=doc_start[1:])
    total = int(doc_start[-1])
    num_windows = (total - 1) // seq_len if total > seq_len else 0
    if num_windows == 0:
        return _empty(total)
    end = num_windows * seq_len  # stride segments partition [0, end); each window adds token `end_k`
    # Partition [0, end) at every document start and every window start.
    cuts = np.concatenate([doc_start[doc_start < end], np.arange(0, end, seq_len, dtype=np.int64)])
    cuts.sort(kind="stable")  # two sorted runs: a linear merge
    starts = cuts[np.concatenate([[True], cuts[1:] != cuts[:-1]])]
    stops = np.append(starts[1:], end)
    doc = np.searchsorted(doc_start, starts, side="right") - 1
    # The extra (shared) last token of window k is stream position (k+1)*seq_len.
    extra_pos = np.arange(1, num_windows + 1, dtype=np.int64) * seq_len
    extra_doc = np.searchsorted(doc_start, extra_pos, side="right") - 1
    last_piece = np.searchsorted(starts, extra_pos, side="left") - 1  # last piece of each window
    lens = stops - starts
    same_doc = doc[last_piece] == extra_doc
    lens[last_piece[same_doc]] += 1  # extend the run into the shared token
    new_w = np.nonzero(~same_doc)[0]  # otherwise the shared token is a new 1-token piece
    at = last_piece[new_w] + 1
    all_start = np.insert(starts, at, extra_pos[new_w])
    all_len = np.insert(lens, at, 1)
    all_doc = np.insert(doc, at, extra_doc[new_w])
    all_win = np.insert(starts // seq_len, at, new_w.astype(np.int64))
    ptr = np.searchsorted(all_win, np.arange(num_windows + 1), side="left").astype(np.int64)
    last, first = all_doc[ptr[1:-1] - 1], all_doc[ptr[1:-1]]
    split = len(np.unique(last[last == first]))
    return Packed(
        doc=all_doc,
        offset=all_start - doc_start[all_doc],
        length=all_len,
        ptr=ptr,
        dropped_tokens=total - end - 1,
        split_docs=split,
    )


def split_long_documents(lengths: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut documents into pieces of at most ``seq_len + 1`` tokens sharing one token at each cut.

    Returns ``(doc, offset, length)`` per piece; one-token documents yield no piece.
    """
    lengths = np.asarray(lengths, np.int64)
    count = np.where(lengths >= 2, -(-(lengths - 1) // seq_len), 0)
    doc = np.repeat(np.arange(len(lengths), dtype=np.int64), count)
    first = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(count, out=first[1:])
    j = np.arange(len(doc), dtype=np.int64) - first[doc]
    offset = j * seq_len
    length = np.minimum(seq_len + 1, lengths[doc] - offset)
    return doc, offset, length


def best_fit_decreasing(sizes: np.ndarray, capacity: int) -> np.ndarray:
    """Bin id of every item, by best-fit decreasing; bins are numbered in order of opening."""
    sizes = np.asarray(sizes, np.int64)
    n = len(sizes)
    if n == 0:
        return np.zeros(0, np.int64)
    if sizes.min() < 1 or sizes.max() > capacity:
        raise ValueError(f"item sizes must lie in [1, {capacity}]")
    order = np.lexsort((np.arange(n), -sizes))
    sorted_sizes = sizes[order]
    bounds = np.flatnonzero(np.diff(sorted_sizes)) + 1
    group_start = np.concatenate([[0], bounds]).tolist()
    group_size = sorted_sizes[np.concatenate([[0], bounds])].tolist()
    group_count = np.diff(np.concatenate([[0], bounds, [n]])).tolist()
    rooms: list[list[int]] = [[] for _ in range(capacity + 1)]  # open bins by remaining room
    mask = 0  # bit r set <=> rooms[r] non-empty (r >= 1)
    bin_of = np.empty(n, np.int64)
    num_bins = 0

    def put(bins: list[int] | range, room_after_full: int, last_items: int, k: int, s: int, r: int) -> None:
        nonlocal mask
        full = bins if last_items == k else bins[:-1]
        if room_after_full > 0 and len(full):
            rooms[room_after_full].extend(full)
            mask |= 1 << room_after_full
        if last_items != k:
            last_room = r - last_items * s
            if last_room > 0:
                rooms[last_room].append(bins[-1])
                mask |= 1 << last_room

    for pos, s, c in zip(group_start, group_size, group_count):
        while c > 0:
            m = mask >> s
            if m:
                r = s + (m & -m).bit_length() - 1
                k = r // s
                lst = rooms[r]
                take = min(len(lst), -(-c // k))
                bins = lst[len(lst) - take :]
                del lst[len(lst) - take :]
                if not lst:
                    mask &= ~(1 << r)
            else:
                r = capacity
                k = capacity // s
                take = -(-c // k)
                bins = range(num_bins, num_bins + take)
                num_bins += take
            placed = min(c, take * k)
            bin_of[order[pos : pos + placed]] = np.repeat(np.asarray(bins, np.int64), k)[:placed]
            put(bins, r - k * s, placed - (take - 1) * k, k, s, r)
            pos += placed
            c -= placed
    return bin_of


def best_fit(lengths: np.ndarray, seq_len: int) -> Packed:
    """Whole documents packed into rows of ``seq_len + 1`` slots; long documents split first."""
    lengths = np.asarray(lengths, np.int64)
    doc, offset, length = split_long_documents(lengths, seq_len)
    dropped = int(lengths[lengths < 2].sum())
    if len(doc) == 0:
        return _empty(dropped)
    bin_of = best_fit_decreasing(length, seq_len + 1)
    order = np.argsort(bin_of, kind="stable")  # inside a row: document order
    num_bins = int(bin_of.max()) + 1
    ptr = np.zeros(num_bins + 1, np.int64)
    np.cumsum(np.bincount(bin_of, minlength=num_bins), out=ptr[1:])
    split_docs = int(np.count_nonzero(lengths > seq_len + 1))
    return Packed(doc[order], offset[order], length[order], ptr, dropped, split_docs)

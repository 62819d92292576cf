"""Build one micro-batch (numpy arrays) from sample ids: vectorised over all pieces of all rows.

Each row has ``seq_len + 1`` token slots: pieces laid out left to right, padding after.
``input_ids = row[:-1]``, ``targets = row[1:]``. Position ids restart at 0 at the start of
every piece (a document start, or the start of a row for a document continued from the
previous row). The loss mask is 1 where the input and the target are in the same piece:
it is 0 on padding and on the last token of a piece (for a document, its end-of-document
token), whose target would be the first token of an unrelated document. Predicting the
end-of-document token itself is trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SampleIndex:
    """Pieces of every sample, CSR by sample; shard-local token positions."""

    piece_shard: np.ndarray  # int32
    piece_start: np.ndarray  # int64, first token inside the shard's token stream
    piece_len: np.ndarray  # int32/int64
    piece_bpt: np.ndarray  # float32, UTF-8 bytes per token of the piece's document
    sample_ptr: np.ndarray  # int64, num_samples + 1

    @property
    def num_samples(self) -> int:
        return len(self.sample_ptr) - 1


def pieces_of(index: SampleIndex, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Piece ids of the given samples (concatenated) and the row each piece belongs to."""
    valid = samples >= 0
    lo = np.where(valid, index.sample_ptr[np.maximum(samples, 0)], 0)
    hi = np.where(valid, index.sample_ptr[np.maximum(samples, 0) + 1], 0)
    counts = hi - lo
    rows = np.repeat(np.arange(len(samples), dtype=np.int64), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    pieces = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(first - lo, counts)
    return pieces, rows


def build_batch(
    index: SampleIndex,
    samples: np.ndarray,
    seq_len: int,
    tokens_of: Callable[[int], np.ndarray],
    pad_id: int,
) -> dict[str, np.ndarray]:
    """The batch dict of the loader contract for ``samples`` (``-1`` = an all-padding row).

    Tokens are copied piece by piece with slice assignments (a memcpy each, like a raw
    memmap loop); masks and sequence lengths are then derived with whole-array operations.
    """
    samples = np.asarray(samples, np.int64)
    rows_n, width = len(samples), seq_len + 1
    tokens = np.full((rows_n, width), pad_id, np.int64)
    seg = np.full((rows_n, width), -1, np.int32)
    bpt = np.zeros((rows_n, width), np.float32)
    ptr = index.sample_ptr
    shard_cache: dict[int, np.ndarray] = {}
    for r, s in enumerate(samples.tolist()):
        if s < 0:
            continue
        lo, hi = int(ptr[s]), int(ptr[s + 1])
        lens = index.piece_len[lo:hi]
        trow, srow, brow = tokens[r], seg[r], bpt[r]
        off = 0
        for sh, st, n in zip(
            index.piece_shard[lo:hi].tolist(), index.piece_start[lo:hi].tolist(), lens.tolist()
        ):
            src = shard_cache.get(sh)
            if src is None:
                src = shard_cache[sh] = tokens_of(sh)
            trow[off : off + n] = src[st : st + n]
            off += n
        if hi - lo == 1:
            srow[:off] = 0
            brow[:off] = index.piece_bpt[lo]
        else:
            srow[:off] = np.repeat(np.arange(hi - lo, dtype=np.int32), lens)
            brow[:off] = np.repeat(index.piece_bpt[lo:hi], lens)
    # position = distance from the start of the run of equal segment ids (row starts included)
    flat = seg.reshape(-1)
    starts = np.empty(flat.shape, bool)
    starts[0] = True
    np.not_equal(flat[1:], flat[:-1], out=starts[1:])
    starts[::width] = True
    ramp = np.arange(flat.size, dtype=np.int64)
    pos = ramp - np.maximum.accumulate(np.where(starts, ramp, 0))
    pos = pos.reshape(rows_n, width)
    pos[seg < 0] = 0
    seg_in = seg[:, :-1]
    loss_mask = ((seg_in >= 0) & (seg[:, 1:] == seg_in)).astype(np.float32)
    flat_seg = seg_in.reshape(-1)
    change = np.empty(flat_seg.shape, bool)
    change[0] = True
    np.not_equal(flat_seg[1:], flat_seg[:-1], out=change[1:])
    change[::seq_len] = True  # every row starts a new sequence
    cu = np.append(np.flatnonzero(change), flat_seg.size).astype(np.int32)
    return {
        "input_ids": np.ascontiguousarray(tokens[:, :-1]),
        "targets": np.ascontiguousarray(tokens[:, 1:]),
        "position_ids": np.ascontiguousarray(pos[:, :-1]),
        "segment_ids": np.ascontiguousarray(seg_in),
        "cu_seqlens": cu,
        "loss_mask": loss_mask,
        "token_bytes": bpt[:, 1:] * loss_mask,
    }

"""Build one micro-batch (numpy arrays) from sample ids, in two small compiled kernels.

Each row has ``seq_len + 1`` token slots: pieces laid out left to right, padding after.
``input_ids = row[:-1]``, ``targets = row[1:]``. Position ids restart at 0 at the start of
every piece (a document start, or the start of a row for a document continued from the
previous row). The loss mask is 1 where the input and the target are in the same piece:
it is 0 on padding and on the last token of a piece (for a document, its end-of-document
token), whose target would be the first token of an unrelated document. Predicting the
end-of-document token itself is trained.

Why numba: a batch is ~16 k tokens in a few dozen pieces. With numpy, every output needs
several whole-batch passes plus a dozen small calls per piece array; that measured
~150 us per 8 x 2048 batch, 4x a raw memmap slicing loop. The kernels below make one
pass per output and copy each run of contiguous tokens once, so a batch costs roughly
what copying its tokens costs (``python -m bench.bench_loader``). They are compiled on
first use and cached on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
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


@numba.njit(cache=True, nogil=True)
def _layout(sample_ptr, piece_shard, piece_start, piece_len, piece_bpt, samples, seq_len, pad_id):
    """Per-token annotations of the input columns, cu_seqlens and the token runs to copy.

    A run is a stretch of one row whose tokens are contiguous in one shard: consecutive
    pieces of a row that continue each other (the rule in concat mode) form one run.
    ``input_ids``/``targets`` come back with only their padding filled; ``_copy_runs``
    writes the tokens.
    """
    rows = len(samples)
    n_pieces = 0
    for r in range(rows):
        if samples[r] >= 0:
            n_pieces += sample_ptr[samples[r] + 1] - sample_ptr[samples[r]]
    segment_ids = np.empty(rows * seq_len, np.int32)
    position_ids = np.empty(rows * seq_len, np.int64)
    loss_mask = np.empty(rows * seq_len, np.float32)
    token_bytes = np.empty(rows * seq_len, np.float32)
    input_ids = np.empty(rows * seq_len, np.int64)
    targets = np.empty(rows * seq_len, np.int64)
    cu = np.empty(n_pieces + rows + 1, np.int32)
    runs = np.empty((5, n_pieces), np.int64)  # shard, source start, row, first slot, length
    run_shard, run_src, run_row, run_col, run_len = runs[0], runs[1], runs[2], runs[3], runs[4]
    n_cu = 0
    n_runs = 0
    for r in range(rows):
        base = r * seq_len
        off = 0  # next free slot of the row's seq_len + 1
        s = samples[r]
        if s >= 0:
            k = 0
            for p in range(sample_ptr[s], sample_ptr[s + 1]):
                n = np.int64(piece_len[p])
                sh = np.int64(piece_shard[p])
                st = np.int64(piece_start[p])
                if k > 0 and run_shard[n_runs - 1] == sh and run_src[n_runs - 1] + run_len[n_runs - 1] == st:
                    run_len[n_runs - 1] += n
                else:
                    run_shard[n_runs] = sh
                    run_src[n_runs] = st
                    run_row[n_runs] = r
                    run_col[n_runs] = off
                    run_len[n_runs] = n
                    n_runs += 1
                if off < seq_len:
                    cu[n_cu] = base + off
                    n_cu += 1
                lo, hi = base + off, base + min(off + n, seq_len)
                if hi > lo:  # one slice per output: single-array loops vectorise
                    segment_ids[lo:hi] = k
                    loss_mask[lo:hi] = 1.0
                    token_bytes[lo:hi] = piece_bpt[p]
                    pos = position_ids[lo:hi]
                    for c in range(hi - lo):
                        pos[c] = c
                last = off + n - 1  # its target would be another document's first token
                if last < seq_len:
                    loss_mask[base + last] = 0.0
                    token_bytes[base + last] = 0.0
                off += n
                k += 1  # noqa: SIM113 (numba: a plain counter)
        if off < seq_len:  # padding
            cu[n_cu] = base + off
            n_cu += 1
            lo, hi = base + off, base + seq_len
            segment_ids[lo:hi] = -1
            position_ids[lo:hi] = 0
            loss_mask[lo:hi] = 0.0
            token_bytes[lo:hi] = 0.0
            input_ids[lo:hi] = pad_id
        if off <= seq_len:  # the targets are row slots 1..seq_len
            targets[base + max(off, 1) - 1 : base + seq_len] = pad_id
    cu[n_cu] = rows * seq_len
    n_cu += 1
    return (
        input_ids,
        targets,
        segment_ids,
        position_ids,
        loss_mask,
        token_bytes,
        cu[:n_cu].copy(),
        runs[:, :n_runs],
    )


@numba.njit(cache=True, nogil=True)
def _copy_runs(src, shard, runs, seq_len, input_ids, targets, last):
    """Copy the runs of ``shard`` (its token array ``src``) into the inputs (row slots
    ``[0, seq_len)``) and the last target of a row (slot ``seq_len``). After the last
    shard, the other targets are the inputs shifted by one."""
    run_shard, run_src, run_row, run_col, run_len = runs[0], runs[1], runs[2], runs[3], runs[4]
    for i in range(len(run_shard)):
        if run_shard[i] != shard:
            continue
        s0, c0, n, base = run_src[i], run_col[i], run_len[i], run_row[i] * seq_len
        m = min(c0 + n, seq_len) - c0
        # loops over slices indexed from 0: no negative-index checks, so LLVM vectorises them
        dst, from_ = input_ids[base + c0 : base + c0 + m], src[s0 : s0 + m]
        for j in range(m):
            dst[j] = from_[j]
        if c0 + n > seq_len:
            targets[base + seq_len - 1] = src[s0 + seq_len - c0]
    if last:
        for base in range(0, len(input_ids), seq_len):
            dst, from_ = targets[base : base + seq_len - 1], input_ids[base + 1 : base + seq_len]
            for c in range(seq_len - 1):
                dst[c] = from_[c]


def shards_of(index: SampleIndex, samples: np.ndarray) -> list[int]:
    """Distinct shards that hold pieces of ``samples`` (``-1`` rows ignored): what to prefetch."""
    samples = np.asarray(samples, np.int64)
    samples = samples[samples >= 0]
    lo = index.sample_ptr[samples]
    counts = index.sample_ptr[samples + 1] - lo
    starts = np.cumsum(counts) - counts
    pieces = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(lo - starts, counts)
    return np.unique(index.piece_shard[pieces]).tolist()


def build_batch(
    index: SampleIndex,
    samples: np.ndarray,
    seq_len: int,
    tokens_of: Callable[[int], np.ndarray],
    pad_id: int,
) -> dict[str, np.ndarray]:
    """The batch dict of the loader contract for ``samples`` (``-1`` = an all-padding row)."""
    samples = np.asarray(samples, np.int64)
    rows = len(samples)
    input_ids, targets, seg, pos, mask, nbytes, cu, runs = _layout(
        index.sample_ptr,
        index.piece_shard,
        index.piece_start,
        index.piece_len,
        index.piece_bpt,
        samples,
        seq_len,
        pad_id,
    )
    shards = sorted(set(runs[0].tolist()))
    for k, sh in enumerate(shards):
        _copy_runs(tokens_of(sh), sh, runs, seq_len, input_ids, targets, k == len(shards) - 1)
    shape = (rows, seq_len)
    return {
        "input_ids": input_ids.reshape(shape),
        "targets": targets.reshape(shape),
        "position_ids": pos.reshape(shape),
        "segment_ids": seg.reshape(shape),
        "cu_seqlens": cu,
        "loss_mask": mask.reshape(shape),
        "token_bytes": nbytes.reshape(shape),
    }

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


def pieces_of(index: SampleIndex, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Piece ids of the given samples (concatenated), the row of each piece and pieces per row."""
    ptr = index.sample_ptr
    if len(samples) and samples.min() >= 0:
        lo = ptr[samples]
        counts = ptr[samples + 1] - lo
    else:
        valid = samples >= 0
        safe = np.where(valid, samples, 0)
        lo = ptr[safe]
        counts = np.where(valid, ptr[safe + 1] - lo, 0)
    rows = np.repeat(np.arange(len(samples), dtype=np.int64), counts)
    ends = np.cumsum(counts)
    pieces = _ramp(int(ends[-1]) if len(ends) else 0) + np.repeat(lo - (ends - counts), counts)
    return pieces, rows, counts


_RAMPS: dict[int, np.ndarray] = {}


def _ramp(n: int) -> np.ndarray:
    """A shared read-only ``arange(n)``: allocating it per batch costs as much as using it."""
    r = _RAMPS.get(n)
    if r is None:
        if len(_RAMPS) > 64:
            _RAMPS.clear()
        r = _RAMPS[n] = np.arange(n, dtype=np.int64)
        r.flags.writeable = False
    return r


def build_batch(
    index: SampleIndex,
    samples: np.ndarray,
    seq_len: int,
    tokens_of: Callable[[int], np.ndarray],
    pad_id: int,
) -> dict[str, np.ndarray]:
    """The batch dict of the loader contract for ``samples`` (``-1`` = an all-padding row).

    A row is a list of *runs*: its pieces, then one padding run (possibly empty). Python
    work is per run of contiguous tokens (one slice each, in the shards' own dtype);
    everything per token is one ``np.repeat`` over the runs for each output, laid out
    directly in the ``seq_len`` input columns (the extra target column only feeds
    ``targets``).
    """
    samples = np.asarray(samples, np.int64)
    rows_n, width = len(samples), seq_len + 1
    pieces, rows, counts = pieces_of(index, samples)
    n_p = len(pieces)
    lens = index.piece_len[pieces].astype(np.int64)
    cum = np.zeros(n_p + 1, np.int64)
    np.cumsum(lens, out=cum[1:])  # tokens before each piece, over the whole batch
    row_end = np.cumsum(counts)  # one past the last piece of each row
    row_first = row_end - counts
    row_tokens = cum[row_end] - cum[row_first]
    piece_off = cum[:-1] - cum[row_first][rows]  # first slot of each piece inside its row
    pad = width - row_tokens

    # Tokens: one slice per run of pieces that continue each other in one shard.
    shard, start = index.piece_shard[pieces], index.piece_start[pieces]
    joins = np.zeros(n_p, bool)
    joins[1:] = (rows[1:] == rows[:-1]) & (shard[1:] == shard[:-1]) & (start[1:] == start[:-1] + lens[:-1])
    first = np.flatnonzero(~joins)
    run_len = np.diff(cum[np.append(first, n_p)])
    sources = {sh: tokens_of(sh) for sh in set(shard[first].tolist())}
    dtype = np.result_type(*(s.dtype for s in sources.values())) if sources else np.int64
    flat = np.full(rows_n * width, pad_id, dtype)
    at = rows[first] * width + piece_off[first]
    for sh, st, a, n in zip(shard[first].tolist(), start[first].tolist(), at.tolist(), run_len.tolist()):
        flat[a : a + n] = sources[sh][st : st + n]
    tokens = flat.reshape(rows_n, width)

    # Runs: row r's pieces, then its padding run. Input-column lengths: the row's last run
    # loses the extra target column.
    at_piece = _ramp(n_p) + rows
    at_pad = row_end + _ramp(rows_n)
    n_runs = n_p + rows_n
    seg_r = np.full(n_runs, -1, np.int32)
    seg_r[at_piece] = _ramp(n_p) - row_first[rows]
    len_r = np.empty(n_runs, np.int64)
    len_r[at_piece], len_r[at_pad] = lens, pad
    len_r[np.where(pad > 0, at_pad, at_pad - 1)] -= 1
    start_r = np.empty(n_runs, np.int64)  # first input column of each run, batch-flat
    start_r[at_piece] = rows * seq_len + piece_off
    start_r[at_pad] = _ramp(rows_n) * seq_len + row_tokens
    bpt_r = np.zeros(n_runs, np.float32)
    bpt_r[at_piece] = index.piece_bpt[pieces]
    real_r = np.zeros(n_runs, np.float32)
    real_r[at_piece] = 1.0

    segment_ids = np.repeat(seg_r, len_r)
    position_ids = _ramp(rows_n * seq_len) - np.repeat(start_r, len_r)
    for r in np.flatnonzero(pad > 2).tolist():  # padding columns sit at position 0
        position_ids[r * seq_len + int(row_tokens[r]) : (r + 1) * seq_len] = 0
    # Loss: each token of a piece predicts the next token of the same piece; padding and a
    # piece's last token (whose target would be another document's first token) do not.
    piece_last = start_r[at_piece] + lens - 1
    piece_last = piece_last[piece_off + lens - 1 < seq_len]
    loss_mask = np.repeat(real_r, len_r)
    loss_mask[piece_last] = 0.0
    token_bytes = np.repeat(bpt_r, len_r)
    token_bytes[piece_last] = 0.0
    cu = np.append(start_r[len_r > 0], rows_n * seq_len).astype(np.int32)
    shape = (rows_n, seq_len)
    return {
        "input_ids": tokens[:, :-1].astype(np.int64),
        "targets": tokens[:, 1:].astype(np.int64),
        "position_ids": position_ids.reshape(shape),
        "segment_ids": segment_ids.reshape(shape),
        "cu_seqlens": cu,
        "loss_mask": loss_mask.reshape(shape),
        "token_bytes": token_bytes.reshape(shape),
    }

"""``PairLoader``: one (source, target) example per row, for ``objective=seq2seq``.

A pairs task dataset (``python -m pipelines.prepare_task --task=pairs``) stores the source
tokens in a shard's ``tokens`` column and the target tokens in its ``target`` column, both
ending with the tokenizer's eos id. The stream is ``TaskLoader``'s (position ``p`` holds
example ``order[p mod N]`` of epoch ``p // N``; micro-step ``u`` is positions
``[u·m·W, (u+1)·m·W)``, rank ``r`` gets slice ``r``; resuming sets ``consumed_samples``),
so a global step is the same examples for any world size, and ``bucket_by_length`` sorts
windows by *source* length.

A batch (``B`` rows; ``S`` ≤ ``seq_len``, ``T`` ≤ ``max_target_len``, the longest row
with ``bucket_by_length``, else exactly those):

| key | shape | meaning |
| --- | --- | --- |
| ``src_ids`` | ``[B, S]`` | source ids, cut to ``seq_len``, padded with ``pad_id`` |
| ``src_lengths`` | ``[B]`` | source tokens kept (a padding row past a finite end: 1) |
| ``tgt_in`` | ``[B, T]`` | ``start_id`` then the target shifted right (teacher forcing input) |
| ``tgt_out`` | ``[B, T]`` | the target, cut to ``max_target_len`` (eos included), ``IGNORE`` (-100) on padding |
| ``tgt_lengths`` | ``[B]`` | target tokens kept (0 for a padding row) |
| ``sample_positions`` | ``[B]`` | each row's global stream position |

A cut source or target loses its tail (and with it the eos); ``stats`` counts how often.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lm_train.data.task import TaskLoader, offsets_of, split_tables, token_column
from schemas import TARGET_COLUMN, Manifest

STATE_FORMAT = "lmforge.pair_loader/1"
IGNORE = -100  # tgt_out on padding: cross_entropy's ignore_index


@dataclass(frozen=True)
class PairExamples:
    """Every example of a split: source and target ids, concatenated with offsets (shards in path order)."""

    src_tokens: np.ndarray
    src_offsets: np.ndarray  # int64, len N + 1
    tgt_tokens: np.ndarray
    tgt_offsets: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        """Source lengths (the loader buckets by them)."""
        return np.diff(self.src_offsets)

    @property
    def target_lengths(self) -> np.ndarray:
        return np.diff(self.tgt_offsets)

    def source(self, i: int) -> np.ndarray:
        return self.src_tokens[self.src_offsets[i] : self.src_offsets[i + 1]]

    def target(self, i: int) -> np.ndarray:
        return self.tgt_tokens[self.tgt_offsets[i] : self.tgt_offsets[i + 1]]

    def __len__(self) -> int:
        return len(self.src_offsets) - 1

    @classmethod
    def from_lists(cls, sources: list[list[int]], targets: list[list[int]] | None = None) -> PairExamples:
        """From id lists (``predict``: no targets, so every target is empty)."""
        targets = targets if targets is not None else [[] for _ in sources]

        def flat(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
            lengths = np.array([len(r) for r in rows], np.int64)
            ids = np.fromiter((t for r in rows for t in r), np.int64, count=int(lengths.sum()))
            return ids, offsets_of(lengths)

        return cls(*flat(sources), *flat(targets))


def read_pairs(manifest: Manifest, split: str, data: str) -> PairExamples:
    """The ``split``'s pairs, checksum-verified; refused when a shard has no ``target`` column."""
    needs = "objective=seq2seq needs a pairs task dataset (python -m pipelines.prepare_task --task=pairs)"
    src, src_len, tgt, tgt_len = [], [], [], []
    for table in split_tables(manifest, split, data, TARGET_COLUMN, needs):
        ids, lengths = token_column(table, "tokens")
        src.append(ids)
        src_len.append(lengths)
        ids, lengths = token_column(table, TARGET_COLUMN)
        tgt.append(ids)
        tgt_len.append(lengths)
    return PairExamples(
        np.concatenate(src),
        offsets_of(np.concatenate(src_len)),
        np.concatenate(tgt),
        offsets_of(np.concatenate(tgt_len)),
    )


def build_pair_rows(
    examples: PairExamples,
    ids: np.ndarray,
    seq_len: int,
    max_target_len: int,
    pad_id: int,
    start_id: int,
    pad_to: tuple[int, int] | None,
) -> dict[str, np.ndarray]:
    """A batch of pairs ``ids`` (-1: a padding row with no target); ``pad_to`` = (source width,
    target width), else the longest row of each side (see the module docstring)."""
    real = ids >= 0
    safe = np.maximum(ids, 0)
    src_len = np.where(real, np.minimum(examples.lengths[safe], seq_len), 1)
    tgt_len = np.where(real, np.minimum(examples.target_lengths[safe], max_target_len), 0)
    src_w, tgt_w = pad_to or (int(src_len.max(initial=1)), max(int(tgt_len.max(initial=1)), 1))
    src_ids = np.full((len(ids), src_w), pad_id, np.int64)
    tgt_out = np.full((len(ids), tgt_w), IGNORE, np.int64)
    for row, (i, n, m) in enumerate(zip(ids.tolist(), src_len.tolist(), tgt_len.tolist())):
        if i >= 0:
            src_ids[row, :n] = examples.source(i)[:n]
            tgt_out[row, :m] = examples.target(i)[:m]
    tgt_in = np.full_like(tgt_out, pad_id)
    tgt_in[:, 0] = start_id
    tgt_in[:, 1:] = np.where(tgt_out[:, :-1] == IGNORE, pad_id, tgt_out[:, :-1])
    return {
        "src_ids": src_ids,
        "src_lengths": src_len.astype(np.int64),
        "tgt_in": tgt_in,
        "tgt_out": tgt_out,
        "tgt_lengths": tgt_len.astype(np.int64),
    }


class PairLoader(TaskLoader):
    """Deterministic, resumable micro-batches of (source, target) pairs for one DDP rank."""

    state_format = STATE_FORMAT
    state_keys = (*TaskLoader.state_keys, "max_target_len", "start_id")

    def __init__(self, data: str, split: str, *, max_target_len: int, start_id: int, **kwargs: Any) -> None:
        self.max_target_len, self.start_id = max_target_len, start_id
        super().__init__(data, split, **kwargs)

    def read(self, data: str) -> PairExamples:
        return read_pairs(self.manifest, self.split, data)

    def rows(self, ids: np.ndarray, pad_to: int | None) -> dict[str, np.ndarray]:
        widths = None if pad_to is None else (self.seq_len, self.max_target_len)
        return build_pair_rows(
            self.examples, ids, self.seq_len, self.max_target_len, self.pad_id, self.start_id, widths
        )

    def stats(self) -> dict[str, Any]:
        n = len(self.examples)
        return {
            "examples": n,
            "source_cut": int((self.examples.lengths > self.seq_len).sum()),
            "target_cut": int((self.examples.target_lengths > self.max_target_len).sum()),
        }

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "max_target_len": self.max_target_len, "start_id": self.start_id}


__all__ = ["IGNORE", "PairExamples", "PairLoader", "build_pair_rows", "read_pairs"]

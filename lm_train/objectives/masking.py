"""Which tokens a masked-LM batch hides, and what it puts in their place (numpy, no torch).

A row's mask is drawn from its own generator, seeded by ``(seed, stream, global sample
position)``: the loader gives every row of the global stream a position that does not
depend on the world size, the micro-batch split or a resume, so neither do the masks. A
sample seen again in a later epoch sits at another position and gets a fresh mask
(dynamic masking); every evaluation reads the validation stream from its start, so its
masks are the same each time and evaluations compare.

Selection is per *unit*: a token, or with whole-word masking a word. English words are
runs of tokens that continue letters or digits without a space or punctuation between
them (read from the tokenizer's byte-level pieces); Chinese text has no spaces, so its
words come from jieba, mapped back onto the tokens by byte offset. A unit is picked with probability ``mask_prob``; each picked token
then becomes the mask token (80 %), a random ordinary token (10 %) or stays (10 %).
Special tokens and padding are never picked.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lmcore.config import in_range

IGNORE = -100  # label of a position that is not predicted (cross_entropy's ignore_index)
TRAIN_STREAM, EVAL_STREAM = 0, 1  # separate generators for the train and validation streams
_UINT64 = (1 << 64) - 1


@dataclass
class MaskingConfig:
    """The masked-LM settings (``objective.mask_prob``, ``objective.whole_word``)."""

    mask_prob: float = 0.15  # fraction of eligible tokens (or words) to predict
    whole_word: bool = False  # pick whole words: every token of a picked word is predicted
    replace_mask: float = 0.8  # of the picked tokens: replaced by the mask token ...
    replace_random: float = 0.1  # ... by a random ordinary token; the rest stay as they are

    def __post_init__(self) -> None:
        in_range(self.mask_prob, "mask_prob", 0.0, 1.0, low_open=True)
        in_range(self.replace_mask, "replace_mask", 0.0, 1.0)
        in_range(self.replace_random, "replace_random", 0.0, 1.0 - self.replace_mask)


@dataclass(frozen=True)
class MaskedRows:
    """The model's input (``input_ids`` with the replacements) and ``labels`` (the original
    token where it is to be predicted, ``IGNORE`` elsewhere), both ``[B, T]`` int64."""

    input_ids: np.ndarray
    labels: np.ndarray


def row_generator(seed: int, stream: int, position: int) -> np.random.Generator:
    """The generator of one row: a pure function of the run's seed, the stream and the row's position."""
    return np.random.default_rng([seed & _UINT64, stream, position])


def eligible_tokens(input_ids: np.ndarray, segment_ids: np.ndarray, special_ids: np.ndarray) -> np.ndarray:
    """``[B, T]`` bool: ordinary tokens of a document (not special, not padding)."""
    return (segment_ids >= 0) & ~np.isin(input_ids, special_ids)


def unit_ids(eligible: np.ndarray, word_start: np.ndarray | None) -> np.ndarray:
    """Per token of one row, the index of its unit (token or word), -1 where not eligible.

    A word is an eligible token flagged as a word start (or following a non-eligible one)
    and the eligible tokens after it up to the next start.
    """
    starts = eligible.copy()
    if word_start is not None:
        prev_eligible = np.concatenate(([False], eligible[:-1]))
        starts &= word_start | ~prev_eligible
    ids = np.cumsum(starts) - 1
    return np.where(eligible, ids, -1)


def mask_row(
    input_ids: np.ndarray,
    eligible: np.ndarray,
    word_start: np.ndarray | None,
    rng: np.random.Generator,
    config: MaskingConfig,
    mask_id: int,
    random_ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One row's ``(input_ids, labels)`` after masking; the draws come from ``rng`` in a fixed order."""
    units = unit_ids(eligible, word_start)
    num_units = int(units.max()) + 1 if units.size else 0
    picked_units = rng.random(num_units) < config.mask_prob
    picked = np.zeros(len(input_ids), bool)
    picked[units >= 0] = picked_units[units[units >= 0]]
    action = rng.random(len(input_ids))  # one draw per slot, so a token's fate is not shifted by others
    replacement = random_ids[rng.integers(0, len(random_ids), len(input_ids))]
    out = input_ids.copy()
    to_mask = picked & (action < config.replace_mask)
    to_random = (
        picked & (action >= config.replace_mask) & (action < config.replace_mask + config.replace_random)
    )
    out[to_mask] = mask_id
    out[to_random] = replacement[to_random]
    labels = np.where(picked, input_ids, IGNORE)
    return out, labels


def mask_rows(
    input_ids: np.ndarray,
    segment_ids: np.ndarray,
    positions: np.ndarray,
    *,
    seed: int,
    stream: int,
    config: MaskingConfig,
    mask_id: int,
    special_ids: np.ndarray,
    vocab_size: int,
    word_start: np.ndarray | None = None,
) -> MaskedRows:
    """Mask every row of a batch; row ``i`` uses the generator of global position ``positions[i]``.

    ``word_start`` (``[B, T]`` bool, whole-word masking only) flags the tokens that begin a word.
    """
    input_ids = np.asarray(input_ids, np.int64)
    eligible = eligible_tokens(input_ids, np.asarray(segment_ids), special_ids)
    random_ids = np.setdiff1d(np.arange(vocab_size, dtype=np.int64), special_ids)
    out = np.empty_like(input_ids)
    labels = np.empty_like(input_ids)
    for i, position in enumerate(np.asarray(positions, np.int64).tolist()):
        starts = None if word_start is None else word_start[i]
        rng = row_generator(seed, stream, position)
        out[i], labels[i] = mask_row(input_ids[i], eligible[i], starts, rng, config, mask_id, random_ids)
    return MaskedRows(out, labels)


# -- word starts ---------------------------------------------------------------------------
_BOUNDARY_BYTES = frozenset((string.whitespace + string.punctuation).encode("ascii"))
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
Segmenter = Callable[[str], list[str]]


def byte_level_alphabet() -> dict[str, int]:
    """Character -> byte of the byte-level BPE alphabet: printable Latin-1 bytes stand for
    themselves, every other byte for the next unused code point from 256 on."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    table = {chr(b): b for b in printable}
    extra = (b for b in range(256) if b not in set(printable))
    table.update({chr(256 + n): b for n, b in enumerate(extra)})
    return table


def piece_bytes(pieces: Sequence[str | None]) -> list[bytes]:
    """The bytes each vocabulary piece stands for (byte-level pieces decoded, others as UTF-8)."""
    alphabet = byte_level_alphabet()
    out = []
    for piece in pieces:
        piece = piece or ""
        if all(ch in alphabet for ch in piece):
            out.append(bytes(alphabet[ch] for ch in piece))
        else:
            out.append(piece.encode("utf-8"))
    return out


@dataclass(frozen=True)
class WordTable:
    """Per vocabulary id: its bytes, and whether it begins / ends inside a word (letter, digit, non-ASCII)."""

    pieces: list[bytes]
    begins_in_word: np.ndarray
    ends_in_word: np.ndarray

    @classmethod
    def from_pieces(cls, pieces: list[bytes]) -> WordTable:
        begins = np.array([bool(p) and p[0] not in _BOUNDARY_BYTES for p in pieces])
        ends = np.array([bool(p) and p[-1] not in _BOUNDARY_BYTES for p in pieces])
        return cls(pieces, begins, ends)


def piece_word_starts(input_ids: np.ndarray, segment_ids: np.ndarray, table: WordTable) -> np.ndarray:
    """``[B, T]`` bool: a token starts a word unless it continues the previous token's word
    (both sides letters/digits, same document)."""
    continues = table.begins_in_word[input_ids[:, 1:]] & table.ends_in_word[input_ids[:, :-1]]
    continues &= segment_ids[:, 1:] == segment_ids[:, :-1]
    return np.concatenate([np.ones((len(input_ids), 1), bool), ~continues], axis=1)


def segmented_word_starts(token_bytes: Sequence[bytes], segment: Segmenter) -> np.ndarray:
    """Per token of one run of one document: does it begin where a word of ``segment(text)``
    begins? A token that starts inside a word continues it, so a word cut across tokens is
    masked whole. Bytes of a character cut at the row start are skipped."""
    data = b"".join(token_bytes)
    offsets = np.cumsum([0, *map(len, token_bytes)])[:-1]
    head = 0
    while head < len(data) and 0x80 <= data[head] < 0xC0:
        head += 1
    words = segment(data[head:].decode("utf-8", "ignore"))
    bounds = head + np.cumsum([0, *(len(w.encode("utf-8")) for w in words)])
    starts = np.isin(offsets, bounds)
    starts[0] = True
    return starts


def word_starts(
    input_ids: np.ndarray, segment_ids: np.ndarray, table: WordTable, segment: Segmenter | None
) -> np.ndarray:
    """``[B, T]`` bool word starts: byte-level piece boundaries, plus jieba's inside Chinese text."""
    starts = piece_word_starts(input_ids, segment_ids, table)
    if segment is None:
        return starts
    for row in range(len(input_ids)):
        changes = np.flatnonzero(np.diff(segment_ids[row])) + 1
        for lo, hi in zip([0, *changes], [*changes, len(input_ids[row])], strict=True):
            if segment_ids[row, lo] < 0:
                continue
            run = [table.pieces[t] for t in input_ids[row, lo:hi].tolist()]
            if _CJK.search(b"".join(run).decode("utf-8", "ignore")):
                starts[row, lo:hi] |= segmented_word_starts(run, segment)
    return starts


def load_segmenter() -> Segmenter:
    """jieba's ``cut`` (``rjieba``, else ``jieba``); a clear error when neither is installed."""
    try:
        import rjieba

        return rjieba.cut
    except ImportError:
        pass
    try:
        import jieba

        return lambda text: list(jieba.cut(text))
    except ImportError:
        raise ImportError(
            "objective.whole_word=true segments Chinese words with jieba, which is not installed: "
            "pip install rjieba (it comes with lmforge's [pipelines] extra) or pip install jieba"
        ) from None


__all__ = [
    "EVAL_STREAM",
    "IGNORE",
    "TRAIN_STREAM",
    "MaskedRows",
    "MaskingConfig",
    "Segmenter",
    "WordTable",
    "byte_level_alphabet",
    "eligible_tokens",
    "load_segmenter",
    "mask_row",
    "mask_rows",
    "piece_bytes",
    "piece_word_starts",
    "row_generator",
    "segmented_word_starts",
    "unit_ids",
    "word_starts",
]

"""The word2vec corpus: document Parquet streamed as word lists, again on every pass gensim makes.

gensim walks ``corpus_iterable`` once to build the vocabulary and once per epoch; each walk
re-reads the Parquet files a record batch at a time (``lmcore.documents``), so memory does
not grow with the corpus. gensim's Cython routines cut a "sentence" at 10,000 words
(``MAX_WORDS_IN_BATCH``), so a longer document is handed over in pieces of at most that
many words (windows do not cross a piece boundary; one in 10,000 positions loses context).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lmcore.documents import iter_texts
from lmcore.hashing import stable_hash64
from lmcore.words import split_words

MAX_PIECE_WORDS = 10_000  # gensim.models.word2vec.MAX_WORDS_IN_BATCH
log = logging.getLogger("lmforge.word2vec")


def stable_word_hash(text: str) -> int:
    """gensim's ``hashfxn``: Python's ``hash`` of a string changes with every process
    (PYTHONHASHSEED), so any vector seeded from it would too."""
    return stable_hash64(text) & 0x7FFFFFFF


@dataclass
class CorpusCounts:
    """What one full pass saw."""

    documents: int = 0
    words: int = 0
    pieces: int = 0


class WordCorpus:
    """A restartable iterable of word lists over document Parquet files (sorted, fixed order)."""

    def __init__(self, files: Sequence[str], max_piece_words: int = MAX_PIECE_WORDS):
        self.files = list(files)
        self.max_piece_words = max_piece_words
        self.counts: CorpusCounts | None = None  # set after the first complete pass

    def __iter__(self) -> Iterator[list[str]]:
        counts = CorpusCounts()
        step = self.max_piece_words
        for path in self.files:
            for texts, langs in iter_texts(path):
                for text, lang in zip(texts, langs, strict=True):
                    words = split_words(text, lang)
                    counts.documents += 1
                    counts.words += len(words)
                    for start in range(0, len(words), step):
                        counts.pieces += 1
                        yield words[start : start + step]
        if self.counts is None:
            self.counts = counts


def fmt_seconds(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def make_epoch_logger(epochs: int, words_per_epoch: int):
    """A gensim callback logging each finished epoch with words/s and the ETA of the rest."""
    from gensim.models.callbacks import CallbackAny2Vec

    class EpochLogger(CallbackAny2Vec):
        def __init__(self) -> None:
            self.epoch = 0
            self.start = time.monotonic()

        def on_train_begin(self, model) -> None:
            self.start = time.monotonic()

        def on_epoch_end(self, model) -> None:
            self.epoch += 1
            elapsed = time.monotonic() - self.start
            rate = self.epoch * words_per_epoch / max(elapsed, 1e-9)
            eta = (epochs - self.epoch) * elapsed / self.epoch
            log.info(
                "epoch %d/%d done: %s words/s, %s elapsed, ETA %s",
                self.epoch,
                epochs,
                f"{rate:,.0f}",
                fmt_seconds(elapsed),
                fmt_seconds(eta),
            )

    return EpochLogger()


__all__ = ["MAX_PIECE_WORDS", "CorpusCounts", "WordCorpus", "make_epoch_logger", "stable_word_hash"]

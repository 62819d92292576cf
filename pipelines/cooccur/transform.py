"""The co-occurrence pipeline's Beam wiring: the logic is in ``pipelines.cooccur.counting``.

::

    row groups ─┬─ CountWords ── CombinePerKey(sum) ── Vocabulary (min count, order) ─┐ (side input)
                └─ Pairs (one numpy block per row group and part) ◄─────────────────────┘
                     ── CombinePerKey(MergeBlocks) ── WritePart ─┐
    vocab.tsv, counts ───────────────────────────────────────────┴─ Manifest (last)

The corpus is read twice (row group by row group), never held: what crosses the shuffle
is word counts (pass 1) and summed numpy blocks keyed by part (pass 2), one element per
row group and part, never one per word pair; a part's blocks are summed by a CombineFn
(Beam sums inside each bundle before the shuffle, too).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from lmcore import storage
from lmcore.documents import iter_texts
from pipelines.cooccur import counting
from pipelines.cooccur.counting import Block
from pipelines.stage.progress import RateLogger
from schemas.cooccurrence import (
    COOCCURRENCE_MANIFEST_FILENAME,
    VOCAB_FILENAME,
    CooccurrenceManifest,
    cooccurrence_table,
    part_filename,
    table_to_bytes,
    vocab_to_tsv,
)

# An element: (file path, row group index, its approximate compressed bytes, its rows).
Unit = tuple[str, int, int, int]
Vocab = tuple[list[str], list[int]]
NAMESPACE = "lmforge.cooccur"


class CountWordsFn(beam.DoFn):
    """A row group -> (word, count) pairs; its document and word counts on the "stats" output."""

    def __init__(self, total_bytes: int | None):
        self.total_bytes = total_bytes

    def setup(self) -> None:
        self.progress = RateLogger("cooccur vocabulary (pass 1 of 2)", total_bytes=self.total_bytes)
        self.docs_counter = beam.metrics.Metrics.counter(NAMESPACE, "pass1_documents")

    def process(self, unit: Unit) -> Iterator[Any]:
        path, row_group, nbytes, rows = unit
        docs = words = 0
        counts: dict[str, int] = {}
        for texts, langs in iter_texts(path, [row_group]):
            batch, n_docs, n_words = counting.count_words(texts, langs)
            for w, c in batch.items():
                counts[w] = counts.get(w, 0) + c
            docs += n_docs
            words += n_words
            self.progress.update(n_docs, nbytes * n_docs // max(rows, 1))
        self.docs_counter.inc(docs)
        yield from counts.items()
        yield beam.pvalue.TaggedOutput("stats", (docs, words))


class PairsFn(beam.DoFn):
    """A row group -> (part, block) pairs: its co-occurrences summed, split by part."""

    def __init__(self, window: int, num_parts: int, total_bytes: int | None):
        self.window = window
        self.num_parts = num_parts
        self.total_bytes = total_bytes

    def setup(self) -> None:
        self.scale = counting.weight_scale(self.window)
        self.progress = RateLogger("cooccur pairs (pass 2 of 2)", total_bytes=self.total_bytes)
        self._vocab: Any = None
        self._index: dict[str, int] = {}

    def _index_of(self, vocab: Vocab) -> dict[str, int]:
        if vocab is not self._vocab:  # a side input is the same object for a whole bundle
            self._vocab = vocab
            self._index = {w: i for i, w in enumerate(vocab[0])}
        return self._index

    def process(self, unit: Unit, vocab: Vocab) -> Iterator[tuple[int, Block]]:
        path, row_group, nbytes, rows = unit
        index = self._index_of(vocab)
        builder = counting.BlockBuilder(self.window, self.scale)
        for texts, langs in iter_texts(path, [row_group]):
            for text, lang in zip(texts, langs, strict=True):
                builder.add(counting.document_ids(counting.split_words(text, lang), index))
                if builder.full:  # bounded memory on a huge row group: hand on what is summed
                    yield from counting.split_by_part(builder.take(), self.num_parts)
            self.progress.update(len(texts), nbytes * len(texts) // max(rows, 1))
        yield from counting.split_by_part(builder.take(), self.num_parts)


class MergeBlocks(beam.CombineFn):
    """Sums a part's blocks: a list of blocks, folded into one whenever it grows past a limit."""

    def __init__(self, fold_rows: int = counting.COMPACT_ROWS):
        self.fold_rows = fold_rows

    def create_accumulator(self) -> list[Block]:
        return []

    def _maybe_fold(self, acc: list[Block]) -> list[Block]:
        if len(acc) > 1 and sum(len(b[0]) for b in acc) >= self.fold_rows:
            return [counting.merge_blocks(acc)]
        return acc

    def add_input(self, acc: list[Block], block: Block) -> list[Block]:
        acc.append(block)
        return self._maybe_fold(acc)

    def merge_accumulators(self, accs: Any) -> list[Block]:
        out: list[Block] = []
        for acc in accs:
            out.extend(acc)
            out = self._maybe_fold(out)
        return out

    def compact(self, acc: list[Block]) -> list[Block]:
        return [counting.merge_blocks(acc)] if len(acc) > 1 else acc

    def extract_output(self, acc: list[Block]) -> Block:
        return counting.merge_blocks(acc)


def vocabulary(word_counts: list[tuple[str, int]], min_count: int, max_vocab: int | None) -> Vocab:
    return counting.select_vocabulary(word_counts, min_count, max_vocab)


def write_part(item: tuple[int, Block], output: str, num_parts: int, scale: int) -> dict[str, Any]:
    """One part file, written atomically; what the manifest says of it."""
    index, block = item
    i, j, x = counting.block_columns(block, scale)
    name = part_filename(index, num_parts)
    storage.atomic_write_bytes(storage.join(output, name), table_to_bytes(cooccurrence_table(i, j, x)))
    return {"index": index, "path": name, "rows": len(i), "weight": int(block[1].sum()) if len(i) else 0}


def write_vocab(vocab: Vocab, output: str) -> dict[str, int]:
    words, counts = vocab
    storage.atomic_write_text(storage.join(output, VOCAB_FILENAME), vocab_to_tsv(words, counts))
    return {"vocab_size": len(words), "vocab_tokens": int(sum(counts))}


def write_manifest(
    grouped: tuple[Any, list[tuple[str, Any]]], output: str, settings: dict[str, Any], scale: int
) -> str:
    """Written last, from every part's result, the vocabulary's and the corpus counts."""
    _, items = grouped
    parts = sorted((v for kind, v in items if kind == "part"), key=lambda p: p["index"])
    (vocab,) = [v for kind, v in items if kind == "vocab"]
    stats = [v for kind, v in items if kind == "stats"]
    docs, tokens = (sum(s[0] for s in stats), sum(s[1] for s in stats)) if stats else (0, 0)
    manifest = CooccurrenceManifest(
        window=settings["window"],
        min_count=settings["min_count"],
        max_vocab=settings["max_vocab"],
        vocab_size=vocab["vocab_size"],
        documents=docs,
        tokens=tokens,
        vocab_tokens=vocab["vocab_tokens"],
        nonzeros=sum(p["rows"] for p in parts),
        total_weight=sum(p["weight"] for p in parts) / scale,
        parts=[{"path": p["path"], "rows": p["rows"]} for p in parts],
    )
    path = storage.join(output, COOCCURRENCE_MANIFEST_FILENAME)
    storage.atomic_write_text(path, manifest.to_json())
    return path


class CountCooccurrences(beam.PTransform):
    """Row groups -> ``output/{part-*.arrow, vocab.tsv, manifest.json}``; returns the manifest path."""

    def __init__(
        self,
        output: str,
        window: int,
        min_count: int,
        max_vocab: int | None,
        num_parts: int,
        total_bytes: int | None = None,
    ):
        super().__init__()
        self.output = output
        self.window = window
        self.min_count = min_count
        self.max_vocab = max_vocab
        self.num_parts = num_parts
        self.total_bytes = total_bytes

    def expand(self, units: beam.PCollection) -> beam.PCollection:
        out, n, scale = self.output, self.num_parts, counting.weight_scale(self.window)
        settings = {"window": self.window, "min_count": self.min_count, "max_vocab": self.max_vocab}
        units = units | "Spread" >> beam.Reshuffle()
        pass1 = units | "CountWords" >> beam.ParDo(CountWordsFn(self.total_bytes)).with_outputs(
            "stats", main="counts"
        )
        vocab = (
            pass1.counts
            | "SumWords" >> beam.CombinePerKey(sum)
            | "Frequent"
            >> beam.Filter(lambda wc, m: wc[1] >= m, self.min_count)  # rare words stay out of memory
            | "AllWords" >> beam.combiners.ToList()
            | "Vocabulary" >> beam.Map(vocabulary, self.min_count, self.max_vocab)
        )
        blocks = units | "Pairs" >> beam.ParDo(
            PairsFn(self.window, n, self.total_bytes), beam.pvalue.AsSingleton(vocab)
        )
        every_part = (
            units.pipeline
            | "PartIds" >> beam.Create(list(range(n)))
            | "EmptyParts" >> beam.Map(lambda b: (b, counting.empty_block()))
        )
        parts = (
            (blocks, every_part)
            | "WithEveryPart" >> beam.Flatten()
            | "SumParts" >> beam.CombinePerKey(MergeBlocks())
            | "WritePart" >> beam.Map(write_part, out, n, scale)
        )
        vocab_info = vocab | "WriteVocab" >> beam.Map(write_vocab, out)
        stats = pass1.stats
        tagged = (
            parts | "TagParts" >> beam.Map(lambda p: ("all", ("part", p))),
            vocab_info | "TagVocab" >> beam.Map(lambda v: ("all", ("vocab", v))),
            stats | "TagStats" >> beam.Map(lambda s: ("all", ("stats", s))),
        )
        return (
            tagged
            | "Gather" >> beam.Flatten()
            | "AfterAll" >> beam.GroupByKey()
            | "WriteManifest" >> beam.Map(write_manifest, out, settings, scale)
        )


__all__ = ["CountCooccurrences", "MergeBlocks"]

"""Boilerplate lines on the surviving documents: find the frequent lines, remove all but one copy.

Runs after duplicates are removed: removing lines shared by many documents first would
strip them from all but one member of each near-duplicate cluster (the ones that share a
site's header and footer), and the mutilated copies would no longer match. Only line
hashes are shuffled; the frequent lines reach the documents as a side input.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from lmcore import layout, storage
from pipelines.dedup.boilerplate import doc_uid, frequent_lines, remove_boilerplate
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.filter import utf8_len
from pipelines.dedup.records import FrequentLines, KeptLine
from pipelines.io.packing import unpack
from pipelines.stage.accounting import DOCS, DROPPED, dropped_record
from pipelines.stage.counting import COUNTS, emit_counts

Doc = dict[str, Any]
LINES = "lines"  # BoilerplateFn's tagged output: the kept copies of boilerplate lines (KeptLine)
REPORT_FILE = layout.BOILERPLATE_FILENAME
TOP_LINES = 100


def keeper_table(frequent: list[FrequentLines]) -> dict[int, tuple[int, int]]:
    """line hash -> (keeper uid, document count), over every shard's frequent lines."""
    return {
        int(h): (int(u), int(c))
        for part in frequent
        for h, u, c in zip(part.line, part.keeper, part.documents, strict=True)
    }


class BoilerplateFn(beam.DoFn):
    """Remove boilerplate lines (all but the keeper's copy); drop documents then too short."""

    def __init__(self, config: DedupConfig, stage: str):
        self.config = config
        self.stage = stage

    def setup(self) -> None:
        self._source: Any = None
        self._keepers: dict[int, tuple[int, int]] = {}

    def process(self, chunk: tuple[str, bytes | list[Doc]], frequent: list[FrequentLines]) -> Iterator[Any]:
        if frequent is not self._source:
            self._source, self._keepers = frequent, keeper_table(frequent)
        key, docs = chunk[0], unpack(chunk[1])
        if not self._keepers:  # no boilerplate anywhere: nothing to change in any chunk
            yield key, docs
            return
        kept: list[Doc] = []
        counts: Counter = Counter()
        cfg = self.config
        for doc in docs:
            text, n_lines, kept_lines = remove_boilerplate(
                doc["text"],
                doc_uid(doc["id"]),
                self._keepers,
                cfg.boilerplate_min_chars,
                cfg.boilerplate_scope,
            )
            for line in kept_lines:
                yield pvalue.TaggedOutput(LINES, line)
            if n_lines and len(text) < cfg.min_chars_after_boilerplate:
                counts["dropped/too_short_after_boilerplate"] += 1
                counts["bytes_dedup_dropped/too_short_after_boilerplate"] += utf8_len(doc["text"])
                yield pvalue.TaggedOutput(
                    DROPPED, dropped_record(self.stage, doc, "too_short_after_boilerplate")
                )
                continue
            if n_lines:
                counts["boilerplate/lines_removed"] += n_lines
                counts["boilerplate/documents_changed"] += 1
                counts["bytes_dedup_removed/boilerplate"] += utf8_len(doc["text"]) - utf8_len(text)
            kept.append({**doc, "text": text} if n_lines else doc)
        yield from emit_counts(self.stage, counts)
        if kept:
            yield key, kept


def remove_boilerplate_lines(
    survivors: beam.PCollection,
    line_batches: beam.PCollection,
    cfg: DedupConfig,
    stage: str,
    report_dir: str | None,
) -> beam.pvalue.DoOutputsTuple:
    """Applies the boilerplate steps (labels at the caller's level); outputs ``DOCS``, ``COUNTS``,
    ``DROPPED``, ``LINES``. With ``report_dir`` the most frequent removed lines go to
    ``REPORT_FILE`` there."""
    frequent = (
        line_batches
        | "GroupLines" >> beam.GroupByKey()
        | "FrequentLines" >> beam.Map(lambda kv: frequent_lines(list(kv[1]), cfg.boilerplate_min_docs))
    )
    out = survivors | "Boilerplate" >> beam.ParDo(
        BoilerplateFn(cfg, stage), pvalue.AsList(frequent)
    ).with_outputs(COUNTS, DROPPED, LINES, main=DOCS)
    if report_dir:
        _ = (
            out[LINES]
            | "TopLines" >> beam.combiners.Top.Of(TOP_LINES)
            | "WriteTopLines" >> beam.Map(write_top_lines, storage.join(report_dir, REPORT_FILE))
        )
    return out


def write_top_lines(top: list[KeptLine], path: str) -> None:
    """``dedup_boilerplate.json``: the lines by document count (most first), then text."""
    ranked = sorted(top, key=lambda kl: (-kl.documents, kl.line))
    lines = [{"line": kl.line, "documents": kl.documents} for kl in ranked]
    storage.atomic_write_text(path, json.dumps(lines, ensure_ascii=False, indent=1) + "\n")

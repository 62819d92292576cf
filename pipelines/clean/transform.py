"""``CleanDocuments``: the clean stage in Beam (the work itself is ``cleaner.Cleaner``).

``CleanChunkFn`` cleans a chunk and emits the surviving chunk, its counts, dropped
records and the kept documents that lost bytes; ``CleanDocuments`` keeps the most gutted
of those for ``clean_losses.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from lmcore import storage
from lmcore.layout import LOSSES_FILENAME
from pipelines.clean.cleaner import Cleaner, Doc, clean_chunk
from pipelines.clean.config import CleanConfig
from pipelines.stage.accounting import DOCS, DROPPED, StageOutputs, dropped_record
from pipelines.stage.counting import COUNTS, emit_counts
from pipelines.stage.progress import RateLogger

LOSSES = "losses"
TOP_LOSSES = 50
NOT_METRICS = ("source_", "bytes_")  # annotations in stats.json, not live counters


class CleanChunkFn(beam.DoFn):
    def __init__(self, config: CleanConfig, stage: str):
        self.config = config
        self.stage = stage

    def setup(self) -> None:
        from pipelines.clean.langid import identifier

        identifier()  # load the language model once per worker, not per element
        self.cleaner = Cleaner(self.config)
        self.progress = RateLogger(f"{self.stage}: cleaning")

    def process(self, chunk: tuple[str, list[Doc]]) -> Iterator[Any]:
        key, docs = chunk
        losses: list[tuple] = []
        kept, dropped, counts = clean_chunk(docs, self.cleaner, losses)
        for doc, reason, scores in dropped:
            yield beam.pvalue.TaggedOutput(DROPPED, self._dropped(doc, reason, scores))
        for loss in losses:
            yield beam.pvalue.TaggedOutput(LOSSES, loss)
        self.progress.update(len(docs), sum(len(d["text"]) for d in docs))
        yield from emit_counts(self.stage, counts, metric_skip=NOT_METRICS)
        if kept:
            yield key, kept

    def _dropped(self, doc: Doc, reason: str, scores: dict) -> dict:
        """The dropped record: the document, why, and the measures taken before the drop."""
        extra = {"quality": scores} if scores and self.config.keep_scores else {}
        if scores.get("lang") and not doc.get("lang"):
            extra["lang"] = scores["lang"]
        return dropped_record(self.stage, doc, reason, **extra)


class CleanDocuments(beam.PTransform):
    """Chunks -> ``StageOutputs`` of cleaned chunks, drop counts (+ ``pii/*`` counts) and dropped records.

    ``report_dir``: where ``clean_losses.json`` goes -- the kept documents that lost the
    largest share of their text to the rules, with the bytes each rule took.
    """

    def __init__(
        self, config: CleanConfig | None = None, stage: str = "clean", report_dir: str | None = None
    ):
        super().__init__()
        self.config = config or CleanConfig()
        self.stage = stage
        self.report_dir = report_dir

    def expand(self, chunks: beam.PCollection) -> StageOutputs:
        out = chunks | "Clean" >> beam.ParDo(CleanChunkFn(self.config, self.stage)).with_outputs(
            COUNTS, DROPPED, LOSSES, main=DOCS
        )
        if self.report_dir:
            _ = (
                out[LOSSES]
                | "TopLosses" >> beam.combiners.Top.Of(TOP_LOSSES, key=lambda r: (r[0], r[1]))
                | "WriteLosses" >> beam.Map(write_losses, storage.join(self.report_dir, LOSSES_FILENAME))
            )
        quarantine = chunks.pipeline | "NoQuarantine" >> beam.Create([])
        return StageOutputs(out[DOCS], out[COUNTS], out[DROPPED], quarantine)


def write_losses(top: list[tuple], path: str) -> None:
    rows = [details for _, _, details in sorted(top, key=lambda r: (-r[0], r[1]))]
    storage.atomic_write_text(path, json.dumps(rows, ensure_ascii=False, indent=1) + "\n")

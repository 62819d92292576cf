"""Writing what a stage leaves behind: documents, quarantine, dropped records, ``stats.json``.

Every document stage (``clean``, ``dedup``) ends the same way, so the wiring lives here
once. The tokenize stage writes shards instead of documents and calls
``WriteAccounting`` with its own ``kept`` counts.

Convention for counts: the reader counts ``input`` (and ``quarantined/*``), filters count
``dropped/*``, dedup counts ``duplicates/*``, and whoever *writes* the final documents
counts ``kept``. Summed, they balance: input = kept + dropped + duplicates + quarantined.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import apache_beam as beam

from lmcore import storage
from lmcore.layout import DROPPED_DIR, QUARANTINE_DIR
from pipelines.io.documents import WriteDocuments
from pipelines.stage.accounting import StageOutputs, WriteStats
from pipelines.stage.jsonl import WriteJsonl


def quarantine_key(rec: Mapping[str, Any]) -> str:
    return f"{rec.get('path')}#{rec.get('offset')}#{rec.get('reason')}"


def dropped_key(rec: Mapping[str, Any]) -> str:
    return f"{rec.get('stage')}#{rec.get('id')}"


class WriteAccounting(beam.PTransform):
    """counts/quarantine/dropped of a stage -> quarantine files, dropped files, ``stats.json``.

    ``after`` lists PCollections that must be complete before ``stats.json`` is written
    (the document or shard writers), so a ``stats.json`` never describes missing files.
    Returns the stats document as a one-element PCollection.
    """

    def __init__(
        self,
        output_dir: str,
        stage: str,
        keep_dropped: bool = False,
        after: list[beam.PCollection] | None = None,
        extra: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        self.output_dir = output_dir
        self.stage = stage
        self.keep_dropped = keep_dropped
        self.after = list(after or [])
        self.extra = dict(extra or {})

    def expand(self, outputs: StageOutputs) -> beam.PCollection:
        out = self.output_dir
        waits = list(self.after)
        waits.append(
            outputs.quarantine
            | "WriteQuarantine"
            >> WriteJsonl(storage.join(out, QUARANTINE_DIR, "quarantine"), 1, quarantine_key)
        )
        if self.keep_dropped:
            waits.append(
                outputs.dropped
                | "WriteDropped" >> WriteJsonl(storage.join(out, DROPPED_DIR, "dropped"), 4, dropped_key)
            )
        return outputs.counts | "WriteStats" >> WriteStats(out, self.stage, after=waits, extra=self.extra)


class WriteStageOutputs(beam.PTransform):
    """A document stage's ``StageOutputs`` -> ``OUT/documents/*.parquet`` + accounting files.

    Counts ``kept`` from what was actually written.
    """

    def __init__(
        self,
        output_dir: str,
        stage: str,
        keep_dropped: bool = False,
        target_file_bytes: int = 64 * 1024 * 1024,
        extra: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        self.output_dir = output_dir
        self.stage = stage
        self.keep_dropped = keep_dropped
        self.target_file_bytes = target_file_bytes
        self.extra = extra

    def expand(self, outputs: StageOutputs) -> beam.PCollection:
        written = outputs.docs | "WriteDocuments" >> WriteDocuments(self.output_dir, self.target_file_bytes)
        kept = written | "CountKept" >> beam.Map(lambda path_n: {"kept": path_n[1]})
        counts = (outputs.counts, kept) | "AllCounts" >> beam.Flatten()
        return StageOutputs(
            outputs.docs, counts, outputs.dropped, outputs.quarantine
        ) | "Accounting" >> WriteAccounting(
            self.output_dir, self.stage, self.keep_dropped, after=[written], extra=self.extra
        )

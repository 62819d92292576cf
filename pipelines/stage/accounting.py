"""Accounting inside Beam: every document ends kept, dropped, duplicate or quarantined.

Counts are *data*, not only metrics: each step emits flat count dicts on its
``counts`` output; they are summed with ``SumCounts`` and written to ``stats.json``,
so the numbers are exact on every runner. Steps also bump ``beam.metrics`` counters
for live monitoring (Dataflow/Flink UIs), but nothing relies on those: one call,
``counting.emit_counts``, does both.

Record formats written next to the outputs:
  * quarantine: ``{"stage", "path", "offset", "reason", "error", "sample"}``
  * dropped (``--keep-dropped``): the document plus ``{"stage", "reason"}`` and, for
    duplicates, ``"duplicate_of"``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import apache_beam as beam

from lmcore import storage
from lmcore.clock import utc_now_iso
from lmcore.layout import STATS_FILENAME
from schemas import Counts

# Tagged-output names shared by every stage (``COUNTS`` lives with the counting helper).
DOCS = "docs"
DROPPED = "dropped"
QUARANTINE = "quarantine"

SAMPLE_CHARS = 200

__all__ = [
    "DOCS", "DROPPED", "QUARANTINE", "StageOutputs", "SumCounts", "WriteStats",
    "chain", "dropped_record", "empty_outputs", "quarantine_record", "stats_document",
]  # fmt: skip


class StageOutputs(NamedTuple):
    """What a stage PTransform returns: surviving chunks plus its accounting streams."""

    docs: beam.PCollection  # (chunk_key, list[document dict])
    counts: beam.PCollection  # flat count dicts
    dropped: beam.PCollection  # dropped-document records
    quarantine: beam.PCollection  # quarantine records


def chain(*stages: StageOutputs) -> StageOutputs:
    """Stages applied one after another: the last stage's documents, every stage's accounting.

    Call it once per pipeline (its Flatten labels are fixed).
    """
    return StageOutputs(
        stages[-1].docs,
        tuple(s.counts for s in stages) | "AllCounts" >> beam.Flatten(),
        tuple(s.dropped for s in stages) | "AllDropped" >> beam.Flatten(),
        tuple(s.quarantine for s in stages) | "AllQuarantine" >> beam.Flatten(),
    )


def quarantine_record(
    stage: str, path: str, offset: int | None, reason: str, error: str, sample: Any = None
) -> dict:
    """A quarantine record: enough to find the bad bytes again and to see why they were refused."""
    if isinstance(sample, bytes):
        sample = sample[:SAMPLE_CHARS].decode("utf-8", errors="backslashreplace")
    elif sample is not None:
        sample = storage.text_safe(str(sample)[:SAMPLE_CHARS])
    return {
        "stage": stage,
        "path": storage.text_safe(path) if isinstance(path, str) else path,
        "offset": offset,
        "reason": reason,
        "error": storage.text_safe(error[:1000]),
        "sample": sample,
    }


def dropped_record(stage: str, doc: Mapping[str, Any], reason: str, **extra: Any) -> dict:
    return {**doc, "stage": stage, "reason": reason, **extra}


class SumCounts(beam.CombineFn):
    """Sum flat count dicts; the result is a plain dict (deterministic key order)."""

    def create_accumulator(self) -> Counter:
        return Counter()

    def add_input(self, acc: Counter, element: Mapping[str, int]) -> Counter:
        acc.update(element)
        return acc

    def merge_accumulators(self, accumulators: Iterable[Counter]) -> Counter:
        out: Counter = Counter()
        for acc in accumulators:
            out.update(acc)
        return out

    def extract_output(self, acc: Counter) -> dict[str, int]:
        return dict(sorted(acc.items()))


def stats_document(
    flat: Mapping[str, int], stage: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``stats.json`` payload: nested counts, whether they balance, and stage details."""
    buckets = ("dropped/", "duplicates/", "quarantined/")
    counts = Counts.from_flat(
        {k: v for k, v in flat.items() if k.startswith(buckets) or k in ("input", "kept")}
    )
    # Anything else ("pii/email", "boilerplate/lines_removed", ...) is an annotation, not a bucket.
    annotations: dict[str, dict[str, int]] = {}
    for key, n in flat.items():
        if "/" in key and not key.startswith(buckets):
            group, _, name = key.partition("/")
            annotations.setdefault(group, {})[name] = n
    return {
        "stage": stage,
        "finished_at": utc_now_iso(),
        "counts": counts.to_dict(),
        "balanced": counts.is_balanced(),
        **({"annotations": annotations} if annotations else {}),
        **(dict(extra) if extra else {}),
    }


class WriteStats(beam.PTransform):
    """Sum the counts and write ``OUTPUT/stats.json`` after every ``after`` PCollection is complete."""

    def __init__(
        self,
        output_dir: str,
        stage: str,
        after: list[beam.PCollection] | None = None,
        extra: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        self.output_dir = output_dir
        self.stage = stage
        self.after = after or []
        self.extra = dict(extra or {})

    def expand(self, counts: beam.PCollection) -> beam.PCollection:
        # Completion of each ``after`` collection joins the main input as an empty count dict:
        # the global combine cannot finish before they do. (Side inputs would do the same in
        # theory, but FnApiRunner can stall on many chained side inputs.)
        done = [
            p | f"Done{i}" >> beam.combiners.Count.Globally() | f"Empty{i}" >> beam.Map(lambda _: {})
            for i, p in enumerate(self.after)
        ]
        total = (
            (counts, *done) | "WithDone" >> beam.Flatten() | "SumCounts" >> beam.CombineGlobally(SumCounts())
        )
        path = storage.join(self.output_dir, STATS_FILENAME)
        stage, extra = self.stage, self.extra

        def write(flat: dict[str, int]) -> dict[str, Any]:
            doc = stats_document(flat, stage, extra)
            storage.atomic_write_text(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
            return doc

        return total | "WriteStatsJson" >> beam.Map(write)


def empty_outputs(pipeline: beam.Pipeline, label: str) -> tuple[beam.PCollection, beam.PCollection]:
    """Empty ``dropped`` and ``quarantine`` collections for stages that produce none."""
    return (
        pipeline | f"{label}NoDropped" >> beam.Create([]),
        pipeline | f"{label}NoQuarantine" >> beam.Create([]),
    )

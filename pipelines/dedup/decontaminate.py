"""``Decontaminate``: documents sharing a long n-gram with a task's evaluation texts leave first, in Beam.

The reference n-gram set is built once (one step per reference file, merged by one global
step) and reaches the documents as a side input: a sorted ``uint64`` array, 8 bytes per
distinct reference n-gram (evaluation sets are small next to a crawl). It runs before the
duplicate decision, so a contaminated document never becomes a cluster's representative.
Every contaminated document is one ``dropped/contaminated`` count, one
``contaminated_by/<reference file>`` annotation count, and a dropped record naming the
reference file it matched (``contaminated_by``) and the shared words
(``contaminated_ngram``). The reference set's size is annotated too
(``decontamination/*``). The summary for the report (the documents per reference file, the
first ``TOP_EXAMPLES`` by id with the shared words) goes to ``dedup_contamination.json``
in the report directory.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue

from lmcore import storage
from lmcore.layout import CONTAMINATION_FILENAME
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.contamination import (
    ReferencePart,
    ReferenceSet,
    chunk_ngrams,
    find_matches,
    matched_text,
    merge_parts,
    reference_part,
)
from pipelines.dedup.filter import utf8_len
from pipelines.dedup.references import ReadTally, ReferenceFile, read_texts, resolve
from pipelines.io.packing import unpack
from pipelines.stage.accounting import DOCS, DROPPED, StageOutputs, dropped_record
from pipelines.stage.counting import COUNTS, emit_counts

Doc = dict[str, Any]
REASON = "contaminated"
MATCHES = "matches"  # DecontaminateFn's tagged output: one ContaminatedDoc per dropped document
TOP_EXAMPLES = 50
# stats.json annotation group: contaminated documents per reference file (``contaminated_by/PATH``)
BY_REFERENCE = "contaminated_by"


class ContaminatedDoc(NamedTuple):
    id: str
    source: str
    reference: str
    ngram: str


def read_reference(item: tuple[int, ReferenceFile], n: int) -> ReferencePart:
    """One reference file -> its n-gram part (with the records its reader could not read)."""
    index, ref = item
    tally = ReadTally()
    part = reference_part(index, read_texts(ref, tally), n)
    return dataclasses.replace(part, unreadable=tally.unreadable)


class DecontaminateFn(beam.DoFn):
    """Drop the chunk's documents that share an n-gram with the reference set (side input)."""

    def __init__(self, stage: str, ngram: int):
        self.stage = stage
        self.ngram = ngram

    def process(self, chunk: tuple[str, bytes | list[Doc]], reference: ReferenceSet) -> Iterator[Any]:
        key, docs = chunk[0], unpack(chunk[1])
        matches = find_matches(reference, chunk_ngrams([d["text"] for d in docs], self.ngram))
        if not matches:
            yield key, docs
            return
        counts: Counter = Counter()
        dropped = {m.doc for m in matches}
        for m in matches:
            doc = docs[m.doc]
            ref = reference.files[m.source]
            words = matched_text(doc["text"], m.ngram, self.ngram)
            counts[f"dropped/{REASON}"] += 1
            counts[f"bytes_dedup_dropped/{REASON}"] += utf8_len(doc["text"])
            counts[f"{BY_REFERENCE}/{ref}"] += 1
            yield pvalue.TaggedOutput(
                DROPPED,
                dropped_record(self.stage, doc, REASON, contaminated_by=ref, contaminated_ngram=words),
            )
            yield pvalue.TaggedOutput(
                MATCHES, ContaminatedDoc(doc["id"], doc.get("source") or "", ref, words)
            )
        yield from emit_counts(self.stage, counts, metric_skip=(BY_REFERENCE,))
        kept = [d for i, d in enumerate(docs) if i not in dropped]
        if kept:
            yield key, kept


class SummariseMatches(beam.CombineFn):
    """Contaminated documents per reference file, and the ``TOP_EXAMPLES`` smallest ids (deterministic)."""

    def create_accumulator(self) -> tuple[Counter, list[ContaminatedDoc]]:
        return Counter(), []

    def add_input(self, acc: tuple[Counter, list], m: ContaminatedDoc) -> tuple[Counter, list]:
        acc[0][m.reference] += 1
        acc[1].append(m)
        if len(acc[1]) > 2 * TOP_EXAMPLES:
            acc[1][:] = sorted(acc[1])[:TOP_EXAMPLES]
        return acc

    def merge_accumulators(self, accs: Iterable[tuple[Counter, list]]) -> tuple[Counter, list]:
        per_ref: Counter = Counter()
        examples: list[ContaminatedDoc] = []
        for c, ex in accs:
            per_ref.update(c)
            examples.extend(ex)
        return per_ref, sorted(examples)[:TOP_EXAMPLES]

    def extract_output(self, acc: tuple[Counter, list]) -> dict[str, Any]:
        return {
            "per_reference": dict(acc[0]),
            "examples": [m._asdict() for m in sorted(acc[1])[:TOP_EXAMPLES]],
        }


def summary_document(matches: dict[str, Any], reference: ReferenceSet, ngram: int) -> dict[str, Any]:
    """``dedup_contamination.json``: what was checked, and what it removed."""
    per_ref = matches["per_reference"]
    return {
        "ngram": ngram,
        "reference": {k.partition("/")[2]: v for k, v in reference.stats().items()},
        "contaminated": sum(per_ref.values()),
        "per_reference": [{"reference": f, "documents": per_ref.get(f, 0)} for f in reference.files],
        "examples": matches["examples"],
    }


def write_summary(matches: dict[str, Any], reference: ReferenceSet, ngram: int, path: str) -> None:
    doc = summary_document(matches, reference, ngram)
    storage.atomic_write_text(path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")


class Decontaminate(beam.PTransform):
    """Chunks -> ``StageOutputs`` without the documents that share an n-gram with the references.

    ``config.decontaminate`` is resolved when the pipeline is built, so an entry that
    matches nothing stops the run before any work (``references.ReferenceInputError``).
    """

    def __init__(self, config: DedupConfig, stage: str = "dedup", report_dir: str | None = None):
        super().__init__()
        self.config = config
        self.stage = stage
        self.report_dir = report_dir

    def expand(self, chunks: beam.PCollection) -> StageOutputs:
        cfg, p = self.config, chunks.pipeline
        refs = resolve(list(cfg.decontaminate))
        files = tuple(r.path for r in refs)
        n = cfg.decontaminate_ngram
        reference = (
            p
            | "ReferenceFiles" >> beam.Create(list(enumerate(refs)))
            | "SpreadReferences" >> beam.Reshuffle()
            | "ReferenceNgrams" >> beam.Map(read_reference, n)
            | "AllReferenceNgrams" >> beam.combiners.ToList()
            | "ReferenceSet" >> beam.Map(merge_parts, files)
        )
        out = chunks | "Contaminated" >> beam.ParDo(
            DecontaminateFn(self.stage, n), pvalue.AsSingleton(reference)
        ).with_outputs(COUNTS, DROPPED, MATCHES, main=DOCS)
        ref_counts = reference | "ReferenceCounts" >> beam.Map(ReferenceSet.stats)
        counts = (out[COUNTS], ref_counts) | "DecontaminationCounts" >> beam.Flatten()
        if self.report_dir:
            path = storage.join(self.report_dir, CONTAMINATION_FILENAME)
            _ = (
                out[MATCHES]
                | "SummariseMatches" >> beam.CombineGlobally(SummariseMatches())
                | "WriteContamination" >> beam.Map(write_summary, pvalue.AsSingleton(reference), n, path)
            )
        quarantine = p | "NoReferenceQuarantine" >> beam.Create([])
        return StageOutputs(out[DOCS], counts, out[DROPPED], quarantine)

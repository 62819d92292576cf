"""``CleanDocuments``: HTML extraction, normalisation, language ID, quality filters, PII.

``clean_document`` is the whole stage for one document as a pure function (tested
without Beam); ``CleanChunkFn`` applies it to a chunk and emits surviving chunks,
counts, dropped records and ``beam.metrics`` counters. Order matters and is cheap-first:
extract -> normalise -> length -> language -> C4 line clean-up -> Gopher -> FineWeb -> PII.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import yaml

from pipelines.accounting import COUNTS, DOCS, DROPPED, StageOutputs, bump, dropped_record
from pipelines.clean import quality
from pipelines.clean.config import CleanConfig
from pipelines.clean.html import extract_text
from pipelines.clean.langid import identify
from pipelines.clean.normalize import normalize_text
from pipelines.clean.pii import mask_pii
from pipelines.clean.thresholds import load_thresholds
from pipelines.progress import RateLogger

Doc = dict[str, Any]


def clean_document(doc: Doc, config: CleanConfig, pii_counts: Counter | None = None) -> tuple[Doc | None, str | None]:
    """(cleaned document, None) or (None, drop reason)."""
    text = doc["text"]
    meta = dict(doc.get("meta") or {})
    if str(meta.get("content_type", "")).startswith(("text/html", "application/xhtml")):
        try:
            text = extract_text(text, config.html_extractor)
        except Exception:  # a page the extractor cannot parse is a drop, not a crash
            return None, "html_extraction_failed"
        meta["content_type"] = "text/plain"
        meta["extracted_from"] = "html"
    if config.normalize:
        text = normalize_text(text)
    if not text:
        return None, "empty"
    overrides = yaml.safe_dump(config.thresholds) if config.thresholds else ""
    lang_result = identify(text, config.langid_chars)
    lang = lang_result.lang
    t = load_thresholds(lang, overrides=overrides)
    if len(text) < t.min_chars:
        return None, "too_short"
    if len(text) > t.max_chars:
        return None, "too_long"
    if config.languages and lang not in config.languages:
        return None, "language_not_allowed"
    if lang_result.score < t.min_lang_score:
        return None, "language_score_low"
    if config.c4:
        text, reason = quality.c4_clean(quality.TextView.of(text, lang), t)
        if reason:
            return None, reason
    view = quality.TextView.of(text, lang)
    for enabled, check in (
        (config.gopher_quality, quality.gopher_quality),
        (config.gopher_repetition, quality.gopher_repetition),
        (config.fineweb, quality.fineweb),
    ):
        if enabled and (reason := check(view, t)):
            return None, reason
    if config.pii:
        text, found = mask_pii(text)
        if found:
            meta["pii"] = found
            if pii_counts is not None:
                pii_counts.update(found)
    return {**doc, "text": text, "lang": lang, "lang_score": round(lang_result.score, 4), "meta": meta}, None


class CleanChunkFn(beam.DoFn):
    def __init__(self, config: CleanConfig, stage: str):
        self.config = config
        self.stage = stage

    def setup(self) -> None:
        self.progress = RateLogger(f"{self.stage}: cleaning")

    def process(self, chunk: tuple[str, list[Doc]]) -> Iterator[Any]:
        key, docs = chunk
        kept: list[Doc] = []
        counts: Counter = Counter()
        pii: Counter = Counter()
        for doc in docs:
            cleaned, reason = clean_document(doc, self.config, pii)
            if cleaned is None:
                counts[f"dropped/{reason}"] += 1
                yield beam.pvalue.TaggedOutput(DROPPED, dropped_record(self.stage, doc, reason))
            else:
                kept.append(cleaned)
        counts.update({f"pii/{k}": v for k, v in pii.items()})
        bump(self.stage, counts)
        self.progress.update(len(docs), sum(len(d["text"]) for d in docs))
        if counts:
            yield beam.pvalue.TaggedOutput(COUNTS, dict(counts))
        if kept:
            yield key, kept


class CleanDocuments(beam.PTransform):
    """Chunks -> ``StageOutputs`` of cleaned chunks, drop counts (+ ``pii/*`` counts) and dropped records."""

    def __init__(self, config: CleanConfig | None = None, stage: str = "clean"):
        super().__init__()
        self.config = config or CleanConfig()
        self.stage = stage

    def expand(self, chunks: beam.PCollection) -> StageOutputs:
        out = chunks | "Clean" >> beam.ParDo(CleanChunkFn(self.config, self.stage)).with_outputs(
            COUNTS, DROPPED, main=DOCS
        )
        quarantine = chunks.pipeline | "NoQuarantine" >> beam.Create([])
        return StageOutputs(out[DOCS], out[COUNTS], out[DROPPED], quarantine)


__all__ = ["CleanDocuments", "clean_document"]

"""``CleanDocuments``: HTML extraction, normalisation, language ID, quality filters, PII.

``Cleaner.clean`` is the whole stage for one document as a pure function (tested without
Beam); ``CleanChunkFn`` applies it to a chunk and emits surviving chunks, counts, dropped
records and ``beam.metrics`` counters. Order is cheap-first:
extract -> normalise -> length -> language -> C4 line clean-up -> Gopher -> FineWeb -> PII.

Length limits: texts shorter than ``min_chars`` are dropped (``too_short``), longer than
``max_chars`` are dropped (``too_long``), never truncated: half a document is a worse
training example than none, and the reader already quarantines anything over
``read.max_doc_bytes``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
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
from pipelines.clean.thresholds import Thresholds, load_thresholds
from pipelines.progress import RateLogger

Doc = dict[str, Any]
HTML_TYPES = ("text/html", "application/xhtml")


def is_html(doc: Doc) -> bool:
    return str((doc.get("meta") or {}).get("content_type", "")).startswith(HTML_TYPES)


class Cleaner:
    """Cleans one document at a time; optionally records seconds spent per step (``timings``)."""

    def __init__(self, config: CleanConfig, timings: Counter | None = None):
        self.config = config
        self.overrides = yaml.safe_dump(config.thresholds, sort_keys=True) if config.thresholds else ""
        self.timings = timings

    def thresholds(self, lang: str | None) -> Thresholds:
        return load_thresholds(lang, overrides=self.overrides)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self.timings is None:
            yield
            return
        start = time.thread_time()
        try:
            yield
        finally:
            self.timings[name] += time.thread_time() - start

    def clean(self, doc: Doc, pii_counts: Counter | None = None) -> tuple[Doc | None, str | None]:
        """(cleaned document, None) or (None, drop reason)."""
        config = self.config
        text = doc["text"]
        meta = dict(doc.get("meta") or {})
        if is_html(doc):
            with self.step("html"):
                try:
                    text = extract_text(text, config.html_extractor)
                except Exception:  # a page the extractor cannot parse is a drop, not a crash
                    return None, "html_extraction_failed"
            meta["content_type"] = "text/plain"
            meta["extracted_from"] = "html"
        if config.normalize:
            with self.step("normalize"):
                text = normalize_text(text)
        if not text:
            return None, "empty"
        with self.step("langid"):
            found = identify(text, config.langid_chars)
        lang = found.lang
        t = self.thresholds(lang)
        if len(text) < t.min_chars:
            return None, "too_short"
        if len(text) > t.max_chars:
            return None, "too_long"
        if config.languages and lang not in config.languages:
            return None, "language_not_allowed"
        if found.score < t.min_lang_score:
            return None, "language_score_low"
        if config.c4:
            with self.step("c4"):
                text, reason = quality.c4_clean(text, lang, t)
            if reason:
                return None, reason
        with self.step("segment"):
            view = quality.TextView.of(text, lang, t.attribution_prefixes)
        for name, enabled, check in (
            ("gopher_quality", config.gopher_quality, quality.gopher_quality),
            ("gopher_repetition", config.gopher_repetition, quality.gopher_repetition),
            ("fineweb", config.fineweb, quality.fineweb),
        ):
            if enabled:
                with self.step(name):
                    reason = check(view, t)
                if reason:
                    return None, reason
        if config.pii:
            with self.step("pii"):
                text, masked = mask_pii(text)
            if masked:
                meta["pii"] = masked
                if pii_counts is not None:
                    pii_counts.update(masked)
        return {**doc, "text": text, "lang": lang, "lang_score": round(found.score, 4), "meta": meta}, None


def clean_document(
    doc: Doc, config: CleanConfig, pii_counts: Counter | None = None
) -> tuple[Doc | None, str | None]:
    """(cleaned document, None) or (None, drop reason); see ``Cleaner``."""
    return Cleaner(config).clean(doc, pii_counts)


def clean_chunk(docs: list[Doc], cleaner: Cleaner) -> tuple[list[Doc], list[tuple[Doc, str]], dict[str, int]]:
    """(kept documents, [(dropped document, reason)], counts incl. ``dropped/*`` and ``pii/*``)."""
    kept: list[Doc] = []
    dropped: list[tuple[Doc, str]] = []
    counts: Counter = Counter()
    pii: Counter = Counter()
    for doc in docs:
        cleaned, reason = cleaner.clean(doc, pii)
        if cleaned is None:
            counts[f"dropped/{reason}"] += 1
            dropped.append((doc, reason or "unknown"))
        else:
            kept.append(cleaned)
    counts.update({f"pii/{k}": v for k, v in pii.items()})
    return kept, dropped, dict(counts)


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
        kept, dropped, counts = clean_chunk(docs, self.cleaner)
        for doc, reason in dropped:
            yield beam.pvalue.TaggedOutput(DROPPED, dropped_record(self.stage, doc, reason))
        bump(self.stage, counts)
        self.progress.update(len(docs), sum(len(d["text"]) for d in docs))
        if counts:
            yield beam.pvalue.TaggedOutput(COUNTS, counts)
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


__all__ = ["CleanDocuments", "Cleaner", "clean_chunk", "clean_document"]

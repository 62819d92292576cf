"""``CleanDocuments``: HTML extraction, normalisation, language ID, quality filters, PII.

``Cleaner.clean`` is the whole stage for one document as a pure function (tested without
Beam); ``CleanChunkFn`` applies it to a chunk and emits surviving chunks, counts, dropped
records, the most gutted documents and ``beam.metrics`` counters. Order is cheap-first:
extract -> normalise -> Chinese conversions -> length -> language -> C4 (page rules, then
line clean-up over logical lines) -> markup leakage (docs) -> Gopher -> FineWeb -> PII.
What each rule judges depends on the preset (``presets.py``); every byte a step removes
is counted per rule, and the measures behind each rule stay in ``meta["quality"]``
(docs/cleaning.md).

Length limits: texts shorter than ``min_chars`` are dropped (``too_short``), longer than
``max_chars`` are dropped (``too_long``), never truncated: half a document is a worse
training example than none, and the reader already quarantines anything over
``read.max_doc_bytes``.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam

from lmcore import storage
from lmcore.layout import LOSSES_FILENAME
from pipelines.clean import quality
from pipelines.clean.blocks import ALL_KINDS, PROSE, logical_lines
from pipelines.clean.config import CleanConfig
from pipelines.clean.html import HtmlTooDeep, extract_text
from pipelines.clean.langid import identify
from pipelines.clean.normalize import normalize_text
from pipelines.clean.pii import mask_pii
from pipelines.clean.presets import leakage_measures, leakage_reason
from pipelines.clean.presets import preset as preset_of
from pipelines.clean.thresholds import Thresholds, load_thresholds
from pipelines.stage.accounting import COUNTS, DOCS, DROPPED, StageOutputs, bump, dropped_record
from pipelines.stage.progress import RateLogger

Doc = dict[str, Any]
HTML_TYPES = ("text/html", "application/xhtml")
# full-width forms or CJK ideographs: the only texts the Chinese conversions can change
WIDE_OR_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff5e]")
LOSSES = "losses"
TOP_LOSSES = 50


def is_html(doc: Doc) -> bool:
    return str((doc.get("meta") or {}).get("content_type", "")).startswith(HTML_TYPES)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


class Cleaner:
    """Cleans one document at a time; optionally records seconds spent per step (``timings``).

    Besides the decision, ``clean`` fills an ``Outcome``: UTF-8 bytes in, out and removed
    per rule (every byte a step takes from a kept document is counted), and the measures
    behind every rule, kept in the document's ``meta["quality"]`` so thresholds can be
    re-tuned on a prepared dataset.
    """

    def __init__(self, config: CleanConfig, timings: Counter | None = None):
        self.config = config
        self.overrides = config.threshold_overrides()
        self.preset = preset_of(config.preset)
        self.timings = timings

    def thresholds(self, lang: str | None) -> Thresholds:
        return load_thresholds(lang, overrides=self.overrides, preset=self.config.preset)

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

    def clean(
        self, doc: Doc, pii_counts: Counter | None = None, outcome: Outcome | None = None
    ) -> tuple[Doc | None, str | None]:
        """(cleaned document, None) or (None, drop reason)."""
        out = outcome if outcome is not None else Outcome()
        config, preset = self.config, self.preset
        text = doc["text"]
        out.bytes_in = out.basis = utf8_len(text)
        meta = dict(doc.get("meta") or {})
        if is_html(doc):
            with self.step("html"):
                try:
                    text = extract_text(text, config.html_extractor)
                except HtmlTooDeep as exc:  # bounded work per page: nesting no parser finishes
                    return None, exc.reason
                except Exception:  # a page the extractor cannot parse is a drop, not a crash
                    return None, "html_extraction_failed"
            meta["content_type"] = "text/plain"
            meta["extracted_from"] = "html"
            out.basis = utf8_len(text)  # a document's losses are measured against its text
            out.remove("html_markup", out.bytes_in - out.basis)
        if config.normalize:
            with self.step("normalize"):
                text = out.changed("normalize", text, normalize_text(text))
        if (config.fullwidth_ascii or config.zh_convert != "none") and WIDE_OR_CJK.search(text):
            with self.step("chinese"):
                text = self._chinese(text, out)
        if not text:
            return None, "empty"
        with self.step("langid"):
            found = identify(text, config.langid_chars)
            if self.preset.judged != ALL_KINDS and found.score < 0.8:
                # a man page starts with a title, a name line and a synopsis of options:
                # its prose says more about its language
                other = identify(self._langid_sample(text), config.langid_chars)
                found = other if other.score > found.score else found
        lang = found.lang
        out.lang = lang
        out.scores["lang"] = lang
        out.scores["lang_score"] = round(found.score, 4)
        out.scores["chars"] = len(text)
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
                reason = quality.c4_page_reason(text, t, curly_bracket=preset.curly_bracket)
                if reason:
                    return None, reason
                cleaned, removed = quality.c4_lines(text, lang, t, preset.judged)
                for rule, n in removed.items():
                    out.remove(rule, n)
                text = cleaned
                sentences = len(quality.SENTENCE_END.findall(text))
                out.scores["sentences"] = sentences
            if preset.min_sentences and sentences < t.c4_min_sentences:
                return None, "c4_too_few_sentences"
        terminal = tuple(t.terminal_punctuation)
        with self.step("segment"):
            logical = logical_lines(text.split("\n"), terminal)
        if preset.leakage:
            with self.step("leakage"):
                measures = leakage_measures(text, logical)
            out.scores.update(measures)
            reason = leakage_reason(measures, t.max_leak_char_ratio)
            if reason:
                return None, reason
        with self.step("segment"):
            view = quality.TextView.of(text, lang, t.attribution_prefixes, preset.judged, terminal, logical)
        for name, enabled, measure, decide in (
            (
                "gopher_quality",
                config.gopher_quality,
                quality.gopher_quality_measures,
                quality.gopher_quality_reason,
            ),
            (
                "gopher_repetition",
                config.gopher_repetition,
                quality.gopher_repetition_measures,
                quality.gopher_repetition_reason,
            ),
            ("fineweb", config.fineweb, quality.fineweb_measures, quality.fineweb_reason),
        ):
            if enabled and not (name == "fineweb" and preset.judged != ALL_KINDS and not view.lines):
                # (docs: a text of lists and code alone has no prose lines to judge)
                with self.step(name):
                    measures = measure(view, t)
                out.scores.update(measures)
                reason = decide(measures, t)
                if reason:
                    return None, reason
        if config.pii:
            with self.step("pii"):
                masked_text, masked = mask_pii(text)
            if masked:
                text = out.changed("pii_mask", text, masked_text)
                meta["pii"] = masked
                if pii_counts is not None:
                    pii_counts.update(masked)
        out.bytes_out = utf8_len(text)
        if config.keep_scores:
            out.scores["preset"] = preset.name
            out.scores["bytes_in"] = out.basis
            out.scores["retained"] = round(out.bytes_out / out.basis, 4) if out.basis else 1.0
            meta["quality"] = {k: v for k, v in out.scores.items() if k != "lang"}  # lang is a column
        return {**doc, "text": text, "lang": lang, "lang_score": round(found.score, 4), "meta": meta}, None

    def _langid_sample(self, text: str) -> str:
        """The first prose sentences of a text (its whole text when it has too few)."""
        head = text[: 8 * self.config.langid_chars].split("\n")
        prose = [ln.text for ln in logical_lines(head, (".", "!", "?", "。", "！", "？")) if ln.kind == PROSE]
        sample = "\n".join(p for p in prose if len(p.split()) >= 4 or len(p) >= 20)
        return sample if len(sample) >= min(200, len(text) // 4) else text

    def _chinese(self, text: str, out: Outcome) -> str:
        from pipelines.clean import chinese

        if self.config.zh_convert != "none":
            converted, n = chinese.to_simplified(text, self.config.zh_convert)
            if n:
                out.changes["zh_t2s_chars"] += n
                text = out.changed("zh_t2s", text, converted)
        if self.config.fullwidth_ascii:
            converted, n = chinese.fullwidth_to_halfwidth(text)
            if n:
                out.changes["fullwidth_ascii_chars"] += n
                text = out.changed("fullwidth_ascii", text, converted)
        return text


@dataclass
class Outcome:
    """What cleaning did to one document's bytes, and the measures its rules read."""

    bytes_in: int = 0  # the document as read (raw HTML for pages)
    basis: int = 0  # its text: after HTML extraction, before any rule
    bytes_out: int = 0
    lang: str | None = None  # as identified (dropped documents keep theirs in the record)
    removed: Counter = field(default_factory=Counter)  # rule -> UTF-8 bytes removed
    changes: Counter = field(default_factory=Counter)  # conversion -> characters changed
    scores: dict[str, Any] = field(default_factory=dict)

    def remove(self, rule: str, n: int) -> None:
        if n > 0:
            self.removed[rule] += n

    def changed(self, rule: str, before: str, after: str) -> str:
        """``after``; the bytes a rewrite took away are counted against ``rule``."""
        if after is not before:
            self.remove(rule, utf8_len(before) - utf8_len(after))
        return after

    def lost_fraction(self) -> float:
        """Share of the document's text (after extraction) that rules removed."""
        lost = sum(n for rule, n in self.removed.items() if rule != "html_markup")
        return lost / self.basis if self.basis else 0.0


def clean_document(
    doc: Doc, config: CleanConfig, pii_counts: Counter | None = None
) -> tuple[Doc | None, str | None]:
    """(cleaned document, None) or (None, drop reason); see ``Cleaner``."""
    return Cleaner(config).clean(doc, pii_counts)


def clean_chunk(
    docs: list[Doc], cleaner: Cleaner, losses: list[tuple] | None = None
) -> tuple[list[Doc], list[tuple[Doc, str, dict]], dict[str, int]]:
    """(kept documents, [(dropped document, reason, measures so far)], counts).

    Counts: ``dropped/*`` and ``pii/*``; bytes in, out and removed per rule and per drop
    reason (``bytes_clean*``); documents and bytes per source (``source_*``). ``losses``,
    when given, receives a ``loss_record`` per kept document that lost bytes.
    """
    kept: list[Doc] = []
    dropped: list[tuple[Doc, str, dict]] = []
    counts: Counter = Counter()
    pii: Counter = Counter()
    for doc in docs:
        outcome = Outcome()
        cleaned, reason = cleaner.clean(doc, pii, outcome)
        source = doc.get("source") or "unknown"
        counts["bytes_clean/in"] += outcome.bytes_in
        counts[f"source_docs_in/{source}"] += 1
        counts[f"source_bytes_in/{source}"] += outcome.bytes_in
        if cleaned is None:
            counts[f"dropped/{reason}"] += 1
            counts["bytes_clean/dropped"] += outcome.bytes_in
            counts[f"bytes_clean_dropped/{reason}"] += outcome.bytes_in
            dropped.append((doc, reason or "unknown", outcome.scores))
            continue
        kept.append(cleaned)
        counts["bytes_clean/out"] += outcome.bytes_out
        counts["bytes_clean/removed"] += outcome.bytes_in - outcome.bytes_out
        counts[f"source_docs_kept/{source}"] += 1
        counts[f"source_bytes_kept/{source}"] += outcome.bytes_out
        counts.update({f"bytes_clean_removed/{rule}": n for rule, n in outcome.removed.items()})
        counts.update({f"changes/{name}": n for name, n in outcome.changes.items()})
        if losses is not None and outcome.lost_fraction() > 0:
            losses.append(loss_record(cleaned, outcome))
    counts.update({f"pii/{k}": v for k, v in pii.items()})
    return kept, dropped, dict(counts)


def loss_record(doc: Doc, outcome: Outcome) -> tuple:
    """(lost fraction, id, details): what ``Top`` ranks to list the most gutted documents."""
    details = {
        "id": doc["id"],
        "source": doc.get("source"),
        "bytes_in": outcome.basis,
        "bytes_out": outcome.bytes_out,
        "lost_fraction": round(outcome.lost_fraction(), 4),
        "removed": dict(sorted((k, v) for k, v in outcome.removed.items() if k != "html_markup")),
        "excerpt": doc["text"][:300],
    }
    return (round(outcome.lost_fraction(), 6), doc["id"], details)


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
            extra = {"quality": scores} if scores and self.config.keep_scores else {}
            if scores.get("lang") and not doc.get("lang"):
                extra["lang"] = scores["lang"]
            yield beam.pvalue.TaggedOutput(DROPPED, dropped_record(self.stage, doc, reason, **extra))
        for loss in losses:
            yield beam.pvalue.TaggedOutput(LOSSES, loss)
        bump(self.stage, {k: v for k, v in counts.items() if not k.startswith(("source_", "bytes_"))})
        self.progress.update(len(docs), sum(len(d["text"]) for d in docs))
        if counts:
            yield beam.pvalue.TaggedOutput(COUNTS, counts)
        if kept:
            yield key, kept


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


__all__ = ["CleanDocuments", "Cleaner", "clean_chunk", "clean_document"]

"""``Cleaner``: the clean stage for one document, as a pure function (no Beam).

Order is cheap-first: extract HTML -> normalise -> Chinese conversions -> identify the
language -> the rules of ``filters/registry.py`` in their order (length, language, C4
page rules and line clean-up, markup leakage, Gopher, FineWeb) -> mask PII. What each
rule judges depends on the preset (``presets.py``); every byte a step removes is counted
per rule, and the measures behind each rule stay in ``meta["quality"]``
(docs/cleaning.md).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lmcore.text import normalize_text
from pipelines.clean.blocks import ALL_KINDS, PROSE, logical_lines
from pipelines.clean.config import CleanConfig
from pipelines.clean.filters.registry import RULES
from pipelines.clean.filters.rule import Page
from pipelines.clean.html import HtmlTooDeep, extract_text
from pipelines.clean.langid import identify
from pipelines.clean.outcome import Outcome, utf8_len
from pipelines.clean.pii import mask_pii
from pipelines.clean.presets import preset as preset_of
from pipelines.clean.thresholds import Thresholds, load_thresholds

Doc = dict[str, Any]
HTML_TYPES = ("text/html", "application/xhtml")
# full-width forms or CJK ideographs: the only texts the Chinese conversions can change
WIDE_OR_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff5e]")


def is_html(doc: Doc) -> bool:
    return str((doc.get("meta") or {}).get("content_type", "")).startswith(HTML_TYPES)


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
        self.rules = tuple(r for r in RULES if r.runs_with(self.preset, config))

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
        config = self.config
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
            lang, score = self._identify(text)
        out.lang = lang
        out.scores["lang"] = lang
        out.scores["lang_score"] = round(score, 4)
        page = Page(text, lang, score, self.preset, config, self.thresholds(lang), out)
        reason = self._run_rules(page)
        if reason:
            return None, reason
        text = page.text
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
            out.scores["preset"] = self.preset.name
            out.scores["bytes_in"] = out.basis
            out.scores["retained"] = round(out.bytes_out / out.basis, 4) if out.basis else 1.0
            meta["quality"] = {k: v for k, v in out.scores.items() if k != "lang"}  # lang is a column
        return {**doc, "text": text, "lang": lang, "lang_score": round(score, 4), "meta": meta}, None

    def _run_rules(self, page: Page) -> str | None:
        """The registry's rules in order; the first drop reason, or None."""
        for rule in self.rules:
            if rule.needs:
                with self.step("segment"):
                    _ = page.view if "view" in rule.needs else page.logical
            with self.step(rule.family):
                reason = rule.apply(page)
            if reason:
                return reason
        return None

    def _identify(self, text: str) -> tuple[str | None, float]:
        found = identify(text, self.config.langid_chars)
        if self.preset.judged != ALL_KINDS and found.score < 0.8:
            # a man page starts with a title, a name line and a synopsis of options:
            # its prose says more about its language
            other = identify(self._langid_sample(text), self.config.langid_chars)
            found = other if other.score > found.score else found
        return found.lang, found.score

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

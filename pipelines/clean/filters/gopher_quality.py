"""Gopher's quality rules (Rae et al. 2021, "Scaling Language Models", App. A).

Words come from a per-language segmentation (``segment.words``), so Chinese is measured
in Chinese words, not in whitespace-split "words".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipelines.clean.filters.view import TextView
from pipelines.clean.thresholds import Thresholds

if TYPE_CHECKING:
    from pipelines.clean.filters.rule import Page

BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "►", "▶")
ELLIPSES = ("...", "…")
# A word (one per line) without any alphabetic character: digits, underscores.
NO_ALPHA_WORD = re.compile(r"^(?:[^\w\n]|[\d_])+$", re.MULTILINE)


def gopher_quality_measures(v: TextView, t: Thresholds) -> dict[str, float]:
    """The numbers behind Gopher's quality rules (kept in the document's meta)."""
    n = len(v.words)
    m: dict[str, float] = {"words": n}
    if not n:
        return m
    m["mean_word_length"] = round(sum(map(len, v.prose_words)) / len(v.prose_words), 4)
    symbols = v.prose.count("#") + sum(v.prose.count(e) for e in ELLIPSES)
    m["symbol_word_ratio"] = round(symbols / n, 4)
    if v.lines:
        m["bullet_lines_ratio"] = round(sum(ln.startswith(BULLETS) for ln in v.lines) / len(v.lines), 4)
        m["ellipsis_lines_ratio"] = round(sum(ln.endswith(ELLIPSES) for ln in v.lines) / len(v.lines), 4)
    no_alpha = len(NO_ALPHA_WORD.findall("\n".join(v.prose_words)))
    m["alpha_words_ratio"] = round(1 - no_alpha / len(v.prose_words), 4)
    m["stop_words"] = count_stop_words(v.words, frozenset(t.stop_words), max(t.min_stop_words, 0) * 4)
    return m


def gopher_quality_reason(m: Mapping[str, Any], t: Thresholds) -> str | None:
    """A text without words has nothing else to measure: too few words whatever ``min_words`` says."""
    n = m["words"]
    if not n or n < t.min_words:
        return "gopher_too_few_words"
    if n > t.max_words:
        return "gopher_too_many_words"
    if not t.min_mean_word_length <= m["mean_word_length"] <= t.max_mean_word_length:
        return "gopher_mean_word_length"
    if m["symbol_word_ratio"] > t.max_symbol_word_ratio:
        return "gopher_symbol_ratio"
    if m.get("bullet_lines_ratio", 0.0) > t.max_bullet_lines_ratio:
        return "gopher_bullet_lines"
    if m.get("ellipsis_lines_ratio", 0.0) > t.max_ellipsis_lines_ratio:
        return "gopher_ellipsis_lines"
    if m["alpha_words_ratio"] < t.min_alpha_words_ratio:
        return "gopher_alpha_words"
    if m["stop_words"] < t.min_stop_words:
        return "gopher_stop_words"
    return None


def gopher_quality(v: TextView, t: Thresholds) -> str | None:
    return gopher_quality_reason(gopher_quality_measures(v, t), t)


def gopher_quality_of_page(page: Page, t: Thresholds) -> dict[str, float]:
    return gopher_quality_measures(page.view, t)


def count_stop_words(words: list[str], stop: frozenset[str], cap: int) -> int:
    """Stop words among ``words``, counting up to ``cap`` (enough for any threshold)."""
    found = 0
    for w in words:
        if w in stop or w.lower() in stop:
            found += 1
            if found >= cap:
                break
    return found

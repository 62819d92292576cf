"""Gopher's repetition rules (Rae et al. 2021, App. A): repeated lines, paragraphs and n-grams.

Repetition n-grams run over whitespace tokens (en) or segments with punctuation (zh).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipelines.clean.filters.view import TextView
from pipelines.clean.ngrams import NgramIndex
from pipelines.clean.thresholds import Thresholds

if TYPE_CHECKING:
    from pipelines.clean.filters.rule import Page


def dup_fraction(items: list[str]) -> tuple[float, float]:
    """(fraction of items that repeat an earlier one, fraction of characters in them)."""
    if not items:
        return 0.0, 0.0
    seen: set[str] = set()
    dup_n = dup_chars = 0
    for it in items:
        if it in seen:
            dup_n += 1
            dup_chars += len(it)
        else:
            seen.add(it)
    total_chars = sum(map(len, items)) or 1
    return dup_n / len(items), dup_chars / total_chars


def top_ngram_char_fraction(words: list[str], n: int) -> float:
    """Characters covered by the most frequent word n-gram, over all word characters."""
    return NgramIndex(words).top_fraction(n)


def duplicated_ngram_char_fraction(words: list[str], n: int) -> float:
    """Characters in *repeated* occurrences of word n-grams, over all word characters.

    Scans left to right; an n-gram seen before counts its characters and the scan jumps
    past it (so overlapping repeats are not double counted); first occurrences do not count.
    """
    return NgramIndex(words).duplicated_fraction(n)


def gopher_repetition_measures(v: TextView, t: Thresholds) -> dict[str, float]:
    """The numbers behind Gopher's repetition rules.

    Duplicated n-gram fractions are exact where they could matter; when even the cheap
    upper bound at the smallest n is under a twentieth, that bound is stored for every n
    (it only shrinks as n grows), which settles any sensible threshold the same way.
    """
    line_frac, line_chars = dup_fraction(v.content_lines)
    para_frac, para_chars = dup_fraction(v.paragraphs)
    m: dict[str, float] = {
        "dup_line_frac": round(line_frac, 4),
        "dup_line_char_frac": round(line_chars, 4),
        "dup_para_frac": round(para_frac, 4),
        "dup_para_char_frac": round(para_chars, 4),
    }
    index = NgramIndex(v.tokens)
    for n in sorted(t.top_ngram_max_frac):
        m[f"top_{n}gram_frac"] = round(index.top_fraction(n), 4)
    sizes = sorted(t.dup_ngram_max_frac)
    if sizes:
        bound = index.duplicated_fraction_bound(sizes[0])
        for n in sizes:
            m[f"dup_{n}gram_frac"] = round(index.duplicated_fraction(n) if bound > 0.05 else bound, 4)
    return m


def gopher_repetition_reason(m: Mapping[str, Any], t: Thresholds) -> str | None:
    if m["dup_line_frac"] > t.max_dup_line_frac:
        return "gopher_dup_lines"
    if m["dup_line_char_frac"] > t.max_dup_line_char_frac:
        return "gopher_dup_line_chars"
    if m["dup_para_frac"] > t.max_dup_para_frac:
        return "gopher_dup_paragraphs"
    if m["dup_para_char_frac"] > t.max_dup_para_char_frac:
        return "gopher_dup_paragraph_chars"
    for n, limit in sorted(t.top_ngram_max_frac.items()):
        if m.get(f"top_{n}gram_frac", 0.0) > limit:
            return f"gopher_top_{n}gram"
    for n, limit in sorted(t.dup_ngram_max_frac.items()):
        if m.get(f"dup_{n}gram_frac", 0.0) > limit:
            return f"gopher_dup_{n}gram"
    return None


def gopher_repetition(v: TextView, t: Thresholds) -> str | None:
    return gopher_repetition_reason(gopher_repetition_measures(v, t), t)


def gopher_repetition_of_page(page: Page, t: Thresholds) -> dict[str, float]:
    return gopher_repetition_measures(page.view, t)

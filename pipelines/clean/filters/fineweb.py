"""FineWeb's additional line rules (Penedo et al. 2024)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipelines.clean import blocks
from pipelines.clean.filters.gopher_repetition import dup_fraction
from pipelines.clean.filters.view import TextView
from pipelines.clean.thresholds import Thresholds

if TYPE_CHECKING:
    from pipelines.clean.filters.rule import Page


def fineweb_measures(v: TextView, t: Thresholds) -> dict[str, float]:
    lines = v.content_lines
    if not lines:
        return {"lines": 0}
    ends = tuple(t.terminal_punctuation)
    _, dup_chars = dup_fraction(lines)
    newlines = v.prose.count("\n") - (len(v.lines) - len(lines))  # attribution lines are not list items
    return {
        "lines": len(lines),
        "line_punct_ratio": round(sum(ln.endswith(ends) for ln in lines) / len(lines), 4),
        "short_line_ratio": round(sum(len(ln) <= t.fineweb_short_line_chars for ln in lines) / len(lines), 4),
        "fineweb_dup_line_char_ratio": round(dup_chars, 4),
        "newline_word_ratio": round(newlines / len(v.words), 4) if v.words else 0.0,
    }


def fineweb_reason(m: Mapping[str, Any], t: Thresholds) -> str | None:
    if not m["lines"]:
        return "fineweb_empty"
    if m["line_punct_ratio"] < t.fineweb_min_line_punct_ratio:
        return "fineweb_line_punctuation"
    if m["short_line_ratio"] > t.fineweb_max_short_line_ratio:
        return "fineweb_short_lines"
    if m["fineweb_dup_line_char_ratio"] > t.fineweb_max_dup_line_char_ratio:
        return "fineweb_dup_line_chars"
    if m["newline_word_ratio"] > t.fineweb_max_newline_word_ratio:
        return "fineweb_list_like"
    return None


def fineweb(v: TextView, t: Thresholds) -> str | None:
    return fineweb_reason(fineweb_measures(v, t), t)


def fineweb_of_page(page: Page, t: Thresholds) -> dict[str, float]:
    return fineweb_measures(page.view, t)


def no_prose_lines(page: Page) -> bool:
    """A text of lists and code alone has no prose lines to judge (when a preset measures prose only)."""
    return page.preset.judged != blocks.ALL_KINDS and not page.view.lines


def fineweb_ran(m: Mapping[str, Any]) -> bool:
    """Stored FineWeb measures (a ``docs`` text without prose lines was not judged)."""
    return "lines" in m and bool(m["lines"] or m.get("preset") != "docs")

"""Markup leakage (``docs`` preset): script and markup leaking out of a badly extracted page.

Documentation quotes code; a crawl's bad extraction leaks browser scripting, style
sheets and template placeholders (one is enough), raw tags and entities (a sentence may
quote one or two; leaked markup comes in runs) and minified lines. Lines of code blocks
are a documentation's samples, not leakage: they are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipelines.clean import blocks
from pipelines.clean.thresholds import Thresholds

if TYPE_CHECKING:
    from pipelines.clean.filters.rule import Page

# Script, style sheets and templates. Every alternative starts at a character without
# case (a lookbehind checks the letters before it), so ``re`` skips to those characters in
# C instead of trying each alternative at every position; a line matches exactly when the
# plain pattern ``document\.(?:...)|window\.(?:...)|\bjQuery\b|...`` (case-insensitive)
# would match it (``tests/test_clean_fast_forms.py`` checks both on the same lines).
STRONG_LEAK = re.compile(
    r"\.(?i:(?<=document\.)(?:getElementById|write|cookie|querySelector))"
    r"|\.(?i:(?<=window\.)(?:location|onload|dataLayer))"
    r"|q(?i:(?<=\bjq)uery\b)|Q(?i:(?<=\bjq)uery\b)"
    r"|\$(?i:\(\s*['\"(document])"
    r"|\((?i:(?<=\bgtag\())"
    r"|g(?i:(?<=goog)letag)|G(?i:(?<=goog)letag)"
    r"|y(?i:(?<=\bdatalay)er\b)|Y(?i:(?<=\bdatalay)er\b)"
    r"|\((?i:(?<=addEventListener\()\s*['\"](?:load|DOMContent))"
    r"|\{(?i:\s*(?:display|color|margin|padding|font-[a-z]+|background(?:-color)?|width|height)\s*:[^}]*;)"
    r"|!(?i:important)|@(?i:media\b)|\{\{[^}]*\}\}|\{%[^%]*%\}"
)
WEAK_LEAK = re.compile(
    r"</?(?:div|span|script|style|iframe|table|td|tr|li|ul|br|img|a)\b[^>]*>|&(?:nbsp|amp|quot|lt|gt|#\d+);",
    re.IGNORECASE,
)
WEAK_PER_LINE = 3
MINIFIED_LINE_CHARS = 1000

LEAK_HINTS = (
    "{",
    "<",
    "&",
    "$",
    "!important",
    "@media",
    "document.",
    "window.",
    "jQuery",
    "gtag",
    "dataLayer",
)


def _clean_of_leaks(text: str) -> bool:
    """No character or word any leak pattern needs, and no line long enough to be minified."""
    if any(h in text for h in LEAK_HINTS):
        return False
    return len(text) <= MINIFIED_LINE_CHARS or all(len(s) <= MINIFIED_LINE_CHARS for s in text.split("\n"))


def leakage_measures(text: str, logical: list[blocks.Line] | None = None) -> dict[str, float]:
    """Share of characters on non-code lines that look like leaked script/markup, and the
    number of minified lines (over 1,000 characters of braces and semicolons, few spaces)."""
    leaked = 0
    minified = 0
    if _clean_of_leaks(text):
        return {"leak_char_ratio": 0.0, "minified_lines": 0}  # the usual case
    raw = text.split("\n")
    # A match in a line is a match in the whole text, so one search of the text settles
    # most pages; a weak match starts at "<" or "&".
    strong = STRONG_LEAK.search(text) is not None
    weak = WEAK_LEAK.search(text) is not None
    for line in blocks.logical_lines(raw, (".", "!", "?")) if logical is None else logical:
        if line.kind == blocks.CODE:
            continue
        for s in raw[line.first : line.last + 1]:
            if len(s) > MINIFIED_LINE_CHARS and s.count(" ") < len(s) / 20 and ("{" in s or ";" in s):
                minified += 1
                leaked += len(s)
            elif (strong and STRONG_LEAK.search(s)) or (
                weak and ("<" in s or "&" in s) and len(WEAK_LEAK.findall(s)) >= WEAK_PER_LINE
            ):
                leaked += len(s)
    return {"leak_char_ratio": round(leaked / max(len(text), 1), 4), "minified_lines": minified}


def leakage_reason(m: Mapping[str, Any], max_ratio: float) -> str | None:
    if m["minified_lines"] or m["leak_char_ratio"] > max_ratio:
        return "markup_leakage"
    return None


def leakage_of_page(page: Page, t: Thresholds) -> dict[str, float]:
    return leakage_measures(page.text, page.logical)


def leakage_decision(m: Mapping[str, Any], t: Thresholds) -> str | None:
    return leakage_reason(m, t.max_leak_char_ratio)

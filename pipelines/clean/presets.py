"""What a corpus is: ``clean: {preset: web}`` or ``clean: {preset: docs}``.

``web`` is for crawls: C4's line and page rules (every logical line must end a sentence,
a page with a curly bracket is script leaking into text, at least a few sentences),
Gopher and FineWeb, over logical lines so hard-wrapped pages keep their paragraphs.

``docs`` is for technical documentation and code-bearing text (man pages, READMEs,
kernel and library docs): prose rules judge prose only. Code, tables, option and
reference lists and headings keep their lines and are left out of the line statistics;
the curly-bracket and sentence-count rules give way to ``markup_leakage``, which tells
script/markup leaking out of a web page from a code sample; everything that finds junk
(language, length, word counts and stop words over the whole text, repetition,
navigation-like prose) still applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipelines.clean import blocks

PRESET_NAMES = ("web", "docs")


@dataclass(frozen=True)
class Preset:
    name: str
    judged: frozenset[str]  # logical-line kinds judged by C4's line rules and measured by line statistics
    curly_bracket: bool  # C4: drop any page with "{"
    min_sentences: bool  # C4: drop pages with fewer than c4_min_sentences sentences
    leakage: bool  # drop pages whose text is script/markup leaking from HTML


PRESETS = {
    "web": Preset("web", blocks.ALL_KINDS, curly_bracket=True, min_sentences=True, leakage=False),
    "docs": Preset("docs", frozenset({blocks.PROSE}), curly_bracket=False, min_sentences=False, leakage=True),
}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"clean.preset must be one of {', '.join(PRESET_NAMES)}, not {name!r}") from None


# What leaks out of badly extracted web pages, as opposed to code quoted in documentation:
# browser scripting, style sheets and template placeholders (one is enough), raw tags and
# entities (a documentation sentence may quote one or two; leaked markup comes in runs).
STRONG_LEAK = re.compile(
    r"document\.(?:getElementById|write|cookie|querySelector)|window\.(?:location|onload|dataLayer)"
    r"|\bjQuery\b|\$\(\s*['\"(document]|\bgtag\(|googletag|\bdataLayer\b"
    r"|addEventListener\(\s*['\"](?:load|DOMContent)"
    r"|\{\s*(?:display|color|margin|padding|font-[a-z]+|background(?:-color)?|width|height)\s*:[^}]*;"
    r"|!important|@media\b|\{\{[^}]*\}\}|\{%[^%]*%\}",
    re.IGNORECASE,
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
    number of minified lines (over 1,000 characters of braces and semicolons, few spaces).

    Lines of code blocks are a documentation's samples, not leakage: they are skipped.
    """
    leaked = 0
    minified = 0
    if _clean_of_leaks(text):
        return {"leak_char_ratio": 0.0, "minified_lines": 0}  # the usual case
    raw = text.split("\n")
    for line in blocks.logical_lines(raw, (".", "!", "?")) if logical is None else logical:
        if line.kind == blocks.CODE:
            continue
        for s in raw[line.first : line.last + 1]:
            if len(s) > MINIFIED_LINE_CHARS and s.count(" ") < len(s) / 20 and ("{" in s or ";" in s):
                minified += 1
                leaked += len(s)
            elif STRONG_LEAK.search(s) or len(WEAK_LEAK.findall(s)) >= WEAK_PER_LINE:
                leaked += len(s)
    return {"leak_char_ratio": round(leaked / max(len(text), 1), 4), "minified_lines": minified}


def leakage_reason(m: dict[str, float], max_ratio: float) -> str | None:
    if m["minified_lines"] or m["leak_char_ratio"] > max_ratio:
        return "markup_leakage"
    return None

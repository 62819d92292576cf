"""C4's page rules and line clean-up (Raffel et al. 2020), over logical lines.

Page rules come first (lorem ipsum; in web text any curly bracket is script leaking
into text); the line clean-up then removes the lines C4 calls boilerplate and counts
their bytes per rule; a web page must keep a few sentences.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipelines.clean import blocks
from pipelines.clean.filters.rule import LineCut
from pipelines.clean.outcome import utf8_len
from pipelines.clean.segment import SEGMENTED_LANGUAGES
from pipelines.clean.segment import words as segment_words
from pipelines.clean.thresholds import Thresholds

if TYPE_CHECKING:
    from pipelines.clean.filters.rule import Page

SENTENCE_END = re.compile(r"[.!?。！？]+")
# a list item of legal or technical prose ending "...; and" / "..., or" before the next item
CLAUSE_END = re.compile(r"[;,]\s+(?:and|or)$")


def line_word_count(line: str, lang: str | None, needed: int) -> int:
    """Words in a line, as C4 counts them (whitespace split), or segmented for zh/ja.

    A segmented line of ``10 * needed`` characters or more cannot have fewer than ``needed``
    words (dictionary words are far shorter), so the segmenter only runs on short lines.
    """
    if lang in SEGMENTED_LANGUAGES:
        return needed if len(line) >= 10 * needed else len(segment_words(line, lang))
    return len(line.split())


def c4_line_reason(s: str, lang: str | None, t: Thresholds) -> str | None:
    """Why C4 removes one logical line (stripped), or ``None`` to keep it."""
    ends = tuple(t.terminal_punctuation + t.c4_clause_punctuation)
    if not blocks.ends_sentence(s, ends) and not CLAUSE_END.search(s):
        long = t.c4_terminal_exempt_words
        if not long or line_word_count(s, lang, long) < long:
            return "c4_line_no_terminal_punct"
    if line_word_count(s, lang, t.c4_min_words_per_line) < t.c4_min_words_per_line:
        return "c4_line_few_words"
    ls = s.lower()
    if any(p in ls for p in t.c4_bad_line_phrases):
        return "c4_line_bad_phrase"
    if len(s) > t.c4_max_word_length and max(map(len, s.split())) > t.c4_max_word_length:
        return "c4_line_long_word"
    return None


def c4_lines(
    text: str,
    lang: str | None,
    t: Thresholds,
    judged: frozenset[str] = blocks.ALL_KINDS,
    logical: list[blocks.Line] | None = None,
) -> tuple[str, dict[str, int]]:
    """C4's line clean-up over logical lines: (kept text, UTF-8 bytes removed per rule).

    Only logical lines of a kind in ``judged`` are judged (the ``docs`` preset judges
    prose only); a kept logical line keeps its physical lines as they were, so wrapped
    paragraphs, indentation and code survive byte for byte. Whitespace the rebuild drops
    (trailing spaces, runs of blank lines) is counted as ``whitespace``. ``logical``: the
    text's logical lines when the caller has them already (the page builds them once and
    keeps them when nothing is cut).
    """
    raw = text.split("\n")
    terminal = tuple(t.terminal_punctuation)
    if t.c4_join_wrapped_lines:
        logical = blocks.logical_lines(raw, terminal) if logical is None else logical
    else:  # each physical line alone, as C4 was published
        logical = [
            blocks.Line(i, i, blocks.line_kind(ln), ln.strip()) for i, ln in enumerate(raw) if ln.strip()
        ]
    removed: dict[str, int] = {}
    out: list[str] = []
    last_kept = -1
    for line in logical:
        reason = c4_line_reason(line.text, lang, t) if line.kind in judged else None
        if reason:
            size = sum(utf8_len(raw[i]) + 1 for i in range(line.first, line.last + 1))
            removed[reason] = removed.get(reason, 0) + size
            continue
        if out:
            gap = raw[last_kept + 1 : line.first]
            out.append("\n\n" if any(not g.strip() for g in gap) else "\n")
        out.append("\n".join(raw[i].rstrip() for i in range(line.first, line.last + 1)))
        last_kept = line.last
    cleaned = "".join(out)
    whitespace = utf8_len(text) - utf8_len(cleaned) - sum(removed.values())
    if whitespace > 0:
        removed["whitespace"] = whitespace
    return cleaned, removed


def c4_page_reason(text: str, t: Thresholds, curly_bracket: bool = True) -> str | None:
    """C4's page rules before line clean-up: lorem ipsum, and (web text) any curly bracket."""
    lower = text.lower()
    for phrase in t.c4_bad_page_phrases:
        if phrase == "{" and not curly_bracket:
            continue
        if phrase in lower:
            return "c4_lorem_ipsum" if phrase == "lorem ipsum" else "c4_curly_bracket"
    return None


def sentence_count(text: str) -> int:
    return len(SENTENCE_END.findall(text))


def c4_sentences_reason(m: Mapping[str, Any], t: Thresholds) -> str | None:
    return "c4_too_few_sentences" if m["sentences"] < t.c4_min_sentences else None


def c4_clean(text: str, lang: str | None, t: Thresholds) -> tuple[str, str | None]:
    """C4 line clean-up then page rules: returns (cleaned text, drop reason or None)."""
    reason = c4_page_reason(text, t)
    if reason:
        return text, reason
    cleaned, _ = c4_lines(text, lang, t)
    if sentence_count(cleaned) < t.c4_min_sentences:
        return cleaned, "c4_too_few_sentences"
    return cleaned, None


# -- the page adapters the registry runs ----------------------------------------------------------
def c4_page_judge(page: Page, t: Thresholds) -> str | None:
    """The preset says whether a curly bracket marks script (web) or may be a code sample (docs)."""
    return c4_page_reason(page.text, t, curly_bracket=page.preset.curly_bracket)


def c4_line_cut(page: Page, t: Thresholds) -> LineCut:
    """The line clean-up over the lines the preset judges; the sentences left are measured."""
    logical = page.logical if t.c4_join_wrapped_lines else None
    cleaned, removed = c4_lines(page.text, page.lang, t, page.preset.judged, logical)
    return LineCut(cleaned, removed, {"sentences": sentence_count(cleaned)})

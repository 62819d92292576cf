"""``TextView``: the pieces of a text every document rule reads, computed once per document."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipelines.clean import blocks
from pipelines.clean.segment import words as segment_words


@dataclass
class TextView:
    """The pieces every filter needs, computed once.

    Line statistics count *logical* lines (a hard-wrapped paragraph is one line, see
    ``blocks.py``), so wrapped text is measured like the web text the rules were tuned on.
    ``kinds`` limits the lines, paragraphs, symbol counts and repetition n-grams to logical
    lines of those kinds (the ``docs`` preset measures prose only); words (counts, lengths,
    stop words) always come from the whole text, word lengths and the alphabetic ratio
    from ``prose_words``.
    """

    text: str
    lang: str | None
    lines: list[str]  # logical lines (stripped, wrapped lines joined)
    content_lines: list[str]  # lines without attribution lines ("-- 李白《将进酒》"): line statistics
    paragraphs: list[str]
    words: list[str]  # words without punctuation (counts, lengths, stop words)
    tokens: list[str]  # whitespace tokens (en) or segments incl. punctuation (zh): repetition n-grams
    prose: str  # the text the line statistics come from (all of it unless ``kinds`` limits it)
    prose_words: list[str]  # words of ``prose``: word lengths and the alphabetic ratio

    @classmethod
    def of(
        cls,
        text: str,
        lang: str | None,
        attribution_prefixes: tuple[str, ...] = (),
        kinds: frozenset[str] = blocks.ALL_KINDS,
        terminal: tuple[str, ...] = (".", "!", "?"),
        logical: list[blocks.Line] | None = None,
    ) -> TextView:
        """``logical``: the text's logical lines when the caller has them already."""
        raw = text.split("\n")
        logical = blocks.logical_lines(raw, terminal) if logical is None else logical
        all_logical = logical
        if kinds != blocks.ALL_KINDS:
            logical = [ln for ln in logical if ln.kind in kinds]
            prose = _text_of(raw, logical)
        else:
            prose = text
        lines = [ln.text for ln in logical]
        content = (
            [ln for ln in lines if not ln.startswith(attribution_prefixes)] if attribution_prefixes else lines
        )
        paragraphs = [p for p in (s.strip() for s in re.split(r"\n\s*\n", prose)) if p]
        if attribution_prefixes:
            paragraphs = [p for p in paragraphs if not p.startswith(attribution_prefixes) or "\n" in p]
        # Citations are not content: words and repetition n-grams come from the other lines.
        if prose is text:
            words, tokens = segment_words(_without(text, attribution_prefixes), lang, with_tokens=True)
            prose_words = words
        else:  # code and tables repeat and have long identifiers by nature: prose is measured alone
            rest = _text_of(raw, [ln for ln in all_logical if ln.kind not in kinds])
            prose_words, tokens = segment_words(_without(prose, attribution_prefixes), lang, with_tokens=True)
            words = prose_words + segment_words(_without(rest, attribution_prefixes), lang)
        return cls(text, lang, lines, content, paragraphs, words, tokens, prose, prose_words or words)


def _without(text: str, prefixes: tuple[str, ...]) -> str:
    """``text`` without its attribution lines (citations are not content)."""
    if not prefixes:
        return text
    return "\n".join(r for r in text.split("\n") if not r.strip() or not r.strip().startswith(prefixes))


def _text_of(raw: list[str], logical: list[blocks.Line]) -> str:
    """The physical lines of some logical lines, blank lines kept between blocks."""
    out: list[str] = []
    last = -2
    for ln in logical:
        if out and ln.first > last + 1:
            out.append("")
        out.extend(raw[ln.first : ln.last + 1])
        last = ln.last
    return "\n".join(out)

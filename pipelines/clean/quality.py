"""Quality filters with their published defaults; each returns ``None`` (keep) or a drop reason.

* Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models", App. A).
* C4 line clean-up and page rules (Raffel et al. 2020).
* FineWeb's additional rules (Penedo et al. 2024).

All of them read a ``TextView`` built once per document, with words from a per-language
segmentation (``segment.words``) and the language's thresholds, so Chinese is measured in
Chinese words and Chinese sentence punctuation, not in whitespace-split "words".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipelines.clean import blocks
from pipelines.clean.ngrams import NgramIndex
from pipelines.clean.segment import SEGMENTED_LANGUAGES
from pipelines.clean.segment import words as segment_words
from pipelines.clean.thresholds import Thresholds

BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "►", "▶")
ELLIPSES = ("...", "…")
# A word (one per line) without any alphabetic character: digits, underscores.
NO_ALPHA_WORD = re.compile(r"^(?:[^\w\n]|[\d_])+$", re.MULTILINE)


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


# -- Gopher quality --------------------------------------------------------------------------
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


def gopher_quality_reason(m: dict[str, float], t: Thresholds) -> str | None:
    n = m["words"]
    if n < t.min_words:
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


def count_stop_words(words: list[str], stop: frozenset[str], cap: int) -> int:
    """Stop words among ``words``, counting up to ``cap`` (enough for any threshold)."""
    found = 0
    for w in words:
        if w in stop or w.lower() in stop:
            found += 1
            if found >= cap:
                break
    return found


# -- Gopher repetition -----------------------------------------------------------------------
def _dup_fraction(items: list[str]) -> tuple[float, float]:
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
    line_frac, line_chars = _dup_fraction(v.content_lines)
    para_frac, para_chars = _dup_fraction(v.paragraphs)
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


def gopher_repetition_reason(m: dict[str, float], t: Thresholds) -> str | None:
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


# -- C4 ------------------------------------------------------------------------------------------
SENTENCE_END = re.compile(r"[.!?。！？]+")


def line_word_count(line: str, lang: str | None, needed: int) -> int:
    """Words in a line, as C4 counts them (whitespace split), or segmented for zh/ja.

    A segmented line of ``10 * needed`` characters or more cannot have fewer than ``needed``
    words (dictionary words are far shorter), so the segmenter only runs on short lines.
    """
    if lang in SEGMENTED_LANGUAGES:
        return needed if len(line) >= 10 * needed else len(segment_words(line, lang))
    return len(line.split())


# a list item of legal or technical prose ending "...; and" / "..., or" before the next item
CLAUSE_END = re.compile(r"[;,]\s+(?:and|or)$")


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


def utf8_len(s: str) -> int:
    return len(s.encode("utf-8"))


def c4_lines(
    text: str, lang: str | None, t: Thresholds, judged: frozenset[str] = blocks.ALL_KINDS
) -> tuple[str, dict[str, int]]:
    """C4's line clean-up over logical lines: (kept text, UTF-8 bytes removed per rule).

    Only logical lines of a kind in ``judged`` are judged (the ``docs`` preset judges
    prose only); a kept logical line keeps its physical lines as they were, so wrapped
    paragraphs, indentation and code survive byte for byte. Whitespace the rebuild drops
    (trailing spaces, runs of blank lines) is counted as ``whitespace``.
    """
    raw = text.split("\n")
    terminal = tuple(t.terminal_punctuation)
    if t.c4_join_wrapped_lines:
        logical = blocks.logical_lines(raw, terminal)
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


def c4_clean(text: str, lang: str | None, t: Thresholds) -> tuple[str, str | None]:
    """C4 line clean-up then page rules: returns (cleaned text, drop reason or None)."""
    reason = c4_page_reason(text, t)
    if reason:
        return text, reason
    cleaned, _ = c4_lines(text, lang, t)
    if len(SENTENCE_END.findall(cleaned)) < t.c4_min_sentences:
        return cleaned, "c4_too_few_sentences"
    return cleaned, None


# -- FineWeb ---------------------------------------------------------------------------------
def fineweb_measures(v: TextView, t: Thresholds) -> dict[str, float]:
    lines = v.content_lines
    if not lines:
        return {"lines": 0}
    ends = tuple(t.terminal_punctuation)
    _, dup_chars = _dup_fraction(lines)
    newlines = v.prose.count("\n") - (len(v.lines) - len(lines))  # attribution lines are not list items
    return {
        "lines": len(lines),
        "line_punct_ratio": round(sum(ln.endswith(ends) for ln in lines) / len(lines), 4),
        "short_line_ratio": round(sum(len(ln) <= t.fineweb_short_line_chars for ln in lines) / len(lines), 4),
        "fineweb_dup_line_char_ratio": round(dup_chars, 4),
        "newline_word_ratio": round(newlines / len(v.words), 4) if v.words else 0.0,
    }


def fineweb_reason(m: dict[str, float], t: Thresholds) -> str | None:
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

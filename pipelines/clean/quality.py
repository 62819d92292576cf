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
from collections import Counter
from dataclasses import dataclass

from pipelines.clean.segment import words as segment_words
from pipelines.clean.thresholds import Thresholds

BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "►", "▶")
ELLIPSES = ("...", "…")


@dataclass
class TextView:
    """The pieces every filter needs, computed once."""

    text: str
    lang: str | None
    lines: list[str]
    paragraphs: list[str]
    words: list[str]  # words without punctuation (counts, lengths, stop words)
    tokens: list[str]  # whitespace tokens (en) or segments incl. punctuation (zh): repetition n-grams

    @classmethod
    def of(cls, text: str, lang: str | None) -> TextView:
        lines = [ln for ln in (s.strip() for s in text.split("\n")) if ln]
        paragraphs = [p for p in (s.strip() for s in re.split(r"\n\s*\n", text)) if p]
        words, tokens = segment_words(text, lang, with_tokens=True)
        return cls(text, lang, lines, paragraphs, words, tokens)


# -- Gopher quality --------------------------------------------------------------------------
def gopher_quality(v: TextView, t: Thresholds) -> str | None:
    n = len(v.words)
    if n < t.min_words:
        return "gopher_too_few_words"
    if n > t.max_words:
        return "gopher_too_many_words"
    mean_len = sum(map(len, v.words)) / n
    if not t.min_mean_word_length <= mean_len <= t.max_mean_word_length:
        return "gopher_mean_word_length"
    symbols = v.text.count("#") + sum(v.text.count(e) for e in ELLIPSES)
    if symbols / n > t.max_symbol_word_ratio:
        return "gopher_symbol_ratio"
    if v.lines:
        if sum(ln.startswith(BULLETS) for ln in v.lines) / len(v.lines) > t.max_bullet_lines_ratio:
            return "gopher_bullet_lines"
        if sum(ln.endswith(ELLIPSES) for ln in v.lines) / len(v.lines) > t.max_ellipsis_lines_ratio:
            return "gopher_ellipsis_lines"
    if sum(any(c.isalpha() for c in w) for w in v.words) / n < t.min_alpha_words_ratio:
        return "gopher_alpha_words"
    stop = set(t.stop_words)
    if sum(1 for w in v.words if w.lower() in stop) < t.min_stop_words:
        return "gopher_stop_words"
    return None


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
    if len(words) < n:
        return 0.0
    grams = Counter(zip(*(words[i:] for i in range(n)), strict=False))
    gram, count = grams.most_common(1)[0]
    if count <= 1:
        return 0.0
    return sum(map(len, gram)) * count / max(sum(map(len, words)), 1)


def duplicated_ngram_char_fraction(words: list[str], n: int) -> float:
    """Characters in *repeated* occurrences of word n-grams, over all word characters.

    Scans left to right; an n-gram seen before counts its characters and the scan jumps
    past it (so overlapping repeats are not double counted); first occurrences do not count.
    """
    if len(words) < n:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    repeated = 0
    i, last = 0, len(words) - n
    while i <= last:
        gram = tuple(words[i : i + n])
        if gram in seen:
            repeated += sum(map(len, gram))
            i += n
        else:
            seen.add(gram)
            i += 1
    return repeated / max(sum(map(len, words)), 1)


def gopher_repetition(v: TextView, t: Thresholds) -> str | None:
    line_frac, line_chars = _dup_fraction(v.lines)
    if line_frac > t.max_dup_line_frac:
        return "gopher_dup_lines"
    if line_chars > t.max_dup_line_char_frac:
        return "gopher_dup_line_chars"
    para_frac, para_chars = _dup_fraction(v.paragraphs)
    if para_frac > t.max_dup_para_frac:
        return "gopher_dup_paragraphs"
    if para_chars > t.max_dup_para_char_frac:
        return "gopher_dup_paragraph_chars"
    for n, limit in sorted(t.top_ngram_max_frac.items()):
        if top_ngram_char_fraction(v.tokens, n) > limit:
            return f"gopher_top_{n}gram"
    for n, limit in sorted(t.dup_ngram_max_frac.items()):
        if duplicated_ngram_char_fraction(v.tokens, n) > limit:
            return f"gopher_dup_{n}gram"
    return None


# -- C4 ------------------------------------------------------------------------------------------
SENTENCE_END = re.compile(r"[.!?。！？]+")


def c4_clean(v: TextView, t: Thresholds) -> tuple[str, str | None]:
    """C4 line clean-up then page rules: returns (cleaned text, drop reason or None)."""
    lower = v.text.lower()
    for phrase in t.c4_bad_page_phrases:
        if phrase in lower:
            return v.text, "c4_lorem_ipsum" if phrase == "lorem ipsum" else "c4_curly_bracket"
    kept: list[str] = []
    for para in re.split(r"(\n\s*\n)", v.text):
        if not para.strip():
            kept.append(para)
            continue
        lines = []
        for line in para.split("\n"):
            s = line.strip()
            if not s.endswith(tuple(t.terminal_punctuation)):
                continue
            if len(segment_words(s, v.lang)) < t.c4_min_words_per_line:
                continue
            ls = s.lower()
            if any(p in ls for p in t.c4_bad_line_phrases):
                continue
            if max((len(w) for w in s.split()), default=0) > t.c4_max_word_length:
                continue
            lines.append(s)
        if lines:
            kept.append("\n".join(lines))
    cleaned = re.sub(r"\n{3,}", "\n\n", "".join(kept)).strip()
    if len(SENTENCE_END.findall(cleaned)) < t.c4_min_sentences:
        return cleaned, "c4_too_few_sentences"
    return cleaned, None


# -- FineWeb ---------------------------------------------------------------------------------
def fineweb(v: TextView, t: Thresholds) -> str | None:
    if not v.lines:
        return "fineweb_empty"
    ends = tuple(t.terminal_punctuation)
    if sum(ln.endswith(ends) for ln in v.lines) / len(v.lines) < t.fineweb_min_line_punct_ratio:
        return "fineweb_line_punctuation"
    if sum(len(ln) <= t.fineweb_short_line_chars for ln in v.lines) / len(v.lines) > t.fineweb_max_short_line_ratio:
        return "fineweb_short_lines"
    _, dup_chars = _dup_fraction(v.lines)
    if dup_chars > t.fineweb_max_dup_line_char_ratio:
        return "fineweb_dup_line_chars"
    if v.words and v.text.count("\n") / len(v.words) > t.fineweb_max_newline_word_ratio:
        return "fineweb_list_like"
    return None

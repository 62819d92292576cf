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
    """The pieces every filter needs, computed once."""

    text: str
    lang: str | None
    lines: list[str]  # non-empty lines, stripped
    content_lines: list[str]  # lines without attribution lines ("-- 李白《将进酒》"): line statistics
    paragraphs: list[str]
    words: list[str]  # words without punctuation (counts, lengths, stop words)
    tokens: list[str]  # whitespace tokens (en) or segments incl. punctuation (zh): repetition n-grams

    @classmethod
    def of(cls, text: str, lang: str | None, attribution_prefixes: tuple[str, ...] = ()) -> TextView:
        lines = [ln for ln in (s.strip() for s in text.split("\n")) if ln]
        content = (
            [ln for ln in lines if not ln.startswith(attribution_prefixes)] if attribution_prefixes else lines
        )
        paragraphs = [p for p in (s.strip() for s in re.split(r"\n\s*\n", text)) if p]
        if attribution_prefixes:
            paragraphs = [p for p in paragraphs if not p.startswith(attribution_prefixes) or "\n" in p]
        # Citations are not content: words and repetition n-grams come from the other lines.
        body = text if content is lines else "\n".join(content)
        words, tokens = segment_words(body, lang, with_tokens=True)
        return cls(text, lang, lines, content, paragraphs, words, tokens)


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
    no_alpha = len(NO_ALPHA_WORD.findall("\n".join(v.words)))
    if (n - no_alpha) / n < t.min_alpha_words_ratio:
        return "gopher_alpha_words"
    if not has_stop_words(v.words, frozenset(t.stop_words), t.min_stop_words):
        return "gopher_stop_words"
    return None


def has_stop_words(words: list[str], stop: frozenset[str], needed: int) -> bool:
    """At least ``needed`` stop words; stops scanning as soon as they are found."""
    if needed <= 0:
        return True
    found = 0
    for w in words:
        if w in stop or w.lower() in stop:
            found += 1
            if found >= needed:
                return True
    return False


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


def gopher_repetition(v: TextView, t: Thresholds) -> str | None:
    line_frac, line_chars = _dup_fraction(v.content_lines)
    if line_frac > t.max_dup_line_frac:
        return "gopher_dup_lines"
    if line_chars > t.max_dup_line_char_frac:
        return "gopher_dup_line_chars"
    para_frac, para_chars = _dup_fraction(v.paragraphs)
    if para_frac > t.max_dup_para_frac:
        return "gopher_dup_paragraphs"
    if para_chars > t.max_dup_para_char_frac:
        return "gopher_dup_paragraph_chars"
    index = NgramIndex(v.tokens)
    for n, limit in sorted(t.top_ngram_max_frac.items()):
        if index.top_exceeds(n, limit):
            return f"gopher_top_{n}gram"
    n = index.first_duplicated_over(t.dup_ngram_max_frac)
    if n is not None:
        return f"gopher_dup_{n}gram"
    return None


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


CJK_CHAR = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff5e]")
NOT_PROSE_LINE = re.compile("[\u2500-\u257f|]|^\\s*(?:[$#>*+•-]\\s|$)")  # table rows, prompts, bullets


def join_wrapped_lines(lines: list[str], terminal: tuple[str, ...]) -> list[str]:
    """Undo hard wrapping in CJK text: a line that stops mid-sentence continues on the next.

    Chinese text wrapped at a fixed width (manuals, e-texts) breaks sentences across
    lines; C4's "line ends with terminal punctuation" rule would then delete every piece.
    Two lines are joined only when the first does not end a sentence, a CJK character
    meets the break, and neither line is a table row, prompt or bullet item.
    """
    out: list[str] = []
    for line in lines:
        s = line.strip()
        if (
            out
            and s
            and not out[-1].endswith(terminal)
            and (CJK_CHAR.match(s[0]) or CJK_CHAR.match(out[-1][-1]))
            and not NOT_PROSE_LINE.search(out[-1])
            and not NOT_PROSE_LINE.search(s)
        ):
            sep = "" if CJK_CHAR.match(s[0]) and CJK_CHAR.match(out[-1][-1]) else " "
            out[-1] = out[-1] + sep + s
        elif s:
            out.append(s)
    return out


def c4_clean(text: str, lang: str | None, t: Thresholds) -> tuple[str, str | None]:
    """C4 line clean-up then page rules: returns (cleaned text, drop reason or None)."""
    lower = text.lower()
    for phrase in t.c4_bad_page_phrases:
        if phrase in lower:
            return text, "c4_lorem_ipsum" if phrase == "lorem ipsum" else "c4_curly_bracket"
    kept: list[str] = []
    for para in re.split(r"(\n\s*\n)", text):
        if not para.strip():
            kept.append(para)
            continue
        lines = []
        raw_lines = para.split("\n")
        if t.c4_join_wrapped_lines:
            raw_lines = join_wrapped_lines(raw_lines, tuple(t.terminal_punctuation))
        for line in raw_lines:
            s = line.strip()
            if not s.endswith(tuple(t.terminal_punctuation)):
                continue
            if line_word_count(s, lang, t.c4_min_words_per_line) < t.c4_min_words_per_line:
                continue
            ls = s.lower()
            if any(p in ls for p in t.c4_bad_line_phrases):
                continue
            if len(s) > t.c4_max_word_length and max(map(len, s.split())) > t.c4_max_word_length:
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
    lines = v.content_lines
    if not lines:
        return "fineweb_empty"
    ends = tuple(t.terminal_punctuation)
    if sum(ln.endswith(ends) for ln in lines) / len(lines) < t.fineweb_min_line_punct_ratio:
        return "fineweb_line_punctuation"
    if (
        sum(len(ln) <= t.fineweb_short_line_chars for ln in lines) / len(lines)
        > t.fineweb_max_short_line_ratio
    ):
        return "fineweb_short_lines"
    _, dup_chars = _dup_fraction(lines)
    if dup_chars > t.fineweb_max_dup_line_char_ratio:
        return "fineweb_dup_line_chars"
    newlines = v.text.count("\n") - (len(v.lines) - len(lines))  # attribution lines are not list items
    if v.words and newlines / len(v.words) > t.fineweb_max_newline_word_ratio:
        return "fineweb_list_like"
    return None

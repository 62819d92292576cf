"""Words per language: whitespace languages by regex, Chinese/Japanese by a segmenter.

Splitting Chinese on ``\\W`` or whitespace turns a whole sentence into one "word", which
is why generic quality filters drop nearly all Chinese prose. ``rjieba`` (Rust port of
jieba, ships its dictionary in the wheel) segments at several MB/s.
"""

from __future__ import annotations

import re

WORD = re.compile(r"\w+(?:['’\-]\w+)*")
HAS_WORD_CHAR = re.compile(r"\w")
DIGIT = re.compile(r"\d")
CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")
SEGMENTED_LANGUAGES = frozenset({"zh", "ja"})


def is_cjk_text(text: str, sample: int = 400) -> bool:
    """Mostly Chinese/Japanese: more CJK characters than Latin words in the first ``sample``
    characters. (Comparing characters with characters called technical Chinese, full of
    option names and English terms, "not CJK".)"""
    head = text[:sample]
    return len(CJK.findall(head)) > len(LATIN_WORD.findall(head))


def merge_digit_runs(tokens: list[str]) -> list[str]:
    """Join digit tokens that jieba splits one by one (full-width "１００２" -> 4 tokens).

    Without this a poem header with two years counts 8 non-alphabetic "words" and fails
    Gopher's alphabetic-word ratio.
    """
    out: list[str] = []
    for tok in tokens:
        if out and tok.isdigit() and out[-1].isdigit():
            out[-1] += tok
        else:
            out.append(tok)
    return out


def words(text: str, lang: str | None, with_tokens: bool = False):
    """Word tokens without punctuation or whitespace; with ``with_tokens`` also the raw tokens.

    Raw tokens are what Gopher's repetition rules count n-grams over: whitespace-separated
    tokens (punctuation attached) for space-separated languages, segments including
    punctuation for Chinese/Japanese.
    """
    if lang in SEGMENTED_LANGUAGES or (lang is None and is_cjk_text(text)):
        import rjieba

        tokens = [t for t in rjieba.cut(text) if not t.isspace()]
        if DIGIT.search(text):
            tokens = merge_digit_runs(tokens)
        found = [t for t in tokens if t.isalnum() or HAS_WORD_CHAR.search(t)]
    else:
        found = WORD.findall(text)
        tokens = text.split() if with_tokens else []
    return (found, tokens) if with_tokens else found

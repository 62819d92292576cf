"""Words per language: whitespace languages by regex, Chinese/Japanese by a segmenter.

Splitting Chinese on ``\\W`` or whitespace turns a whole sentence into one "word", which
is why generic quality filters drop nearly all Chinese prose. ``rjieba`` (Rust port of
jieba, ships its dictionary in the wheel) segments at several MB/s.
"""

from __future__ import annotations

import re

WORD = re.compile(r"\w+(?:['’\-]\w+)*")
HAS_WORD_CHAR = re.compile(r"\w")
CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
SEGMENTED_LANGUAGES = frozenset({"zh", "ja"})


def is_cjk_text(text: str, sample: int = 400) -> bool:
    head = text[:sample]
    return len(CJK.findall(head)) > 0.3 * max(len(head.replace(" ", "")), 1)


def words(text: str, lang: str | None, with_tokens: bool = False):
    """Word tokens without punctuation or whitespace; with ``with_tokens`` also the raw tokens.

    Raw tokens are what Gopher's repetition rules count n-grams over: whitespace-separated
    tokens (punctuation attached) for space-separated languages, segments including
    punctuation for Chinese/Japanese.
    """
    if lang in SEGMENTED_LANGUAGES or (lang is None and is_cjk_text(text)):
        import rjieba

        tokens = [t for t in rjieba.cut(text) if not t.isspace()]
        found = [t for t in tokens if HAS_WORD_CHAR.search(t)]
    else:
        found = WORD.findall(text)
        tokens = text.split() if with_tokens else []
    return (found, tokens) if with_tokens else found

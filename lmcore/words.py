"""A document as the words word vectors are trained on: one rule for word2vec, GloVe and their tests.

Both halves use it (``pipelines.cooccur`` counts GloVe's co-occurrences over these words,
``lm_train.word2vec`` feeds them to gensim), so a word means the same thing to both.

The rule, in order:

* Runs of CJK characters (Han ideographs and kana) are segmented with jieba (``rjieba``):
  ``"汽车和轿车"`` -> ``["汽车", "和", "轿车"]``. This holds in every document, whatever its
  ``lang``: a Chinese term inside an English page is segmented too, and English terms inside a
  Chinese page are split like English. (Splitting Chinese on whitespace makes a sentence one
  "word".)
* Everything else is split by a Unicode word pattern: letters/digits/underscore, with inner
  apostrophes or hyphens kept (``don't``, ``command-line``, ``utf-8``).
* Words are lowercased (``str.lower``; CJK has no case).
* A word without any letter is dropped: numbers (``2024``, ``3.14`` -> ``3``, ``14``),
  punctuation and symbols never become vocabulary. Words with a letter and digits stay
  (``utf-8``, ``x86_64``, ``ipv6``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

# Han (CJK Unified + Extension A + Compatibility) and Japanese kana; not CJK punctuation
# (U+3000-303F) or full-width forms, so "，。" and "１２" never reach the segmenter.
CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
WORD = re.compile(r"\w+(?:['’\-]\w+)*")
_LETTER = re.compile(r"[^\W\d_]")  # a Unicode letter: \w minus digits and underscore


@functools.cache
def _cut() -> Callable[[str], list[str]]:
    """jieba's ``cut`` from ``rjieba`` (a base dependency), imported on the first Chinese text."""
    try:
        import rjieba
    except ImportError:  # pragma: no cover - rjieba is in the base install
        raise ImportError(
            "segmenting Chinese words needs rjieba, which is not installed: pip install rjieba"
        ) from None
    return rjieba.cut


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds any character jieba segments."""
    return CJK_RUN.search(text) is not None


def _latin_words(text: str, out: list[str]) -> None:
    for word in WORD.findall(text):
        if _LETTER.search(word):
            out.append(word.lower())


def split_words(text: str, lang: str | None = None) -> list[str]:
    """The words of one document, in order (see the module docstring for the rule).

    ``lang`` is accepted so callers can pass a document's label, but the rule does not need
    it: CJK characters are what make jieba run, so an unlabelled or mislabelled document is
    split the same way as a labelled one.
    """
    del lang  # the characters decide; see the docstring
    out: list[str] = []
    if not has_cjk(text):
        _latin_words(text, out)
        return out
    cut = _cut()
    start = 0
    for run in CJK_RUN.finditer(text):
        if run.start() > start:
            _latin_words(text[start : run.start()], out)
        out.extend(tok for tok in cut(run.group()) if _LETTER.search(tok))
        start = run.end()
    if start < len(text):
        _latin_words(text[start:], out)
    return out


__all__ = ["CJK_RUN", "WORD", "has_cjk", "split_words"]

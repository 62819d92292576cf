"""Offline language identification with py3langid (its model ships inside the wheel).

Loaded once per worker (``DoFn.setup``), never pickled. Probabilities are normalised, so
``lang_score`` is comparable to a threshold. Only the first ``max_chars`` characters are
classified: enough for a reliable answer, and the cost stays flat for long documents.
"""

from __future__ import annotations

from dataclasses import dataclass

_IDENTIFIER = None


def identifier():
    global _IDENTIFIER
    if _IDENTIFIER is None:
        from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

        _IDENTIFIER = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)
    return _IDENTIFIER


@dataclass(frozen=True)
class LangResult:
    lang: str
    score: float


def identify(text: str, max_chars: int = 600, max_bytes: int = 1024) -> LangResult:
    """Language and probability of the first ``max_chars`` characters (at most ``max_bytes`` UTF-8 bytes).

    py3langid's cost is a Python loop per byte, so the byte cap keeps Chinese (3 bytes a
    character) as cheap as English; a few hundred characters are plenty for a confident answer.
    """
    head = text[:max_chars].encode("utf-8")[:max_bytes]  # py3langid trims a cut-off last character
    ranked = identifier().rank(head)
    lang, score = ranked[0]
    family = FAMILIES.get(lang)
    if family is not None:  # written Chinese: the model splits its probability among varieties
        lang, score = family, sum(p for code, p in ranked if FAMILIES.get(code) == family)
    return LangResult(str(lang), min(float(score), 1.0))


# Codes the model gives to varieties written with the same script and standard: Cantonese
# and Wu are told apart from Mandarin by a few characters, so technical Chinese (man pages
# full of option names) often lands on them, with the probability split among the three.
FAMILIES = {"zh": "zh", "yue": "zh", "wuu": "zh"}

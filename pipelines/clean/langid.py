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


def identify(text: str, max_chars: int = 2000) -> LangResult:
    lang, score = identifier().classify(text[:max_chars])
    return LangResult(str(lang), float(score))

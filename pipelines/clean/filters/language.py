"""Language rules: the languages a corpus allows, and how sure identification must be."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipelines.clean.thresholds import Thresholds

if TYPE_CHECKING:
    from pipelines.clean.filters.rule import Page


def language_allowed(page: Page, t: Thresholds) -> str | None:
    """A setting, not a measure (``clean.languages``; empty: any language)."""
    languages = page.config.languages
    if languages and page.lang not in languages:
        return "language_not_allowed"
    return None


def language_score_judge(page: Page, t: Thresholds) -> str | None:
    """The live decision reads the exact score; the stored one is rounded."""
    return "language_score_low" if page.lang_score < t.min_lang_score else None


def language_score_reason(m: Mapping[str, Any], t: Thresholds) -> str | None:
    return "language_score_low" if m.get("lang_score", 1.0) < t.min_lang_score else None

"""Length limits: too short to teach anything, too long to be one document.

Over ``max_chars`` a text is dropped, never truncated: half a document is a worse
training example than none (the reader already quarantines anything over
``read.max_doc_bytes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipelines.clean.thresholds import Thresholds

if TYPE_CHECKING:
    from pipelines.clean.filters.rule import Page, Scores


def length_measures(page: Page, t: Thresholds) -> Scores:
    return {"chars": len(page.text)}


def length_reason(m: Mapping[str, Any], t: Thresholds) -> str | None:
    if m["chars"] < t.min_chars:
        return "too_short"
    if m["chars"] > t.max_chars:
        return "too_long"
    return None

"""Settings for the clean stage (the ``clean:`` section of ``--config``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CleanConfig:
    languages: list[str] = field(default_factory=lambda: ["en", "zh"])  # allowed; empty list = any language
    html_extractor: str = "resiliparse"  # or "trafilatura"
    normalize: bool = True
    langid_chars: int = 600  # characters given to language identification (its cost grows with them)
    gopher_quality: bool = True
    gopher_repetition: bool = True
    c4: bool = True
    fineweb: bool = True
    pii: bool = True
    # Per-language threshold overrides on top of pipelines/clean/languages/*.yaml, e.g.
    # {"zh": {"min_words": 30}, "default": {"min_chars": 100}}
    thresholds: dict[str, Any] = field(default_factory=dict)

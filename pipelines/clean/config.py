"""Settings for the clean stage (the ``clean:`` section of ``--config``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lmcore.config import at_least, one_of, require
from pipelines.clean.presets import PRESET_NAMES
from pipelines.clean.thresholds import check_thresholds

HTML_EXTRACTORS = ("resiliparse", "trafilatura")
ZH_CONVERSIONS = ("none", "t2s", "tw2s", "hk2s")


@dataclass
class CleanConfig:
    # what the corpus is (pipelines/clean/presets.py): "web" for crawls, "docs" for
    # documentation and code-bearing text
    preset: str = "docs"
    languages: list[str] = field(default_factory=lambda: ["en", "zh"])  # allowed; empty list = any language
    html_extractor: str = "resiliparse"  # one of HTML_EXTRACTORS
    normalize: bool = True
    # Chinese: "t2s" converts Traditional to Simplified characters (OpenCC; "tw2s"/"hk2s"
    # for sources known to be Taiwanese or Hong Kong text, see clean/chinese.py); full-width
    # ASCII letters, digits and symbols become half-width (Chinese punctuation stays)
    zh_convert: str = "none"
    fullwidth_ascii: bool = True
    langid_chars: int = 600  # characters given to language identification (its cost grows with them)
    gopher_quality: bool = True
    gopher_repetition: bool = True
    c4: bool = True
    fineweb: bool = True
    pii: bool = True
    # keep the measures behind every rule in each document's meta["quality"]
    keep_scores: bool = True
    # Per-language threshold overrides on top of the defaults (pipelines/clean/thresholds.py),
    # the language files and the preset (pipelines/clean/languages/*.yaml), e.g.
    # {"zh": {"min_words": 30}, "default": {"min_chars": 100}}; "default": every language
    thresholds: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """A wrong value fails when the config is loaded, before any work starts."""
        one_of(self.preset, PRESET_NAMES, "clean.preset")
        one_of(self.html_extractor, HTML_EXTRACTORS, "clean.html_extractor")
        one_of(self.zh_convert, ZH_CONVERSIONS, "clean.zh_convert")
        require(all(self.languages), "clean.languages must not contain an empty language code")
        at_least(self.langid_chars, "clean.langid_chars", 1)
        # every language's thresholds (files and overrides): a typo fails here, not in a worker
        check_thresholds(self.threshold_overrides(), self.preset, self.languages)

    def threshold_overrides(self) -> str:
        """The ``thresholds`` section as YAML text (the cache key of ``load_thresholds``)."""
        import yaml

        return yaml.safe_dump(self.thresholds, sort_keys=True) if self.thresholds else ""

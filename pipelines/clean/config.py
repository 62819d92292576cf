"""Settings for the clean stage (the ``clean:`` section of ``--config``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipelines.clean.presets import PRESET_NAMES

HTML_EXTRACTORS = ("resiliparse", "trafilatura")
ZH_CONVERSIONS = ("none", "t2s", "tw2s", "hk2s")


@dataclass
class CleanConfig:
    # what the corpus is (pipelines/clean/presets.py): "web" for crawls, "docs" for
    # documentation and code-bearing text
    preset: str = "docs"
    languages: list[str] = field(default_factory=lambda: ["en", "zh"])  # allowed; empty list = any language
    html_extractor: str = "resiliparse"  # or "trafilatura"
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
    # Per-language threshold overrides on top of pipelines/clean/languages/*.yaml, e.g.
    # {"zh": {"min_words": 30}, "default": {"min_chars": 100}}
    thresholds: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.preset not in PRESET_NAMES:
            raise ValueError(f"clean.preset must be one of {', '.join(PRESET_NAMES)}, not {self.preset!r}")
        if self.html_extractor not in HTML_EXTRACTORS:
            raise ValueError(
                f"clean.html_extractor must be one of {', '.join(HTML_EXTRACTORS)}, not {self.html_extractor!r}"
            )
        if self.zh_convert not in ZH_CONVERSIONS:
            raise ValueError(
                f"clean.zh_convert must be one of {', '.join(ZH_CONVERSIONS)}, not {self.zh_convert!r}"
            )
        self.threshold_overrides()  # a typo in a threshold fails here, not in a worker

    def threshold_overrides(self) -> str:
        """The ``thresholds`` section as YAML text (the cache key of ``load_thresholds``),
        checked: every language section must name known thresholds."""
        import yaml

        from pipelines.clean.thresholds import load_thresholds

        if not self.thresholds:
            return ""
        text = yaml.safe_dump(self.thresholds, sort_keys=True)
        for lang in self.thresholds:
            if not isinstance(self.thresholds[lang], dict):
                raise ValueError(f"clean.thresholds.{lang} must be a mapping of threshold: value")
            load_thresholds(None if lang == "default" else lang, overrides=text, preset=self.preset)
        return text

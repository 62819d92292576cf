"""Settings for the clean stage."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CleanConfig:
    languages: list[str] = field(default_factory=lambda: ["en", "zh"])  # allowed languages

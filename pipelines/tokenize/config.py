"""Settings for the tokenize stage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenizeConfig:
    vocab_size: int = 8192

"""Settings for the dedup stage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DedupConfig:
    exact: bool = True

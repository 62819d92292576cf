"""Pipeline settings: one dataclass per section, defaults in code, overrides from ``--config``
YAML and ``--set key=value``.

The YAML file mirrors ``PipelineConfig`` (``--print-config`` prints every key with its value)::

    read:   {text_field: content}
    clean:  {languages: [en, zh], thresholds: {zh: {min_words: 30}}}
    dedup:  {threshold: 0.7}
    tokenize: {vocab_size: 16384}

Unknown keys, wrong types and values out of range are errors that name the key, raised
while the config is loaded, so a typo never silently falls back to a default and never
surfaces in a worker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from lmcore.config import load, parse_overrides
from pipelines.clean.config import CleanConfig
from pipelines.dedup.config import DedupConfig
from pipelines.io.config import ReadConfig
from pipelines.tokenize.config import TokenizeConfig

__all__ = ["PipelineConfig", "load_pipeline_config"]


@dataclasses.dataclass
class PipelineConfig:
    read: ReadConfig = dataclasses.field(default_factory=ReadConfig)
    clean: CleanConfig = dataclasses.field(default_factory=CleanConfig)
    dedup: DedupConfig = dataclasses.field(default_factory=DedupConfig)
    tokenize: TokenizeConfig = dataclasses.field(default_factory=TokenizeConfig)


def load_pipeline_config(
    path: str | None = None, overrides: Mapping[str, Any] | Iterable[str] | None = None
) -> PipelineConfig:
    """Defaults, then the YAML file at ``path``, then ``overrides``: a nested mapping, or
    ``key=value`` items as ``--set`` takes them (``["dedup.threshold=0.7"]``)."""
    if overrides is not None and not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    return load(PipelineConfig, path, overrides, where="config")

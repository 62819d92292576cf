"""Pipeline settings: one dataclass per section, defaults in code, overrides from ``--config`` YAML.

The YAML file mirrors ``PipelineConfig``::

    read:   {text_field: content}
    clean:  {languages: [en, zh]}
    dedup:  {fuzzy: {threshold: 0.8}}
    tokenize: {vocab_size: 16384}

Unknown keys and wrong types are errors that name the key, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from lmcore.config import ConfigError, from_dict, load, merge, to_dict
from pipelines.clean.config import CleanConfig
from pipelines.dedup.config import DedupConfig
from pipelines.io.config import ReadConfig
from pipelines.tokenize.config import TokenizeConfig

__all__ = ["ConfigError", "PipelineConfig", "from_dict", "load_pipeline_config", "merge", "to_dict"]


@dataclasses.dataclass
class PipelineConfig:
    read: ReadConfig = dataclasses.field(default_factory=ReadConfig)
    clean: CleanConfig = dataclasses.field(default_factory=CleanConfig)
    dedup: DedupConfig = dataclasses.field(default_factory=DedupConfig)
    tokenize: TokenizeConfig = dataclasses.field(default_factory=TokenizeConfig)


def load_pipeline_config(
    path: str | None = None, overrides: Mapping[str, Any] | None = None
) -> PipelineConfig:
    """Defaults, then the YAML file at ``path``, then ``overrides``."""
    return load(PipelineConfig, path, overrides, where="config")

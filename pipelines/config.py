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
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pipelines import fsutil
from pipelines.clean.config import CleanConfig
from pipelines.dedup.config import DedupConfig
from pipelines.io.config import ReadConfig
from pipelines.tokenize.config import TokenizeConfig

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value that is unknown or of the wrong type."""


@dataclasses.dataclass
class PipelineConfig:
    read: ReadConfig = dataclasses.field(default_factory=ReadConfig)
    clean: CleanConfig = dataclasses.field(default_factory=CleanConfig)
    dedup: DedupConfig = dataclasses.field(default_factory=DedupConfig)
    tokenize: TokenizeConfig = dataclasses.field(default_factory=TokenizeConfig)


def _check_value(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in args:
            try:
                return _check_value(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: {value!r} matches none of {annotation}")
    if annotation is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null, got {value!r}")
        return None
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, where)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        item = args[0] if args else Any
        checked = [_check_value(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(checked) if origin is tuple else checked
    if origin is dict or annotation is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        vt = args[1] if len(args) == 2 else Any
        return {k: _check_value(v, vt, f"{where}.{k}") for k, v in value.items()}
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation in (str, bool):
        if not isinstance(value, annotation):
            raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping, recursively; unknown keys and bad types raise ``ConfigError``."""
    if isinstance(data, cls):
        return data
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(fields)}")
    kwargs = {name: _check_value(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a dataclass's own checks (__post_init__)
        raise ConfigError(f"{where}: {exc}") from None


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two plain mappings (override wins)."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def load_yaml(path: str) -> dict[str, Any]:
    return fsutil.read_yaml_mapping(path, ConfigError)


def load_pipeline_config(
    path: str | None = None, overrides: Mapping[str, Any] | None = None
) -> PipelineConfig:
    """Defaults, then the YAML file at ``path``, then ``overrides``."""
    data: dict[str, Any] = load_yaml(path) if path else {}
    if overrides:
        data = merge(data, overrides)
    return from_dict(PipelineConfig, data, "config")

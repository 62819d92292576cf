"""The one configuration loader of lmforge: defaults in dataclasses, a YAML file, then overrides.

Both halves describe their settings as (nested) dataclasses and load them with ``load``:

    config = load(PipelineConfig, "prepare.yaml", parse_overrides(["dedup.threshold=0.7"]))

Every value is checked against its field's type when it is loaded (unknown keys and wrong
types are errors that name the key), and every dataclass checks its ranges in
``__post_init__`` with ``require`` / ``one_of`` / ``in_range`` / ``at_least``, so a bad value fails before
any work starts with one ``ConfigError``, never in a worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value that is unknown, of the wrong type or out of range; the message names it."""


# -- range checks: one style for every section ---------------------------------------------


def require(ok: bool, message: str) -> None:
    """Raise ``ConfigError(message)`` unless ``ok``; ``message`` names the key and what is allowed."""
    if not ok:
        raise ConfigError(message)


def one_of(value: Any, choices: Iterable[Any], key: str) -> None:
    choices = tuple(choices)
    require(value in choices, f"{key} must be one of {', '.join(map(str, choices))}, not {value!r}")


def in_range(
    value: float,
    key: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """``low <= value <= high`` (``<`` on an open side); either bound may be ``None``."""
    ok = (low is None or (value > low if low_open else value >= low)) and (
        high is None or (value < high if high_open else value <= high)
    )
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else _bound(low)
        hi = "inf" if high is None else _bound(high)
        raise ConfigError(f"{key} must be in {left}{lo}, {hi}{right}, not {value!r}")


def _bound(x: float) -> str:
    """A range's bound as written: integers exactly, other numbers short (0.5, 1e-06)."""
    return str(x) if isinstance(x, int) else f"{x:g}"


def at_least(value: float, key: str, low: float, *, strict: bool = False) -> None:
    """``value >= low`` (``>`` when ``strict``): counts, sizes, lengths."""
    ok = value > low if strict else value >= low
    require(ok, f"{key} must be {'>' if strict else '>='} {_bound(low)}, not {value!r}")


# -- typed construction ------------------------------------------------------------------------


def _number(value: Any) -> Any:
    """``"1e-3"`` as 0.001: PyYAML follows YAML 1.1, which reads ``1e-3`` (no dot) as a string."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value.strip())
    return value


def _check_value(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            with contextlib.suppress(ConfigError):
                return _check_value(value, arg, where)
        names = " or ".join("null" if a is type(None) else getattr(a, "__name__", str(a)) for a in args)
        raise ConfigError(f"{where}: expected {names}, got {value!r}")
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
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        kt, vt = args if len(args) == 2 else (Any, Any)
        return {_check_key(k, kt, where): _check_value(v, vt, f"{where}.{k}") for k, v in value.items()}
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if annotation is int:
        number = _number(value)
        if isinstance(number, float) and math.isfinite(number) and number.is_integer():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return number
    if annotation is float:
        number = _number(value)
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(number):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return float(number)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _check_key(key: Any, annotation: Any, where: str) -> Any:
    """A mapping's key as its annotated number type (``"5"`` -> 5: JSON keys are strings);
    other keys are kept as they are."""
    if annotation in (int, float):
        return _check_value(key, annotation, f"{where} key {key!r}")
    return key


def typed_fields(cls: type, data: Any, where: str, *, unknown: str = "unknown key(s)") -> dict[str, Any]:
    """``data``'s values checked against (and converted to) the types of ``cls``'s fields:
    the keyword arguments of ``cls`` without building it. ``unknown`` starts the message
    for keys ``cls`` does not have."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    extra = sorted(str(k) for k in set(data) - set(fields))
    if extra:
        raise ConfigError(f"{where}: {unknown} {extra}; known keys: {sorted(fields)}")
    return {name: _check_value(value, hints[name], f"{where}.{name}") for name, value in data.items()}


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping, recursively; unknown keys, bad types and
    out-of-range values raise ``ConfigError`` naming the key."""
    if isinstance(data, cls):
        return data
    kwargs = typed_fields(cls, data, where)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # a dataclass's own checks
        raise ConfigError(f"{where}: {exc}") from None


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two plain mappings (override wins)."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


# -- files and overrides ------------------------------------------------------------------------


def load_yaml(path: str) -> dict[str, Any]:
    """The YAML file at ``path`` (local or fsspec URL), whose top level must be a mapping."""
    import yaml

    from lmcore import storage

    try:
        text = storage.read_text(path)
    except FileNotFoundError as exc:
        raise ConfigError(f"--config {path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"--config {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"--config {path}: is a directory; give a YAML file") from exc
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: the top level must be a mapping of key: value")
    return data


def parse_override(item: str) -> tuple[str, Any]:
    """``"lr=1e-3"`` -> ``("lr", 0.001)``; the value is parsed as YAML."""
    import yaml

    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} is not key=value (e.g. lr=1e-3)")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"override {item!r}: the value is not valid YAML ({problem})") from exc
    if isinstance(value, str):  # YAML 1.1 reads "3e-4" as a string; accept the number meant
        with contextlib.suppress(ValueError):
            value = float(value) if any(c in value for c in ".eE") else value
    return key.strip().replace("-", "_"), value


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["lr=1e-3", "dedup.threshold=0.7"]`` -> ``{"lr": 0.001, "dedup": {"threshold": 0.7}}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, value = parse_override(item)
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part} is set to a value and cannot have keys")
            node = child
        node[leaf] = value
    return out


def load(
    cls: type[T],
    path: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    where: str | None = None,
) -> T:
    """Defaults, then the YAML file at ``path``, then ``overrides`` (a nested mapping; later wins)."""
    data: dict[str, Any] = load_yaml(path) if path else {}
    if overrides:
        data = merge(data, overrides)
    return from_dict(cls, data, where or (f"config ({path})" if path else "config"))

"""Table cells and number formats: what a value looks like on a report page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Pct:
    """A share (0..1) printed as a percentage, right-aligned; None prints as an empty cell."""

    value: float | None


@dataclass(frozen=True)
class Pre:
    """Text shown preformatted (samples, excerpts): whitespace is part of what a reader checks."""

    text: Any


def num(value: Any) -> str:
    """Integers with thousands separators, floats to 4 significant digits, None as empty, the rest as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def is_numeric(value: Any) -> bool:
    """Right-aligned cells: numbers, not booleans."""
    return isinstance(value, int | float) and not isinstance(value, bool)

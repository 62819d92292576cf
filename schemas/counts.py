"""Document accounting: every input document ends in exactly one bucket.

``input == kept + sum(dropped) + sum(duplicates) + sum(quarantined)`` must hold for
every ``stats.json`` and every manifest. Inside a Beam pipeline the counts travel in
their *flat* form (``{"dropped/too_short": 3, ...}``), which sums with a plain
``Counter``; ``Counts.from_flat`` turns the combined result into the nested form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BUCKETS = ("dropped", "duplicates", "quarantined")


class CountsError(ValueError):
    """Counts that are malformed or do not add up."""


def _check_reason_map(name: str, value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise CountsError(f"counts.{name}: expected an object of reason -> count, got {type(value).__name__}")
    out: dict[str, int] = {}
    for reason, n in value.items():
        if not isinstance(reason, str) or not reason:
            raise CountsError(f"counts.{name}: reason {reason!r} must be a non-empty string")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise CountsError(f"counts.{name}.{reason}: expected a non-negative integer, got {n!r}")
        out[reason] = n
    return out


@dataclass
class Counts:
    """Where the input documents went. Reasons are short snake_case codes."""

    input: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)

    # -- arithmetic -----------------------------------------------------------------
    def total_removed(self) -> int:
        return sum(self.dropped.values()) + sum(self.duplicates.values()) + sum(self.quarantined.values())

    def is_balanced(self) -> bool:
        return self.input == self.kept + self.total_removed()

    def check_balanced(self, where: str = "counts") -> None:
        """Raise ``CountsError`` explaining the gap when the buckets do not add up to the input."""
        accounted = self.kept + self.total_removed()
        if accounted != self.input:
            raise CountsError(
                f"{where}: input={self.input} but kept={self.kept} + dropped={sum(self.dropped.values())} "
                f"+ duplicates={sum(self.duplicates.values())} + quarantined={sum(self.quarantined.values())} "
                f"= {accounted} (difference {self.input - accounted})"
            )

    def __add__(self, other: Counts) -> Counts:
        return Counts.from_flat(_sum_flat(self.to_flat(), other.to_flat()))

    # -- conversions ----------------------------------------------------------------
    def to_flat(self) -> dict[str, int]:
        flat = {"input": self.input, "kept": self.kept}
        for bucket in BUCKETS:
            for reason, n in getattr(self, bucket).items():
                flat[f"{bucket}/{reason}"] = n
        return flat

    @classmethod
    def from_flat(cls, flat: Mapping[str, int]) -> Counts:
        """Build from ``{"input": n, "kept": n, "dropped/<reason>": n, ...}``; unknown keys are an error."""
        counts = cls()
        for key, n in flat.items():
            if key in ("input", "kept"):
                setattr(counts, key, getattr(counts, key) + int(n))
                continue
            bucket, sep, reason = key.partition("/")
            if not sep or bucket not in BUCKETS or not reason:
                raise CountsError(f"unknown counter {key!r}: expected input, kept or <bucket>/<reason>")
            target = getattr(counts, bucket)
            target[reason] = target.get(reason, 0) + int(n)
        for bucket in BUCKETS:
            setattr(counts, bucket, dict(sorted(getattr(counts, bucket).items())))
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "duplicates": dict(sorted(self.duplicates.items())),
            "quarantined": dict(sorted(self.quarantined.items())),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "counts") -> Counts:
        if not isinstance(data, Mapping):
            raise CountsError(f"{where}: expected an object, got {type(data).__name__}")
        for key in ("input", "kept"):
            if key not in data:
                raise CountsError(f"{where}.{key}: field is missing")
            n = data[key]
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise CountsError(f"{where}.{key}: expected a non-negative integer, got {n!r}")
        return cls(
            input=data["input"],
            kept=data["kept"],
            **{b: _check_reason_map(b, data.get(b, {})) for b in BUCKETS},
        )


def _sum_flat(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out

"""A consistency check as a report shows it, and as ``report.json`` stores it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Check:
    """One statement about the data and whether it holds; a failed ``warning`` does not fail the command."""

    check: str
    ok: bool
    detail: str
    level: str = ERROR

    @property
    def failed_error(self) -> bool:
        return not self.ok and self.level == ERROR

    @property
    def result(self) -> str:
        return "ok" if self.ok else self.level

    @property
    def css_class(self) -> str:
        return "ok" if self.ok else ("bad" if self.level == ERROR else "warn")

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "ok": bool(self.ok), "level": self.level, "detail": self.detail}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Check:
        return cls(d["check"], bool(d["ok"]), d["detail"], d.get("level", ERROR))

"""The report being built: what each section adds (numbers, its status, consistency checks)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from lmcore.report import Check
from lmcore.report.checks import ERROR
from pipelines.report.files import DatasetFiles, inputs_found

OK, SKIPPED = "ok", "skipped"


@dataclass(frozen=True)
class Status:
    """Whether a section had its inputs, and where its numbers came from (or why it was skipped)."""

    ok: bool
    note: str

    def to_dict(self) -> dict[str, str]:
        return {"status": OK if self.ok else SKIPPED, "note": self.note}


@dataclass
class ReportContext:
    """Filled by the sections in order; later sections read what earlier ones found."""

    files: DatasetFiles
    manifest: dict[str, Any] | None = None
    values: dict[str, Any] = field(default_factory=dict)  # the numbers of report.json, by key
    sections: dict[str, Status] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    generated_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def section(self, name: str, ok: bool, note: str) -> None:
        self.sections[name] = Status(bool(ok), note)

    def check(self, name: str, ok: bool, detail: str, level: str = ERROR) -> None:
        self.checks.append(Check(name, bool(ok), detail, level))

    def to_dict(self) -> dict[str, Any]:
        """``report.json``: its keys in the order readers have always seen them."""
        return {
            "dataset_dir": self.files.root,
            "generated_at": self.generated_at,
            "inputs": inputs_found(self.files),
            "sections": {name: s.to_dict() for name, s in self.sections.items()},
            "checks": [c.to_dict() for c in self.checks],
            **self.values,
        }

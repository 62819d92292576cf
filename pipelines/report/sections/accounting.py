"""Where the documents went: the run's counts (``stats.json``, else the manifest's), balanced or not."""

from __future__ import annotations

from typing import Any

from pipelines.dataset import verify
from pipelines.report import data
from pipelines.report.context import ReportContext
from pipelines.report.files import read_json
from pipelines.report.panel import Panel


def _recorded(ctx: ReportContext) -> dict[str, Any] | None:
    """The counts and annotations of the last run (stats.json), else the manifest's cumulative counts."""
    files = ctx.files
    if files.stats:
        stats = read_json(files.stats)
        return {
            "source": files.rel(files.stats),
            "stage": stats.get("stage"),
            "finished_at": stats.get("finished_at"),
            "counts": stats["counts"],
            "balanced": stats.get("balanced"),
            "annotations": stats.get("annotations", {}),
        }
    if ctx.manifest is not None:
        return {
            "source": "manifest.json (cumulative counts)",
            "stage": None,
            "finished_at": None,
            "counts": ctx.manifest["counts"],
            "balanced": None,
            "annotations": {},
        }
    return None


def compute(ctx: ReportContext) -> None:
    acc = _recorded(ctx)
    ctx.values["accounting"] = acc
    if acc is None:
        ctx.section(
            "accounting", False, "no stats.json and no manifest.json: nothing says where documents went"
        )
        return
    counts = acc["counts"]
    balanced, accounted = verify.counts_add_up(counts)
    acc["balanced"] = balanced if acc["balanced"] is None else acc["balanced"]
    acc["removals"] = data.removal_rows(counts)
    acc["cumulative_counts"] = ctx.manifest["counts"] if ctx.manifest is not None else None
    ctx.check(
        f"counts in {acc['source']} add up",
        balanced,
        f"input {counts['input']:,} vs kept + removed {accounted:,}",
    )
    ctx.section("accounting", True, f"from {acc['source']}")


PANELS = (Panel("accounting", "Where the documents went", "sections/accounting.html.j2"),)

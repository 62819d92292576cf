"""Growth across dataset versions: cumulative and added documents/tokens of every committed manifest."""

from __future__ import annotations

from lmcore.report import Figure
from pipelines.report import data
from pipelines.report.context import ReportContext
from pipelines.report.files import read_json
from pipelines.report.panel import Panel, Report
from schemas import load_manifest


def compute(ctx: ReportContext) -> None:
    files = ctx.files
    manifests = [load_manifest(p).to_dict() for _, p in sorted(files.version_manifests.items())]
    if not manifests and ctx.manifest is not None:
        manifests = [ctx.manifest]
    run_stats = {v: read_json(p) for v, p in files.run_stats.items()}
    rows = data.version_rows(manifests, run_stats) if manifests else []
    ctx.values["versions"] = rows
    ctx.section(
        "versions",
        bool(rows),
        f"{len(rows)} version(s) from manifest-v*.json"
        if files.version_manifests
        else ("one unversioned manifest.json" if rows else "no manifest.json: not a tokenize/prepare output"),
    )


def figures(r: Report) -> list[Figure]:
    from pipelines.report import plots

    if not r.get("versions"):
        return []
    return [
        Figure(
            "growth", "Growth across dataset versions", plots.growth(r["versions"], "growth over versions")
        )
    ]


PANELS = (Panel("versions", "Growth across versions", "sections/versions.html.j2", figures),)

"""What dedup removed: duplicate cluster sizes and the most frequent boilerplate lines."""

from __future__ import annotations

from lmcore.layout import BOILERPLATE_FILENAME
from lmcore.report import Figure
from pipelines.report import data
from pipelines.report.context import ReportContext
from pipelines.report.files import read_json
from pipelines.report.panel import Panel, Report

NO_CLUSTERS = (
    "no duplicate clusters recorded (no dedup_clusters annotations in stats.json and no dropped/ "
    "records with duplicate_of)"
)


def _clusters(ctx: ReportContext, annotations: dict) -> None:
    clusters = data.clusters_from_annotations(annotations)
    source = "stats.json annotations dedup_clusters/size_N"
    dropped = ctx.values.get("dropped_records")
    if not clusters and dropped and dropped["cluster_sizes"]:
        clusters, source = dropped["cluster_sizes"], "duplicate_of in dropped/ records"
    ctx.values["duplicate_clusters"] = {"source": source, "sizes": clusters} if clusters else None
    ctx.section("duplicates", bool(clusters), f"from {source}" if clusters else NO_CLUSTERS)


def _boilerplate(ctx: ReportContext, annotations: dict) -> None:
    path = ctx.files.boilerplate
    bp = data.boilerplate_summary(annotations, read_json(path) if path else None)
    found = bool(bp["top_lines"]) or bp["lines_removed"] is not None
    where = ctx.files.rel(path) if path else None
    ctx.values["boilerplate"] = dict(bp, source=where) if found else None
    ctx.section(
        "boilerplate",
        found,
        f"from {where or 'stats.json annotations'}"
        if found
        else f"no boilerplate annotations in stats.json and no {BOILERPLATE_FILENAME} (not a dedup output)",
    )


def compute(ctx: ReportContext) -> None:
    annotations = (ctx.values.get("accounting") or {}).get("annotations") or {}
    _clusters(ctx, annotations)
    _boilerplate(ctx, annotations)


def cluster_figures(r: Report) -> list[Figure]:
    from pipelines.report import plots

    clusters = r.get("duplicate_clusters")
    if not clusters:
        return []
    return [
        Figure(
            "duplicate_cluster_sizes",
            "Duplicate cluster sizes",
            plots.cluster_sizes(clusters["sizes"], "duplicate clusters by size"),
        )
    ]


def boilerplate_figures(r: Report) -> list[Figure]:
    from pipelines.report import plots

    bp = r.get("boilerplate")
    if not (bp and bp["top_lines"]):
        return []
    return [
        Figure(
            "boilerplate_lines",
            "Most frequent removed boilerplate lines",
            plots.boilerplate_lines(bp["top_lines"], "most frequent boilerplate lines"),
        )
    ]


PANELS = (
    Panel("duplicates", "Duplicate clusters", "sections/duplicates.html.j2", cluster_figures),
    Panel("boilerplate", "Removed boilerplate lines", "sections/boilerplate.html.j2", boilerplate_figures),
)

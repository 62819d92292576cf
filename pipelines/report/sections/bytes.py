"""Bytes: where the text went, per stage, rule and source (``stats.json`` annotations), and the worst losses."""

from __future__ import annotations

from lmcore.layout import LOSSES_FILENAME
from lmcore.report import Figure
from pipelines.report import data
from pipelines.report.context import ReportContext
from pipelines.report.files import read_json
from pipelines.report.panel import Panel, Report

NOT_RECORDED = (
    "not recorded: stats.json has no bytes_clean/bytes_dedup annotations and there is no "
    f"{LOSSES_FILENAME} (a dataset written before byte accounting, or no clean/dedup stage)"
)


def compute(ctx: ReportContext) -> None:
    files, acc = ctx.files, ctx.values.get("accounting") or {}
    ann = acc.get("annotations") or {}
    docs = ctx.values.get("documents")
    shard_bytes = sum(ann["text_bytes"].values()) if ann.get("text_bytes") else None
    summary = data.bytes_summary(ann, docs["totals"]["bytes"] if docs else None, shard_bytes)
    ctx.values["bytes"] = summary
    losses = read_json(files.losses) if files.losses else None
    ctx.values["clean_losses"] = (
        {"source": files.rel(files.losses), "documents": data.loss_rows(losses)}
        if isinstance(losses, list)
        else None
    )
    latest = f", the run that made version {max(files.version_manifests)}" if files.version_manifests else ""
    where = [f"{acc['source']} annotations{latest}"] if summary else []
    where += [ctx.values["clean_losses"]["source"]] if ctx.values["clean_losses"] else []
    ctx.section("bytes", bool(where), f"from {' and '.join(where)}" if where else NOT_RECORDED)


def figures(r: Report) -> list[Figure]:
    from pipelines.report import plots

    kept = (r.get("bytes") or {}).get("sources")
    if not kept:
        return []
    return [
        Figure(
            "bytes_kept_by_source",
            "Share of bytes kept per source (clean stage)",
            plots.kept_share_bars(kept, "share of bytes kept, per source"),
        )
    ]


PANELS = (Panel("bytes", "Bytes: where the text went", "sections/bytes.html.j2", figures),)

"""Drop and quarantine reasons: the counted removals, and the records on disk with examples.

In a versioned directory the record files of every version sit side by side, so they are
compared with the manifest's cumulative counts; otherwise with the run's own ``stats.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmcore.report import Figure
from lmcore.report.checks import WARNING
from pipelines.dataset import verify
from pipelines.report import data
from pipelines.report.context import ReportContext
from pipelines.report.panel import Panel, Report

DROP_BUCKETS = ("dropped", "duplicates")


def _reference_counts(ctx: ReportContext) -> Mapping[str, Any]:
    acc = ctx.values.get("accounting") or {}
    versioned = bool(ctx.files.version_manifests)
    return (acc.get("cumulative_counts") if versioned else None) or acc.get("counts") or {}


def _check_records(ctx: ReportContext, dropped: dict | None, quarantine: dict | None) -> None:
    reference = _reference_counts(ctx)
    if quarantine is not None and reference:
        expected = sum(reference.get("quarantined", {}).values())
        ctx.check(
            "quarantine records match the counts",
            quarantine["records"] == expected,
            f"{quarantine['records']:,} records in quarantine/, counts say {expected:,}",
        )
    if dropped is not None and reference:
        expected = verify.removed_documents({b: reference.get(b, {}) for b in DROP_BUCKETS})
        ctx.check(
            "dropped records cover every dropped or duplicate document",
            dropped["documents"] == expected,
            f"{dropped['documents']:,} records in dropped/, counts say {expected:,} (dropped records are "
            "only written with --keep-dropped)",
            level=WARNING,
        )


def compute(ctx: ReportContext) -> None:
    files = ctx.files
    dropped = data.summarise_dropped(data.read_dropped_tables(files.dropped)) if files.dropped else None
    quarantine = data.summarise_quarantine(data.iter_jsonl_gz(files.quarantine)) if files.quarantine else None
    ctx.values["dropped_records"] = dropped
    ctx.values["quarantine_records"] = quarantine
    _check_records(ctx, dropped, quarantine)
    removals = (ctx.values.get("accounting") or {}).get("removals") or []
    # Records of earlier versions count too: the latest run may have dropped nothing.
    has_drops = any(r["bucket"] in DROP_BUCKETS for r in removals) or bool(dropped and dropped["documents"])
    has_quarantine = any(r["bucket"] == "quarantined" for r in removals) or bool(
        quarantine and quarantine["records"]
    )
    ctx.section(
        "drop_reasons",
        has_drops,
        ("from the accounting counts" + (" and dropped/ records" if dropped else ""))
        if has_drops
        else "no dropped or duplicate documents are counted",
    )
    ctx.section(
        "quarantine",
        has_quarantine,
        "from the accounting counts and quarantine/ records" if has_quarantine else "nothing was quarantined",
    )


def _removals(r: Report, buckets: tuple[str, ...]) -> list[dict[str, Any]]:
    return [x for x in (r.get("accounting") or {}).get("removals", []) if x["bucket"] in buckets]


def drop_figures(r: Report) -> list[Figure]:
    from pipelines.report import plots

    drops = _removals(r, DROP_BUCKETS)
    if not drops:
        return []
    return [
        Figure(
            "drop_reasons",
            "Dropped and duplicate documents by reason",
            plots.reason_bars(drops, "documents removed, by reason"),
        )
    ]


def quarantine_figures(r: Report) -> list[Figure]:
    from pipelines.report import plots

    rows = _removals(r, ("quarantined",))
    if not rows and r.get("quarantine_records"):
        rows = [
            dict(x, bucket="quarantined", documents=x["records"])
            for x in r["quarantine_records"]["by_reason"]
        ]
    if not rows:
        return []
    return [
        Figure(
            "quarantine_reasons",
            "Quarantined records by reason",
            plots.reason_bars(rows, "records quarantined, by reason"),
        )
    ]


PANELS = (
    Panel("drop_reasons", "Drop reasons", "sections/drop_reasons.html.j2", drop_figures),
    Panel("quarantine", "Quarantine reasons", "sections/quarantine.html.j2", quarantine_figures),
)

"""Bytes: where the text went, per stage, rule and source (``stats.json`` annotations), and the worst losses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lmcore.layout import LOSSES_FILENAME
from lmcore.report import Figure
from pipelines.report.context import ReportContext
from pipelines.report.data import sample_text, share
from pipelines.report.files import read_json
from pipelines.report.panel import Panel, Report

NOT_RECORDED = (
    "not recorded: stats.json has no bytes_clean/bytes_dedup annotations and there is no "
    f"{LOSSES_FILENAME} (a dataset written before byte accounting, or no clean/dedup stage)"
)


# -- the numbers ------------------------------------------------------------------------------
BYTES_GROUPS = (
    "bytes_clean",
    "bytes_clean_removed",
    "bytes_clean_dropped",
    "bytes_dedup_removed",
    "bytes_dedup_dropped",
)
SOURCE_GROUPS = ("source_docs_in", "source_docs_kept", "source_bytes_in", "source_bytes_kept")
# Annotation groups shown in the Bytes section rather than in the generic annotations table.
BYTES_SECTION_GROUPS = (*BYTES_GROUPS, *SOURCE_GROUPS, "changes")


def _stage_row(
    stage: str, bytes_in: int | None, removed: int, dropped: int, out: int | None = None
) -> dict[str, Any]:
    if out is None and bytes_in is not None:
        out = bytes_in - removed - dropped
    return {"stage": stage, "bytes_in": bytes_in, "bytes_out": out, "removed": removed, "dropped": dropped}


def _clean_stage(ann: Mapping[str, Mapping[str, int]]) -> dict[str, Any] | None:
    b = ann.get("bytes_clean")
    if not b:
        return None
    return _stage_row("clean", b.get("in", 0), b.get("removed", 0), b.get("dropped", 0), b.get("out", 0))


def _dedup_stage(
    ann: Mapping[str, Mapping[str, int]], upstream_out: int | None, documents_bytes: int | None
) -> dict[str, Any] | None:
    """Dedup's bytes: ``in`` is what clean handed on, or (a dedup output) its documents plus what it removed."""
    removed_rules, dropped_reasons = ann.get("bytes_dedup_removed"), ann.get("bytes_dedup_dropped")
    if not removed_rules and not dropped_reasons:
        return None
    removed, dropped = sum((removed_rules or {}).values()), sum((dropped_reasons or {}).values())
    bytes_in = upstream_out
    if bytes_in is None and documents_bytes is not None:
        bytes_in = documents_bytes + removed + dropped
    return _stage_row("dedup", bytes_in, removed, dropped)


def _rule_rows(
    ann: Mapping[str, Mapping[str, int]], stages: Mapping[str, Mapping[str, Any]], total_in: int | None
) -> list[dict[str, Any]]:
    """One row per rule or drop reason: its bytes, as a share of its stage's input and of all input."""
    parts = (
        ("clean", "removed from kept documents", "bytes_clean_removed"),
        ("clean", "dropped documents", "bytes_clean_dropped"),
        ("dedup", "removed from kept documents", "bytes_dedup_removed"),
        ("dedup", "dropped documents", "bytes_dedup_dropped"),
    )
    rows = []
    for stage, how, group in parts:
        stage_in = (stages.get(stage) or {}).get("bytes_in")
        for rule, n in sorted(ann.get(group, {}).items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append(
                {
                    "stage": stage,
                    "how": how,
                    "rule": rule,
                    "bytes": int(n),
                    "share_of_stage_input": share(int(n), stage_in),
                    "share_of_input": share(int(n), total_in),
                }
            )
    return rows


def source_rows(ann: Mapping[str, Mapping[str, int]]) -> list[dict[str, Any]]:
    """Per source (clean stage): documents and bytes in, kept, and the kept shares; largest input first."""
    docs_in, docs_kept = ann.get("source_docs_in", {}), ann.get("source_docs_kept", {})
    bytes_in, bytes_kept = ann.get("source_bytes_in", {}), ann.get("source_bytes_kept", {})
    rows = []
    for name in sorted(set(docs_in) | set(bytes_in)):
        row = {
            "name": name,
            "docs_in": int(docs_in.get(name, 0)),
            "docs_kept": int(docs_kept.get(name, 0)),
            "bytes_in": int(bytes_in.get(name, 0)),
            "bytes_kept": int(bytes_kept.get(name, 0)),
        }
        row["docs_kept_share"] = share(row["docs_kept"], row["docs_in"])
        row["bytes_kept_share"] = share(row["bytes_kept"], row["bytes_in"])
        rows.append(row)
    return sorted(rows, key=lambda r: (-r["bytes_in"], r["name"]))


def bytes_summary(
    annotations: Mapping[str, Mapping[str, int]],
    documents_bytes: int | None = None,
    shard_bytes: int | None = None,
) -> dict[str, Any] | None:
    """Bytes per stage, per rule/reason and per source from ``stats.json`` annotations; None if not recorded.

    ``documents_bytes``: text bytes of the stage's ``documents/*.parquet`` (a dedup output
    needs them for its input); ``shard_bytes``: text bytes the run wrote into token shards.
    """
    clean = _clean_stage(annotations)
    dedup = _dedup_stage(annotations, clean["bytes_out"] if clean else None, documents_bytes)
    if clean is None and dedup is None:
        return None
    stages = [s for s in (clean, dedup) if s is not None]
    if shard_bytes is not None and stages[-1]["bytes_out"] is not None:
        last = stages[-1]["bytes_out"]
        stages.append(_stage_row("tokenize", last, 0, last - shard_bytes, shard_bytes))
    total_in = stages[0]["bytes_in"]
    for s in stages:
        s["kept_share_of_stage"] = share(s["bytes_out"], s["bytes_in"])
        s["out_share_of_input"] = share(s["bytes_out"], total_in)
    return {
        "input_bytes": total_in,
        "output_bytes": stages[-1]["bytes_out"],
        "stages": stages,
        "rules": _rule_rows(annotations, {s["stage"]: s for s in stages}, total_in),
        "sources": source_rows(annotations),
        "changes": dict(sorted(annotations.get("changes", {}).items())),
    }


def loss_rows(records: Iterable[Mapping[str, Any]], top_rules: int = 3) -> list[dict[str, Any]]:
    """``clean_losses.json`` records -> rows with the retained share and the rules that took most."""
    rows = []
    for rec in records:
        removed = {str(k): int(v) for k, v in (rec.get("removed") or {}).items()}
        bytes_in, bytes_out = int(rec.get("bytes_in") or 0), int(rec.get("bytes_out") or 0)
        lost = rec.get("lost_fraction")
        retained = 1.0 - float(lost) if lost is not None else (bytes_out / bytes_in if bytes_in else 1.0)
        rows.append(
            {
                "id": rec.get("id"),
                "source": rec.get("source"),
                "bytes_in": bytes_in,
                "bytes_out": bytes_out,
                "retained": round(retained, 6),
                "top_rules": sorted(removed.items(), key=lambda kv: (-kv[1], kv[0]))[:top_rules],
                "excerpt": sample_text(rec.get("excerpt")),
            }
        )
    return rows


def compute(ctx: ReportContext) -> None:
    files, acc = ctx.files, ctx.values.get("accounting") or {}
    ann = acc.get("annotations") or {}
    docs = ctx.values.get("documents")
    shard_bytes = sum(ann["text_bytes"].values()) if ann.get("text_bytes") else None
    summary = bytes_summary(ann, docs["totals"]["bytes"] if docs else None, shard_bytes)
    ctx.values["bytes"] = summary
    losses = read_json(files.losses) if files.losses else None
    ctx.values["clean_losses"] = (
        {"source": files.rel(files.losses), "documents": loss_rows(losses)}
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

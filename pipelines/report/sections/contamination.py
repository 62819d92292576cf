"""Decontamination: how many documents matched each reference file, with examples.

The counts come from ``stats.json`` (``dropped/contaminated``, the ``contaminated_by``
and ``decontamination`` annotations), so they are there for every dedup and prepare run;
the examples (document id, reference file, shared words) from ``dedup_contamination.json``
where the run kept it. Shown inside the drop reasons panel, next to the count it explains.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmcore import storage
from lmcore.layout import CONTAMINATION_FILENAME, STATS_FILENAME
from pipelines.report.context import ReportContext
from pipelines.report.files import read_json

REASON = "contaminated"
BY_REFERENCE = "contaminated_by"  # annotation group: contaminated documents per reference file
REFERENCE_GROUP = "decontamination"  # annotation group: the reference set's size


def contamination_summary(
    counts: Mapping[str, Any], annotations: Mapping[str, Mapping[str, int]]
) -> dict[str, Any] | None:
    """What the run's counts say; None when it did not decontaminate."""
    if REFERENCE_GROUP not in annotations and REASON not in counts.get("dropped", {}):
        return None
    per_ref = annotations.get(BY_REFERENCE, {})
    return {
        "contaminated": int(counts.get("dropped", {}).get(REASON, 0)),
        "reference": dict(annotations.get(REFERENCE_GROUP, {})),
        "per_reference": [
            {"reference": ref, "documents": int(n)}
            for ref, n in sorted(per_ref.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "ngram": None,
        "examples": None,
        "examples_source": None,
    }


def _counted_beside(path: str) -> int | None:
    """The ``contaminated`` count of the run that wrote ``path``: its ``stats.json`` sits beside it
    (a stage's output directory, or a prepare version's ``state/v0000N/``)."""
    stats = storage.join(path.rsplit("/", 1)[0], STATS_FILENAME) if "/" in path else STATS_FILENAME
    if not storage.exists(stats):
        return None
    return int(read_json(stats).get("counts", {}).get("dropped", {}).get(REASON, 0))


def _add_examples(ctx: ReportContext, summary: dict[str, Any], path: str) -> None:
    recorded = read_json(path)
    summary.update(
        ngram=recorded.get("ngram"),
        examples=recorded.get("examples", []),
        examples_source=ctx.files.rel(path),
    )
    counted = _counted_beside(path)
    if counted is not None:
        ctx.check(
            f"{CONTAMINATION_FILENAME} matches the {REASON} count",
            recorded.get("contaminated") == counted,
            f"{recorded.get('contaminated', 0):,} contaminated documents in {ctx.files.rel(path)}, "
            f"the run's stats.json says {counted:,}",
        )


def compute(ctx: ReportContext) -> None:
    acc = ctx.values.get("accounting") or {}
    summary = contamination_summary(acc.get("counts") or {}, acc.get("annotations") or {})
    if summary is not None and ctx.files.contamination:
        _add_examples(ctx, summary, ctx.files.contamination)
    ctx.values["contamination"] = summary

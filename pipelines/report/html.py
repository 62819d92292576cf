"""HTML for ``pipelines.report``: one self-contained page from the section templates (PNGs embedded).

Every table has an ``id`` so that tests and scripts can find the numbers; numbers are
printed with thousands separators. A section whose inputs are absent says so instead of
disappearing, so a reader knows the difference between "zero" and "not measured".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lmcore.report import Check, Figure, render
from pipelines.report.panel import Panel
from pipelines.report.sections import PANELS
from pipelines.report.sections.bytes import BYTES_SECTION_GROUPS

# (name, title) of every panel, in page order.
SECTIONS = tuple((p.name, p.title) for p in PANELS)


@dataclass(frozen=True)
class PanelView:
    """A panel as the page shows it: computed or skipped, with its note and figures."""

    panel: Panel
    ok: bool
    note: str
    figures: list[Figure] = field(default_factory=list)


def _figure(spec: Figure | tuple[str, str, bytes]) -> Figure:
    return spec if isinstance(spec, Figure) else Figure(*spec)


def render_html(
    report: Mapping[str, Any], plots: Mapping[str, Sequence[Figure | tuple[str, str, bytes]]]
) -> str:
    """The whole page: header, checks, then every section (with its figures, or why it was skipped)."""
    views = []
    for panel in PANELS:
        sec = report["sections"].get(panel.name, {"status": "skipped", "note": "not computed"})
        figs = [_figure(f) for f in plots.get(panel.name, [])]
        views.append(PanelView(panel, sec["status"] == "ok", sec["note"], figs))
    return render(
        "dataset.html.j2",
        "pipelines.report",
        title=f"Dataset report: {report['dataset_dir']}",
        r=report,
        panels=views,
        checks=[Check.from_dict(c) for c in report["checks"]],
        bytes_groups=BYTES_SECTION_GROUPS,
        inputs=json.dumps(report["inputs"], indent=1, ensure_ascii=False),
    )

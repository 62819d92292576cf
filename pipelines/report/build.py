"""The report's numbers (``report.json``) and figures: every section in turn over one directory."""

from __future__ import annotations

from typing import Any

from lmcore.report import Figure
from pipelines.report.context import ReportContext
from pipelines.report.files import discover
from pipelines.report.panel import Report
from pipelines.report.sections import COMPUTE, PANELS


def build_context(root: str) -> ReportContext:
    ctx = ReportContext(discover(root))
    for compute in COMPUTE:
        compute(ctx)
    return ctx


def build_report(root: str) -> dict[str, Any]:
    """Every number of the report, as a JSON-ready dict (``report.json``)."""
    return build_context(root).to_dict()


def make_plots(report: Report) -> dict[str, list[Figure]]:
    """Section name -> its figures; only sections with data get figures (matplotlib is imported here)."""
    plots = {panel.name: panel.figures(report) for panel in PANELS}
    return {name: figs for name, figs in plots.items() if figs}

"""A titled part of the report page: the template that shows a section's numbers and its figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lmcore.report import Figure

Report = Mapping[str, Any]  # report.json, as a dict


def no_figures(report: Report) -> list[Figure]:
    return []


@dataclass(frozen=True)
class Panel:
    """``name`` is the HTML id and the key in ``report.json``'s ``sections``."""

    name: str
    title: str
    template: str  # under pipelines/report/templates/
    figures: Callable[[Report], list[Figure]] = no_figures

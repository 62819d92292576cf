"""The jinja2 environment of both reports: their own templates first, then the shared shell and macros."""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from lmcore.report.cells import Pct, Pre, is_numeric, num, pct
from lmcore.report.figures import Figure


@functools.cache
def environment(package: str | None = None) -> jinja2.Environment:
    """Templates of ``package`` (its ``templates/`` folder), falling back to ``lmcore.report``'s.

    Autoescape is on for every template: values come from files a run or a stage wrote.
    """
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("lmcore.report", "templates")]
    if package:
        loaders.insert(0, jinja2.PackageLoader(package, "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        extensions=["jinja2.ext.do"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=num, pct=pct)
    env.globals.update(Pct=Pct, Pre=Pre)
    env.tests.update(
        pct=lambda v: isinstance(v, Pct),
        pre=lambda v: isinstance(v, Pre),
        numeric=is_numeric,
        figure=lambda v: isinstance(v, Figure),
    )
    return env


def render(template: str, package: str | None = None, **context: Any) -> str:
    """Render ``template`` (a name under ``package``'s or lmcore's ``templates/``)."""
    return environment(package).get_template(template).render(**context)

"""The report's sections: each computes its numbers from the dataset files and names its panels.

``COMPUTE`` runs in order (accounting before the sections that compare with its counts);
``PANELS`` is the order of the page.
"""

from __future__ import annotations

from pipelines.report.sections import (
    accounting,
    bytes,
    contamination,
    dedup,
    documents,
    overview,
    removals,
    tokens,
    versions,
)

COMPUTE = (
    overview.compute,
    tokens.compute,
    documents.compute,
    accounting.compute,
    removals.compute,
    contamination.compute,
    dedup.compute,
    bytes.compute,
    versions.compute,
    tokens.cross_checks,
)
_BY_NAME = {
    p.name: p
    for module in (accounting, bytes, tokens, documents, removals, dedup, versions)
    for p in module.PANELS
}
PAGE_ORDER = (
    "accounting",
    "bytes",
    "composition",
    "lengths",
    "documents",
    "drop_reasons",
    "quarantine",
    "duplicates",
    "boilerplate",
    "shards",
    "versions",
)
PANELS = tuple(_BY_NAME[name] for name in PAGE_ORDER)

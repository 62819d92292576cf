"""Document Parquet files (clean and dedup outputs): documents and bytes per source and language."""

from __future__ import annotations

from lmcore.report import Figure
from pipelines.report import data
from pipelines.report.context import ReportContext
from pipelines.report.panel import Panel, Report


def compute(ctx: ReportContext) -> None:
    files = ctx.files.documents
    if not files:
        ctx.values["documents"] = None
        ctx.section("documents", False, "no documents/*.parquet (only clean and dedup outputs have them)")
        return
    acc = data.DocumentsAccumulator()
    for path in files:
        acc.add_file(path)
    ctx.values["documents"] = acc.result()
    ctx.section("documents", True, f"from {len(files)} files under documents/")


def figures(r: Report) -> list[Figure]:
    from pipelines.report import plots

    docs = r.get("documents")
    if not (docs and docs["totals"]["documents"]):
        return []
    return [
        Figure(
            "documents_by_source",
            "Documents and bytes per source",
            plots.totals_bars(docs["by_source"], "per source"),
        ),
        Figure(
            "documents_by_lang",
            "Documents and bytes per language",
            plots.totals_bars(docs["by_lang"], "per language"),
        ),
        Figure(
            "documents_length_bytes",
            "Document length in UTF-8 bytes",
            plots.length_histogram(docs["doc_length_bytes"], "bytes per document", "bytes"),
        ),
    ]


PANELS = (
    Panel("documents", "Documents (Parquet) per source and language", "sections/documents.html.j2", figures),
)

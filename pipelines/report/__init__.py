"""``python -m pipelines.report DIR [--out FILE.html]``: what is in a dataset directory, with plots.

Works on any stage's output and skips (and says so) what is absent:

* a tokenize/prepare output: ``manifest.json`` (+ ``manifest-vNNNNN.json`` versions) and
  token shards -> documents/tokens per source and language, length histograms, tokens
  per shard, growth across versions;
* a clean or dedup output: ``documents/*.parquet`` -> documents/bytes per source and
  language, byte-length histogram;
* every stage: ``stats.json`` (accounting, drop/duplicate/quarantine reasons, dedup
  cluster sizes and boilerplate counts, bytes per stage, rule and source),
  ``quarantine/``, ``dropped/`` (examples, clusters from ``duplicate_of``),
  ``dedup_boilerplate.json`` (most frequent removed lines), ``clean_losses.json`` (the
  kept documents that lost most of their text). A ``prepare`` output keeps the last three
  per version under ``state/v0000N/``; the report reads every committed version's.

``--what-if clean.thresholds.LANG.KEY=VALUE`` (repeatable) writes nothing: it re-decides
the clean rules for every kept document of ``documents/*.parquet`` from the measures in
its ``meta["quality"]``, and for the ``dropped/`` records that carry them, and prints
what the new thresholds would drop (or keep), per source and per reason.

Writes ``DIR/report.html`` (self-contained: PNGs embedded as base64), the same numbers
as ``DIR/report.json``, and prints a summary table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from lmcore import storage
from lmcore.layout import REPORT_HTML
from lmcore.report import Check
from pipelines.report.build import build_report, make_plots
from pipelines.report.files import discover
from pipelines.report.summary import format_summary
from pipelines.report.whatif import format_what_if, what_if

__all__ = ["DUCKDB_QUERY", "build_parser", "main", "write_report"]


def write_report(root: str, out_html: str | None = None) -> tuple[dict[str, Any], str, str]:
    """Build the report, write ``report.html`` and ``report.json``; return (report, html path, json path)."""
    from pipelines.report.html import render_html

    report = build_report(root)
    plots = make_plots(report)
    report["plots"] = {section: [f.name for f in figs] for section, figs in plots.items()}
    out_html = out_html or storage.join(root.rstrip("/"), REPORT_HTML)
    out_json = (out_html[: -len(".html")] if out_html.endswith(".html") else out_html) + ".json"
    storage.atomic_write_text(out_json, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    storage.atomic_write_text(out_html, render_html(report, plots))
    return report, out_html, out_json


# -- entry point (argument parsing) ---------------------------------------------------------------
# A query over the documents' measures; --help shows it, tests/test_report.py runs it as written.
DUCKDB_QUERY = """\
SELECT source,
       count(*) AS docs,
       median(CAST(json_extract(meta, '$.quality.words') AS INTEGER)) AS median_words,
       round(avg(CAST(json_extract(meta, '$.quality.retained') AS DOUBLE)), 3) AS mean_retained,
       count(*) FILTER (WHERE CAST(json_extract(meta, '$.quality.words') AS INTEGER) < 100) AS under_100_words
FROM read_parquet('DIR/documents/*.parquet')
GROUP BY source ORDER BY docs DESC"""
EPILOG = f"""\
Exit status: 0 ok, 1 a consistency check failed (the report is still written), 2 nothing to report
(with --what-if: no documents and no dropped records with measures).

--what-if examples (documents of a clean or dedup output, e.g. DIR=runs/clean):
  python -m pipelines.report DIR --what-if clean.thresholds.en.min_words=100
  python -m pipelines.report DIR --what-if clean.thresholds.zh.min_stop_words=1 \\
      --what-if clean.thresholds.default.max_dup_line_frac=0.2

The measures are in each document's meta JSON (meta.quality), so any Parquet engine can
query them; with DuckDB (pip install duckdb; it is in the dev extra), replacing DIR:

python - <<'EOF'
import duckdb
duckdb.sql('''
{DUCKDB_QUERY}
''').show()
EOF
"""


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m pipelines.report",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("dir", help="dataset directory (local path or fsspec URL)")
    ap.add_argument(
        "--out", default=None, help="HTML file to write (default DIR/report.html; JSON goes next to it)"
    )
    ap.add_argument(
        "--what-if",
        dest="what_if",
        action="append",
        default=None,
        metavar="clean.thresholds.LANG.KEY=VALUE",
        help="re-decide the clean rules with this threshold (LANG: a language code or 'default'); "
        "repeatable; prints what would be dropped and kept, writes no report",
    )
    return ap


def _run_what_if(root: str, assignments: list[str]) -> int:
    try:
        result = what_if(root, assignments)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_what_if(result))
    return 0 if result["document_files"] or result["dropped"]["documents"] else 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not storage.exists(args.dir):
        print(f"error: {args.dir} does not exist", file=sys.stderr)
        return 2
    if args.what_if:
        return _run_what_if(args.dir, args.what_if)
    started = time.monotonic()
    if discover(args.dir).is_empty:
        print(
            f"error: {args.dir} holds no lmforge output (no manifest.json, stats.json, shards/, documents/, "
            "dropped/ or quarantine/)",
            file=sys.stderr,
        )
        return 2
    report, html_path, json_path = write_report(args.dir, args.out)
    print(format_summary(report))
    print(f"wrote {html_path} and {json_path} in {time.monotonic() - started:.1f}s")
    return 1 if any(Check.from_dict(c).failed_error for c in report["checks"]) else 0

"""HTML for ``pipelines.report``: one self-contained page (PNGs embedded as base64 data URIs).

Every table has an ``id`` so that tests and scripts can find the numbers; numbers are
printed with thousands separators. A section whose inputs are absent says so instead of
disappearing, so a reader knows the difference between "zero" and "not measured".
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.report.data import BYTES_SECTION_GROUPS

SECTIONS = (
    ("accounting", "Where the documents went"),
    ("bytes", "Bytes: where the text went"),
    ("composition", "Documents and tokens per source and language"),
    ("lengths", "Document lengths"),
    ("documents", "Documents (Parquet) per source and language"),
    ("drop_reasons", "Drop reasons"),
    ("quarantine", "Quarantine reasons"),
    ("duplicates", "Duplicate clusters"),
    ("boilerplate", "Removed boilerplate lines"),
    ("shards", "Tokens per shard"),
    ("versions", "Growth across versions"),
)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.skipped{color:#888;font-style:italic} .note{color:#555;font-size:.9em}
.bad{color:#b00;font-weight:bold} .warn{color:#a60} .ok{color:#070}
figure{margin:1em 0} img{max-width:100%} pre{white-space:pre-wrap;margin:0;font-size:.85em}
"""


class Raw(str):
    """Markup that ``table`` inserts as is (already escaped)."""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def fmt(value: Any) -> str:
    """Integers with thousands separators, floats to 4 significant digits, the rest escaped."""
    if isinstance(value, bool) or value is None:
        return esc(value if value is not None else "")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return esc(value)


def pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A table; numeric cells are right-aligned. A cell given as ``("pct", x)`` prints as a percentage."""
    out = [
        f'<table id="{esc(table_id)}"><thead><tr>',
        *(f"<th>{esc(h)}</th>" for h in headers),
        "</tr></thead><tbody>",
    ]
    for row in rows:
        out.append("<tr>")
        for cell in row:
            if isinstance(cell, Raw):
                out.append(f"<td>{cell}</td>")
            elif isinstance(cell, tuple) and cell and cell[0] == "pct":
                out.append(f'<td class="num">{pct(cell[1])}</td>')
            elif isinstance(cell, int | float) and not isinstance(cell, bool):
                out.append(f'<td class="num">{fmt(cell)}</td>')
            else:
                out.append(f"<td>{fmt(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def figure(name: str, caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="plot-{esc(name)}"><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def _totals_table(table_id: str, rows: Sequence[Mapping[str, Any]], with_tokens: bool) -> str:
    headers = ["name", "documents", "% docs"]
    if with_tokens:
        headers += ["tokens", "% tokens"]
    headers += ["bytes", "% bytes"] + (["bytes/token"] if with_tokens else [])
    body = []
    for r in rows:
        cells: list[Any] = [r["name"], r["documents"], ("pct", r.get("documents_share"))]
        if with_tokens:
            cells += [r.get("tokens", 0), ("pct", r.get("tokens_share"))]
        cells += [r.get("bytes", 0), ("pct", r.get("bytes_share"))]
        if with_tokens:
            cells.append(r.get("bytes_per_token", ""))
        body.append(cells)
    return table(table_id, headers, body)


def _length_table(table_id: str, summary: Mapping[str, Any], unit: str) -> str:
    keys = ("documents", "total", "min", "p01", "p10", "p50", "mean", "p90", "p99", "max")
    return table(table_id, ["statistic", unit], [[k, summary[k]] for k in keys if k in summary])


def _examples(title: str, examples: Mapping[str, Sequence[Mapping[str, Any]]], fields: Sequence[str]) -> str:
    if not examples:
        return ""
    parts = [f"<details><summary>{esc(title)}</summary>"]
    for key, items in examples.items():
        rows = [[*(it.get(f) for f in fields[:-1]), _pre(it.get(fields[-1]))] for it in items]
        parts.append(f"<h4>{esc(key)}</h4>" + table(f"examples-{key}", list(fields), rows))
    parts.append("</details>")
    return "".join(parts)


def _pre(text: Any) -> Raw:
    return Raw(f"<pre>{esc(text)}</pre>")


# -- sections -----------------------------------------------------------------------------------
def _accounting(r: Mapping[str, Any]) -> str:
    acc = r["accounting"]
    c = acc["counts"]
    status = (
        '<span class="ok">balanced</span>' if acc["balanced"] else '<span class="bad">NOT BALANCED</span>'
    )
    rows: list[list[Any]] = [
        ["input", "", c["input"], ("pct", 1.0 if c["input"] else None)],
        ["kept", "", c["kept"], ("pct", c["kept"] / c["input"] if c["input"] else None)],
    ]
    rows += [
        [row["bucket"], row["reason"], row["documents"], ("pct", row["share_of_input"])]
        for row in acc["removals"]
    ]
    out = [
        f"<p>Source: <code>{esc(acc['source'])}</code>"
        + (
            f" (stage <code>{esc(acc['stage'])}</code>, finished {esc(acc['finished_at'])})"
            if acc.get("stage")
            else ""
        )
        + f"; counts {status}.</p>",
        table("accounting-counts", ["bucket", "reason", "documents", "% of input"], rows),
    ]
    ann = [
        [group, name, n]
        for group, items in (acc.get("annotations") or {}).items()
        if group not in BYTES_SECTION_GROUPS
        for name, n in items.items()
    ]
    if ann:
        out.append(
            "<h3>Annotations (not buckets)</h3>"
            + '<p class="note">Byte and per-source counts are in the Bytes section.</p>'
            + table("annotations", ["group", "name", "count"], ann)
        )
    cum = acc.get("cumulative_counts")
    if cum and cum != c:
        rows = [["input", cum["input"]], ["kept", cum["kept"]]] + [
            [f"{b}: {k}", n]
            for b in ("dropped", "duplicates", "quarantined")
            for k, n in cum.get(b, {}).items()
        ]
        out.append(
            "<h3>Cumulative counts over every version (manifest.json)</h3>"
            + table("cumulative-counts", ["bucket", "documents"], rows)
        )
    return "".join(out)


def _bytes_tables(b: Mapping[str, Any]) -> str:
    stages = table(
        "bytes-stages",
        [
            "stage",
            "bytes in",
            "bytes out",
            "removed from kept",
            "dropped documents",
            "% kept",
            "out, % of input",
        ],
        [
            [
                s["stage"],
                s["bytes_in"],
                s["bytes_out"],
                s["removed"],
                s["dropped"],
                ("pct", s["kept_share_of_stage"]),
                ("pct", s["out_share_of_input"]),
            ]
            for s in b["stages"]
        ],
    )
    rules = table(
        "bytes-rules",
        ["stage", "how", "rule or reason", "bytes", "% of stage input", "% of input"],
        [
            [
                x["stage"],
                x["how"],
                x["rule"],
                x["bytes"],
                ("pct", x["share_of_stage_input"]),
                ("pct", x["share_of_input"]),
            ]
            for x in b["rules"]
        ],
    )
    out = [
        f"<p>{b['input_bytes'] or 0:,} UTF-8 bytes in, {b['output_bytes'] or 0:,} out. "
        "Removed = bytes taken out of documents that were kept (HTML markup, C4 lines, normalisation, ...); "
        "dropped = all bytes of documents that were dropped.</p>",
        stages,
        "<h3>Per rule and reason</h3>",
        rules,
    ]
    if b["sources"]:
        out.append(
            "<h3>Per source (clean stage)</h3>"
            + table(
                "bytes-sources",
                [
                    "source",
                    "documents in",
                    "documents kept",
                    "% kept",
                    "bytes in",
                    "bytes kept",
                    "% bytes kept",
                ],
                [
                    [
                        x["name"],
                        x["docs_in"],
                        x["docs_kept"],
                        ("pct", x["docs_kept_share"]),
                        x["bytes_in"],
                        x["bytes_kept"],
                        ("pct", x["bytes_kept_share"]),
                    ]
                    for x in b["sources"]
                ],
            )
        )
    else:
        out.append('<p class="note">Per-source documents and bytes: not recorded.</p>')
    if b["changes"]:
        out.append(
            "<h3>Characters converted (kept documents)</h3>"
            + table("bytes-changes", ["conversion", "characters"], [[k, n] for k, n in b["changes"].items()])
        )
    return "".join(out)


def _losses_table(losses: Mapping[str, Any]) -> str:
    rows = [
        [
            x["id"],
            x["source"],
            x["bytes_in"],
            x["bytes_out"],
            ("pct", x["retained"]),
            ", ".join(f"{rule} {n:,}" for rule, n in x["top_rules"]),
            _pre(x["excerpt"]),
        ]
        for x in losses["documents"]
    ]
    return (
        f"<h3>Kept documents that lost the largest share of their text ({esc(losses['source'])})</h3>"
        '<p class="note">Bytes in = the text after HTML extraction; retained = the share left after the rules.</p>'
        + table(
            "clean-losses",
            ["id", "source", "bytes in", "bytes out", "retained", "top rules (bytes)", "excerpt"],
            rows,
        )
    )


def _bytes(r: Mapping[str, Any]) -> str:
    b, losses = r.get("bytes"), r.get("clean_losses")
    out = [_bytes_tables(b)] if b else ['<p class="note">Bytes per stage, rule and source: not recorded.</p>']
    if losses:
        out.append(_losses_table(losses))
    else:
        out.append(
            '<p class="note">The list of the most gutted documents (clean_losses.json): not recorded.</p>'
        )
    return "".join(out)


def _composition(r: Mapping[str, Any]) -> str:
    tok = r["tokens"]
    t = tok["totals"]
    split = table(
        "tokens-by-split",
        ["split", "documents", "tokens", "bytes"],
        [[s["name"], s["documents"], s.get("tokens", 0), s.get("bytes", 0)] for s in tok["by_split"]],
    )
    return (
        f"<p>{t['documents']:,} documents, {t['tokens']:,} tokens, {t['bytes']:,} bytes "
        f"({t.get('bytes_per_token', 0):.3f} bytes per token).</p>"
        + split
        + "<h3>Per source</h3>"
        + _totals_table("tokens-by-source", tok["by_source"], True)
        + "<h3>Per language</h3>"
        + _totals_table("tokens-by-lang", tok["by_lang"], True)
    )


def _lengths(r: Mapping[str, Any]) -> str:
    tok = r["tokens"]
    return (
        '<p class="note">Token counts include the end-of-document token.</p>'
        + "<h3>Tokens per document</h3>"
        + _length_table("length-tokens", tok["doc_length_tokens"], "tokens")
        + "<h3>Bytes per document</h3>"
        + _length_table("length-bytes", tok["doc_length_bytes"], "bytes")
    )


def _documents(r: Mapping[str, Any]) -> str:
    d = r["documents"]
    return (
        f"<p>{d['files']:,} files, {d['totals']['documents']:,} documents, {d['totals']['bytes']:,} bytes of text.</p>"
        + "<h3>Per source</h3>"
        + _totals_table("documents-by-source", d["by_source"], False)
        + "<h3>Per language</h3>"
        + _totals_table("documents-by-lang", d["by_lang"], False)
        + "<h3>Bytes per document</h3>"
        + _length_table("documents-length-bytes", d["doc_length_bytes"], "bytes")
    )


def _drop_reasons(r: Mapping[str, Any]) -> str:
    rows = [
        [x["bucket"], x["reason"], x["documents"], ("pct", x["share_of_input"])]
        for x in r["accounting"]["removals"]
        if x["bucket"] in ("dropped", "duplicates")
    ]
    out = [table("drop-reasons", ["bucket", "reason", "documents", "% of input"], rows)]
    dropped = r.get("dropped_records")
    if dropped:
        out.append(
            "<h3>Dropped records on disk (dropped/)</h3>"
            + table(
                "dropped-records",
                ["stage", "reason", "documents", "text bytes"],
                [[x["stage"], x["reason"], x["documents"], x["bytes"]] for x in dropped["by_reason"]],
            )
        )
        out.append(
            _examples(
                "Examples (smallest ids)", dropped["examples"], ["id", "source", "duplicate_of", "sample"]
            )
        )
    else:
        out.append(
            '<p class="note">No dropped/ records (dropped/, or state/v0000N/dropped/ for prepare): '
            "run with --keep-dropped to see examples.</p>"
        )
    return "".join(out)


def _quarantine(r: Mapping[str, Any]) -> str:
    rows = [
        [x["reason"], x["documents"], ("pct", x["share_of_input"])]
        for x in (r.get("accounting") or {}).get("removals", [])
        if x["bucket"] == "quarantined"
    ]
    out = [table("quarantine-reasons", ["reason", "records", "% of input"], rows)] if rows else []
    q = r.get("quarantine_records")
    if q:
        out.append(
            "<h3>Quarantine records on disk (quarantine/)</h3>"
            + table(
                "quarantine-records",
                ["stage", "reason", "records"],
                [[x["stage"], x["reason"], x["records"]] for x in q["by_reason"]],
            )
        )
        out.append(_examples("Examples", q["examples"], ["path", "offset", "error", "sample"]))
    return "".join(out)


def _duplicates(r: Mapping[str, Any]) -> str:
    d = r["duplicate_clusters"]
    rows = [[c["size"], c["clusters"], c["documents"]] for c in d["sizes"]]
    return (
        f"<p>Source: {esc(d['source'])}. {sum(c['clusters'] for c in d['sizes']):,} clusters; a cluster is the kept representative "
        "plus the copies removed as duplicates of it.</p>"
        + table("duplicate-clusters", ["cluster size", "clusters", "documents"], rows)
    )


def _boilerplate(r: Mapping[str, Any]) -> str:
    bp = r["boilerplate"]
    out = [
        table(
            "boilerplate-totals",
            ["measure", "count"],
            [["lines removed", bp["lines_removed"]], ["documents changed", bp["documents_changed"]]],
        )
    ]
    if bp["top_lines"]:
        out.append(
            table(
                "boilerplate-lines",
                ["#", "line", "documents", "copies removed"],
                [
                    [i + 1, x["line"], x["documents"], x["copies_removed"]]
                    for i, x in enumerate(bp["top_lines"])
                ],
            )
        )
    else:
        out.append('<p class="note">The list of most frequent lines was not recorded.</p>')
    return "".join(out)


def _shards(r: Mapping[str, Any]) -> str:
    rows = [
        [s["path"], s["split"], s.get("version"), s["documents"], s["tokens"], s["bytes"]]
        for s in r["tokens"]["shards"]
    ]
    return table("shards", ["path", "split", "version", "documents", "tokens", "bytes"], rows)


def _versions(r: Mapping[str, Any]) -> str:
    rows = [
        [
            v["version"],
            v["created_at"],
            v["shards"],
            v["documents"],
            v["tokens"],
            v["new_documents"],
            v["new_tokens"],
            v.get("run_input"),
            v.get("cumulative_input"),
            (v.get("fingerprint") or "")[:12],
        ]
        for v in r["versions"]
    ]
    return table(
        "versions",
        [
            "version",
            "created_at",
            "shards",
            "documents",
            "tokens",
            "new documents",
            "new tokens",
            "run input",
            "cumulative input",
            "fingerprint",
        ],
        rows,
    )


RENDERERS = {
    "accounting": _accounting,
    "bytes": _bytes,
    "composition": _composition,
    "lengths": _lengths,
    "documents": _documents,
    "drop_reasons": _drop_reasons,
    "quarantine": _quarantine,
    "duplicates": _duplicates,
    "boilerplate": _boilerplate,
    "shards": _shards,
    "versions": _versions,
}


def _checks(r: Mapping[str, Any]) -> str:
    if not r["checks"]:
        return ""
    rows = []
    for c in r["checks"]:
        cls = "ok" if c["ok"] else ("bad" if c["level"] == "error" else "warn")
        rows.append(
            f'<tr><td>{esc(c["check"])}</td><td class="{cls}">{"ok" if c["ok"] else esc(c["level"])}</td>'
            f"<td>{esc(c['detail'])}</td></tr>"
        )
    return (
        '<h2 id="checks">Consistency checks</h2><table id="checks-table"><thead><tr><th>check</th><th>result</th>'
        f"<th>detail</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render_html(report: Mapping[str, Any], plots: Mapping[str, Sequence[tuple[str, str, bytes]]]) -> str:
    """The whole page: header, checks, then every section (with its figures, or why it was skipped)."""
    m = report.get("manifest")
    head = [
        f"<h1>Dataset report: {esc(report['dataset_dir'])}</h1>",
        f'<p class="note">Generated {esc(report["generated_at"])} by <code>python -m pipelines.report</code>. '
        "The same numbers are in report.json.</p>",
    ]
    if m:
        head.append(
            f"<p>Manifest version {m['version']}, created {esc(m['created_at'])}, fingerprint "
            f"<code>{esc(m['fingerprint'])}</code>, tokenizer vocabulary {m['tokenizer']['vocab_size']:,}.</p>"
        )
    head.append(
        "<ul>"
        + "".join(
            f'<li><a href="#{name}">{esc(title)}</a>'
            + (
                ' <span class="skipped">(skipped)</span>'
                if report["sections"].get(name, {}).get("status") != "ok"
                else ""
            )
            + "</li>"
            for name, title in SECTIONS
        )
        + "</ul>"
    )
    body = [_checks(report)]
    for name, title in SECTIONS:
        sec = report["sections"].get(name, {"status": "skipped", "note": "not computed"})
        body.append(f'<section id="{name}"><h2>{esc(title)}</h2>')
        if sec["status"] != "ok":
            body.append(f'<p class="skipped">Skipped: {esc(sec["note"])}.</p></section>')
            continue
        body.append(f'<p class="note">{esc(sec["note"])}</p>')
        body.extend(figure(*spec) for spec in plots.get(name, []))
        body.append(RENDERERS[name](report))
        body.append("</section>")
    inputs = json.dumps(report["inputs"], indent=1, ensure_ascii=False)
    body.append(f"<h2>Inputs found</h2><pre>{esc(inputs)}</pre>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Dataset report: {esc(report['dataset_dir'])}</title><style>{CSS}</style></head><body>"
        + "".join(head)
        + "".join(body)
        + "</body></html>\n"
    )

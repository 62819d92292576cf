"""The console table ``python -m pipelines.report`` prints: totals, where documents went, top groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _accounting_lines(acc: Mapping[str, Any]) -> list[str]:
    c = acc["counts"]
    rows = [("input", c["input"]), ("kept", c["kept"])]
    rows += [(f"{r['bucket']}: {r['reason']}", r["documents"]) for r in acc["removals"]]
    width = max(len(name) for name, _ in rows)
    head = f"  accounting ({acc['source']}, {'balanced' if acc['balanced'] else 'NOT BALANCED'}):"
    return [head] + [f"    {name:<{width}}  {n:>12,}" for name, n in rows]


def _bytes_line(b: Mapping[str, Any]) -> str:
    top = ", ".join(
        f"{r['rule']} {r['bytes']:,} ({100 * (r['share_of_input'] or 0):.1f}%)"
        for r in sorted(b["rules"], key=lambda r: -r["bytes"])[:3]
    )
    return (
        f"  bytes: {b['input_bytes']:,} in, {b['output_bytes']:,} out "
        f"({100 * b['output_bytes'] / b['input_bytes']:.1f}%); most removed: {top}"
    )


def format_summary(report: Mapping[str, Any]) -> str:
    """A short table for the console: totals, where documents went, top sources and languages."""
    lines = [f"report for {report['dataset_dir']}"]
    tok, docs, acc = report.get("tokens"), report.get("documents"), report.get("accounting")
    if tok:
        t = tok["totals"]
        lines.append(
            f"  token shards: {len(tok['shards']):,}  documents: {t['documents']:,}  tokens: {t['tokens']:,}"
            f"  bytes: {t['bytes']:,}  bytes/token: {t.get('bytes_per_token', 0):.3f}"
        )
    if docs:
        lines.append(
            f"  document files: {docs['files']:,}  documents: {docs['totals']['documents']:,}"
            f"  text bytes: {docs['totals']['bytes']:,}"
        )
    if acc:
        lines += _accounting_lines(acc)
    for key, title in (("by_source", "sources"), ("by_lang", "languages")):
        part = tok or docs
        if part and part[key]:
            metric = "tokens" if tok else "bytes"
            top = ", ".join(f"{r['name']} {r.get(metric, 0):,}" for r in part[key][:5])
            lines.append(f"  top {title} by {metric}: {top}")
    b = report.get("bytes")
    if b and b["input_bytes"]:
        lines.append(_bytes_line(b))
    if report.get("versions"):
        v = report["versions"][-1]
        lines.append(
            f"  versions: {len(report['versions'])} (latest v{v['version']}: {v['documents']:,} docs, {v['tokens']:,} tokens)"
        )
    for c in report["checks"]:
        if not c["ok"]:
            lines.append(f"  {c['level'].upper()}: {c['check']}: {c['detail']}")
    skipped = [name for name, s in report["sections"].items() if s["status"] == "skipped"]
    if skipped:
        lines.append(f"  skipped sections (inputs absent): {', '.join(skipped)}")
    return "\n".join(lines)

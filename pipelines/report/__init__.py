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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from lmcore import layout, storage
from lmcore.layout import BOILERPLATE_FILENAME, LOSSES_FILENAME, REPORT_HTML, STATS_FILENAME
from pipelines.dataset import versions
from pipelines.report import data as report_data
from schemas import MANIFEST_FILENAME, ManifestError, load_manifest


# -- what the directory holds ------------------------------------------------------------------
@dataclass
class DatasetFiles:
    root: str
    manifest: str | None = None
    version_manifests: dict[int, str] = field(default_factory=dict)
    run_stats: dict[int, str] = field(default_factory=dict)
    stats: str | None = None
    shards: list[str] = field(default_factory=list)  # listed shard files (when there is no manifest)
    documents: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    quarantine: list[str] = field(default_factory=list)
    boilerplate: str | None = None
    losses: str | None = None


def _find(root: str, sub: str, suffix: str) -> list[str]:
    """Files under ``root/sub`` ending in ``suffix`` (recursive, sorted), skipping temporaries."""
    fs, base = storage.get_fs(storage.join(root, sub))
    if not fs.exists(base):
        return []
    base = base.rstrip("/")
    found = [
        f[len(base) :].lstrip("/")
        for f in fs.find(base)
        if f.endswith(suffix) and not f.rsplit("/", 1)[-1].startswith((".", "_", storage.TMP_PREFIX))
    ]
    # Rebuild the paths from ``root`` as the user spelled it, so that they relate to it (URLs too).
    return [storage.join(root, sub, rel) for rel in sorted(found)]


def _first_existing(paths: list[str]) -> str | None:
    return next((p for p in paths if storage.exists(p)), None)


def discover(root: str) -> DatasetFiles:
    """Locate every input of a report in ``root`` (nothing is read yet)."""
    root = root.rstrip("/")
    files = DatasetFiles(root)
    manifest = storage.join(root, MANIFEST_FILENAME)
    files.manifest = manifest if storage.exists(manifest) else None
    vs = versions.committed_versions(root)
    files.version_manifests = {v: storage.join(root, versions.manifest_name(v)) for v in vs}
    state = [(v, versions.version_dir(root, layout.STATE_DIR, v)) for v in vs]
    files.run_stats = {
        v: storage.join(d, STATS_FILENAME)
        for v, d in state
        if storage.exists(storage.join(d, STATS_FILENAME))
    }
    files.stats = _first_existing([storage.join(root, STATS_FILENAME)]) or (
        files.run_stats[max(files.run_stats)] if files.run_stats else None
    )
    files.boilerplate = _newest(root, [d for _, d in state], BOILERPLATE_FILENAME)
    files.losses = _newest(root, [d for _, d in state], LOSSES_FILENAME)
    files.shards = _find(root, layout.SHARDS_DIR, ".arrow")
    files.documents = _find(root, "documents", ".parquet")
    # Standalone stages write dropped/ and quarantine/ at the top; prepare under each version's state/.
    for kind in (layout.DROPPED_DIR, layout.QUARANTINE_DIR):
        found = _find(root, kind, ".jsonl.gz") + [p for _, d in state for p in _find(d, kind, ".jsonl.gz")]
        setattr(files, kind, found)
    return files


def _newest(root: str, state_dirs: list[str], name: str) -> str | None:
    """``root/name``, else the newest committed version's ``state/v0000N/name``."""
    return _first_existing([storage.join(root, name)] + [storage.join(d, name) for d in reversed(state_dirs)])


def _rel(root: str, path: str) -> str:
    return path[len(root) + 1 :] if path.startswith(root + "/") else path


def _read_json(path: str) -> Any:
    return json.loads(storage.read_text(path))


# -- the numbers -----------------------------------------------------------------------------
def _section(report: dict, name: str, ok: bool, note: str) -> None:
    report["sections"][name] = {"status": "ok" if ok else "skipped", "note": note}


def _check(report: dict, name: str, ok: bool, detail: str, level: str = "error") -> None:
    report["checks"].append({"check": name, "ok": bool(ok), "level": level, "detail": detail})


def _add_shard(
    report: dict, acc: report_data.ShardsAccumulator, full: str, rel: str, split: str | None
) -> dict | None:
    try:
        row = acc.add_file(full, rel, split)
    except (OSError, ValueError, pa.ArrowException) as exc:
        _check(report, f"shard {rel} is readable", False, f"{type(exc).__name__}: {exc}")
        return None
    row["version"] = report_data.version_from_path(rel)
    return row


def _shards_part(report: dict, files: DatasetFiles, manifest: Mapping[str, Any] | None) -> None:
    acc = report_data.ShardsAccumulator()
    if manifest is not None:
        listed = manifest["shards"]
        missing, problems = [], []
        for s in listed:
            full = storage.join(files.root, s["path"])
            if not storage.exists(full):
                missing.append(s["path"])
                continue
            row = _add_shard(report, acc, full, s["path"], s["split"])
            if row is not None and (bad := report_data.shard_mismatches(row, s)):
                problems.append(f"{s['path']}: {', '.join(bad)}")
        _check(
            report,
            "every shard in the manifest exists",
            not missing,
            ", ".join(missing[:20]) or f"{len(listed)} shards",
        )
        _check(
            report,
            "shard contents match the manifest (documents, tokens, bytes)",
            not problems,
            "; ".join(problems[:20]) or f"{len(listed) - len(missing)} shards checked",
        )
        unlisted = sorted({_rel(files.root, p) for p in files.shards} - {s["path"] for s in listed})
        if unlisted:
            _check(
                report,
                "no shard files outside the manifest",
                False,
                f"{len(unlisted)} file(s) not listed (uncommitted leftovers of a killed run?): {', '.join(unlisted[:5])}",
                level="warning",
            )
        where = f"{len(listed)} shards listed in manifest.json"
    else:
        for path in files.shards:
            _add_shard(report, acc, path, _rel(files.root, path), None)
        where = f"{len(files.shards)} shard files found under shards/ (no manifest.json)"
    if not acc.shards:
        report["tokens"] = None
        note = "no token shards (no manifest.json and no shards/*.arrow): not a tokenize/prepare output"
        for name in ("composition", "lengths", "shards"):
            _section(report, name, False, note)
        return
    report["tokens"] = acc.result()
    for name in ("composition", "lengths", "shards"):
        _section(report, name, True, f"from {where}")


def _documents_part(report: dict, files: DatasetFiles) -> None:
    if not files.documents:
        report["documents"] = None
        _section(
            report, "documents", False, "no documents/*.parquet (only clean and dedup outputs have them)"
        )
        return
    acc = report_data.DocumentsAccumulator()
    for path in files.documents:
        acc.add_file(path)
    report["documents"] = acc.result()
    _section(report, "documents", True, f"from {len(files.documents)} files under documents/")


def _accounting_part(report: dict, files: DatasetFiles, manifest: Mapping[str, Any] | None) -> dict:
    stats = _read_json(files.stats) if files.stats else None
    if stats is not None:
        acc = {
            "source": _rel(files.root, files.stats),
            "stage": stats.get("stage"),
            "finished_at": stats.get("finished_at"),
            "counts": stats["counts"],
            "balanced": stats.get("balanced"),
            "annotations": stats.get("annotations", {}),
        }
    elif manifest is not None:
        acc = {
            "source": "manifest.json (cumulative counts)",
            "stage": None,
            "finished_at": None,
            "counts": manifest["counts"],
            "balanced": None,
            "annotations": {},
        }
    else:
        report["accounting"] = None
        _section(
            report,
            "accounting",
            False,
            "no stats.json and no manifest.json: nothing says where documents went",
        )
        return {}
    counts = acc["counts"]
    removed = sum(sum(counts.get(b, {}).values()) for b in ("dropped", "duplicates", "quarantined"))
    balanced = counts["input"] == counts["kept"] + removed
    acc["balanced"] = balanced if acc["balanced"] is None else acc["balanced"]
    acc["removals"] = report_data.removal_rows(counts)
    acc["cumulative_counts"] = manifest["counts"] if manifest is not None else None
    report["accounting"] = acc
    _check(
        report,
        f"counts in {acc['source']} add up",
        balanced,
        f"input {counts['input']:,} vs kept + removed {counts['kept'] + removed:,}",
    )
    _section(report, "accounting", True, f"from {acc['source']}")
    return acc


def _records_part(report: dict, files: DatasetFiles, acc: Mapping[str, Any], versioned: bool) -> None:
    dropped = (
        report_data.summarise_dropped(report_data.read_dropped_tables(files.dropped))
        if files.dropped
        else None
    )
    quarantine = (
        report_data.summarise_quarantine(report_data.iter_jsonl_gz(files.quarantine))
        if files.quarantine
        else None
    )
    report["dropped_records"] = dropped
    report["quarantine_records"] = quarantine
    counts = acc.get("counts") or {}
    # In a versioned directory the record files of every version sit side by side: compare with the
    # cumulative counts of the manifest; otherwise with the run's own stats.json.
    reference = (acc.get("cumulative_counts") if versioned else None) or counts
    if quarantine is not None and reference:
        expected = sum(reference.get("quarantined", {}).values())
        _check(
            report,
            "quarantine records match the counts",
            quarantine["records"] == expected,
            f"{quarantine['records']:,} records in quarantine/, counts say {expected:,}",
        )
    if dropped is not None and reference:
        expected = sum(sum(reference.get(b, {}).values()) for b in ("dropped", "duplicates"))
        _check(
            report,
            "dropped records cover every dropped or duplicate document",
            dropped["documents"] == expected,
            f"{dropped['documents']:,} records in dropped/, counts say {expected:,} (dropped records are "
            "only written with --keep-dropped)",
            level="warning",
        )
    removals = acc.get("removals") or []
    # Records of earlier versions count too: the latest run may have dropped nothing.
    has_drops = any(r["bucket"] in ("dropped", "duplicates") for r in removals) or bool(
        dropped and dropped["documents"]
    )
    has_quarantine = any(r["bucket"] == "quarantined" for r in removals) or bool(
        quarantine and quarantine["records"]
    )
    _section(
        report,
        "drop_reasons",
        has_drops,
        ("from the accounting counts" + (" and dropped/ records" if dropped else ""))
        if has_drops
        else "no dropped or duplicate documents are counted",
    )
    _section(
        report,
        "quarantine",
        has_quarantine,
        "from the accounting counts and quarantine/ records" if has_quarantine else "nothing was quarantined",
    )

    annotations = acc.get("annotations") or {}
    clusters = report_data.clusters_from_annotations(annotations)
    source = "stats.json annotations dedup_clusters/size_N"
    if not clusters and dropped and dropped["cluster_sizes"]:
        clusters, source = dropped["cluster_sizes"], "duplicate_of in dropped/ records"
    report["duplicate_clusters"] = {"source": source, "sizes": clusters} if clusters else None
    _section(
        report,
        "duplicates",
        bool(clusters),
        f"from {source}"
        if clusters
        else (
            "no duplicate clusters recorded (no dedup_clusters annotations in stats.json and no dropped/ "
            "records with duplicate_of)"
        ),
    )

    top = _read_json(files.boilerplate) if files.boilerplate else None
    bp = report_data.boilerplate_summary(annotations, top)
    has_bp = bool(bp["top_lines"]) or bp["lines_removed"] is not None
    report["boilerplate"] = (
        dict(bp, source=_rel(files.root, files.boilerplate) if files.boilerplate else None)
        if has_bp
        else None
    )
    _section(
        report,
        "boilerplate",
        has_bp,
        f"from {_rel(files.root, files.boilerplate) if files.boilerplate else 'stats.json annotations'}"
        if has_bp
        else f"no boilerplate annotations in stats.json and no {BOILERPLATE_FILENAME} (not a dedup output)",
    )


def _bytes_part(report: dict, files: DatasetFiles, acc: Mapping[str, Any]) -> None:
    """Bytes per stage, rule and source (stats.json annotations) and the clean stage's worst losses."""
    ann = acc.get("annotations") or {}
    docs = report.get("documents")
    shard_bytes = sum(ann["text_bytes"].values()) if ann.get("text_bytes") else None
    summary = report_data.bytes_summary(ann, docs["totals"]["bytes"] if docs else None, shard_bytes)
    report["bytes"] = summary
    losses = _read_json(files.losses) if files.losses else None
    report["clean_losses"] = (
        {"source": _rel(files.root, files.losses), "documents": report_data.loss_rows(losses)}
        if isinstance(losses, list)
        else None
    )
    latest = f", the run that made version {max(files.version_manifests)}" if files.version_manifests else ""
    where = [f"{acc['source']} annotations{latest}"] if summary else []
    where += [report["clean_losses"]["source"]] if report["clean_losses"] else []
    _section(
        report,
        "bytes",
        bool(where),
        f"from {' and '.join(where)}"
        if where
        else "not recorded: stats.json has no bytes_clean/bytes_dedup annotations and there is no "
        f"{LOSSES_FILENAME} (a dataset written before byte accounting, or no clean/dedup stage)",
    )


def _versions_part(report: dict, files: DatasetFiles, manifest: Mapping[str, Any] | None) -> None:
    manifests = [load_manifest(p).to_dict() for _, p in sorted(files.version_manifests.items())]
    if not manifests and manifest is not None:
        manifests = [manifest]
    run_stats = {v: _read_json(p) for v, p in files.run_stats.items()}
    report["versions"] = report_data.version_rows(manifests, run_stats) if manifests else []
    n = len(report["versions"])
    _section(
        report,
        "versions",
        n > 0,
        f"{n} version(s) from manifest-v*.json"
        if files.version_manifests
        else ("one unversioned manifest.json" if n else "no manifest.json: not a tokenize/prepare output"),
    )


def _check_run_tokens(report: dict, files: DatasetFiles) -> None:
    """The tokenize stage's ``tokens/<split>`` annotations equal the tokens of the shards that run wrote."""
    acc, tok = report.get("accounting") or {}, report.get("tokens")
    recorded = (acc.get("annotations") or {}).get("tokens")
    if not recorded or not tok:
        return
    shards = tok["shards"]
    if files.version_manifests:  # the last run wrote the newest version's shards
        newest = max(files.version_manifests)
        shards = [s for s in shards if s.get("version") == newest]
    found: dict[str, int] = {}
    for s in shards:
        found[s["split"]] = found.get(s["split"], 0) + s["tokens"]
    _check(
        report,
        f"tokens/<split> in {acc['source']} match the shards",
        recorded == found,
        f"recorded {recorded}, shards hold {found}",
    )


def build_report(root: str) -> dict[str, Any]:
    """Every number of the report, as a JSON-ready dict (``report.json``)."""
    files = discover(root)
    report: dict[str, Any] = {
        "dataset_dir": files.root,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "inputs": {},
        "sections": {},
        "checks": [],
    }
    manifest = None
    if files.manifest:
        try:
            m = load_manifest(files.manifest)
            manifest = m.to_dict()
        except ManifestError as exc:
            _check(report, "manifest.json is valid", False, str(exc))
    report["manifest"] = (
        {
            k: manifest[k]
            for k in ("version", "created_at", "code_version", "fingerprint", "parent_fingerprint")
        }
        | {"tokenizer": manifest["tokenizer"]}
        if manifest
        else None
    )
    _shards_part(report, files, manifest)
    _documents_part(report, files)
    acc = _accounting_part(report, files, manifest)
    _records_part(report, files, acc, versioned=bool(files.version_manifests))
    _bytes_part(report, files, acc)
    _versions_part(report, files, manifest)
    _check_run_tokens(report, files)
    if manifest is not None and report["tokens"] is not None:
        shard_docs = report["tokens"]["totals"]["documents"]
        kept = manifest["counts"]["kept"]
        _check(
            report,
            "manifest counts.kept equals the documents in its shards",
            kept == shard_docs,
            f"kept {kept:,}, shards hold {shard_docs:,}",
        )
    report["inputs"] = {
        "manifest": files.manifest is not None,
        "version_manifests": len(files.version_manifests),
        "stats": _rel(files.root, files.stats) if files.stats else None,
        "shard_files": len(files.shards),
        "document_files": len(files.documents),
        "dropped_files": len(files.dropped),
        "quarantine_files": len(files.quarantine),
        "boilerplate_lines": _rel(files.root, files.boilerplate) if files.boilerplate else None,
        "clean_losses": _rel(files.root, files.losses) if files.losses else None,
    }
    return report


# -- plots -----------------------------------------------------------------------------------
PlotSpec = tuple[str, str, bytes]  # (name, caption, png)


def make_plots(report: Mapping[str, Any]) -> dict[str, list[PlotSpec]]:
    """Section name -> its figures. Only sections with data get figures."""
    from pipelines.report import plots as rp  # matplotlib is imported only when plotting

    plots: dict[str, list[PlotSpec]] = {}
    tok = report.get("tokens")
    if tok:
        plots["shards"] = [
            ("tokens_per_shard", "Tokens per shard", rp.tokens_per_shard(tok["shards"], "tokens per shard"))
        ]
    if tok and tok["totals"]["documents"]:
        plots["composition"] = [
            (
                "tokens_by_source",
                "Documents and tokens per source",
                rp.totals_bars(tok["by_source"], "per source"),
            ),
            (
                "tokens_by_lang",
                "Documents and tokens per language",
                rp.totals_bars(tok["by_lang"], "per language"),
            ),
        ]
        plots["lengths"] = [
            (
                "length_tokens",
                "Document length in tokens (incl. end-of-document)",
                rp.length_histogram(tok["doc_length_tokens"], "tokens per document", "tokens"),
            ),
            (
                "length_bytes",
                "Document length in UTF-8 bytes",
                rp.length_histogram(tok["doc_length_bytes"], "bytes per document", "bytes"),
            ),
        ]
    docs = report.get("documents")
    if docs and docs["totals"]["documents"]:
        plots["documents"] = [
            (
                "documents_by_source",
                "Documents and bytes per source",
                rp.totals_bars(docs["by_source"], "per source"),
            ),
            (
                "documents_by_lang",
                "Documents and bytes per language",
                rp.totals_bars(docs["by_lang"], "per language"),
            ),
            (
                "documents_length_bytes",
                "Document length in UTF-8 bytes",
                rp.length_histogram(docs["doc_length_bytes"], "bytes per document", "bytes"),
            ),
        ]
    acc = report.get("accounting") or {}
    drops = [r for r in acc.get("removals", []) if r["bucket"] in ("dropped", "duplicates")]
    if drops:
        plots["drop_reasons"] = [
            (
                "drop_reasons",
                "Dropped and duplicate documents by reason",
                rp.reason_bars(drops, "documents removed, by reason"),
            )
        ]
    quarantined = [r for r in acc.get("removals", []) if r["bucket"] == "quarantined"]
    if not quarantined and report.get("quarantine_records"):
        quarantined = [
            dict(r, bucket="quarantined", documents=r["records"])
            for r in report["quarantine_records"]["by_reason"]
        ]
    if quarantined:
        plots["quarantine"] = [
            (
                "quarantine_reasons",
                "Quarantined records by reason",
                rp.reason_bars(quarantined, "records quarantined, by reason"),
            )
        ]
    clusters = report.get("duplicate_clusters")
    if clusters:
        plots["duplicates"] = [
            (
                "duplicate_cluster_sizes",
                "Duplicate cluster sizes",
                rp.cluster_sizes(clusters["sizes"], "duplicate clusters by size"),
            )
        ]
    bp = report.get("boilerplate")
    if bp and bp["top_lines"]:
        plots["boilerplate"] = [
            (
                "boilerplate_lines",
                "Most frequent removed boilerplate lines",
                rp.boilerplate_lines(bp["top_lines"], "most frequent boilerplate lines"),
            )
        ]
    kept = (report.get("bytes") or {}).get("sources")
    if kept:
        plots["bytes"] = [
            (
                "bytes_kept_by_source",
                "Share of bytes kept per source (clean stage)",
                rp.kept_share_bars(kept, "share of bytes kept, per source"),
            )
        ]
    if report.get("versions"):
        plots["versions"] = [
            (
                "growth",
                "Growth across dataset versions",
                rp.growth(report["versions"], "growth over versions"),
            )
        ]
    return plots


# -- console -----------------------------------------------------------------------------------
def format_summary(report: Mapping[str, Any]) -> str:
    """A short table for the console: totals, where documents went, top sources and languages."""
    lines = [f"report for {report['dataset_dir']}"]
    tok = report.get("tokens")
    if tok:
        t = tok["totals"]
        lines.append(
            f"  token shards: {len(tok['shards']):,}  documents: {t['documents']:,}  tokens: {t['tokens']:,}"
            f"  bytes: {t['bytes']:,}  bytes/token: {t.get('bytes_per_token', 0):.3f}"
        )
    docs = report.get("documents")
    if docs:
        lines.append(
            f"  document files: {docs['files']:,}  documents: {docs['totals']['documents']:,}"
            f"  text bytes: {docs['totals']['bytes']:,}"
        )
    acc = report.get("accounting")
    if acc:
        c = acc["counts"]
        rows = [("input", c["input"]), ("kept", c["kept"])]
        rows += [(f"{r['bucket']}: {r['reason']}", r["documents"]) for r in acc["removals"]]
        width = max(len(name) for name, _ in rows)
        lines.append(f"  accounting ({acc['source']}, {'balanced' if acc['balanced'] else 'NOT BALANCED'}):")
        lines += [f"    {name:<{width}}  {n:>12,}" for name, n in rows]
    for key, title in (("by_source", "sources"), ("by_lang", "languages")):
        part = tok or docs
        if part and part[key]:
            metric = "tokens" if tok else "bytes"
            top = ", ".join(f"{r['name']} {r.get(metric, 0):,}" for r in part[key][:5])
            lines.append(f"  top {title} by {metric}: {top}")
    b = report.get("bytes")
    if b and b["input_bytes"]:
        top = ", ".join(
            f"{r['rule']} {r['bytes']:,} ({100 * (r['share_of_input'] or 0):.1f}%)"
            for r in sorted(b["rules"], key=lambda r: -r["bytes"])[:3]
        )
        lines.append(
            f"  bytes: {b['input_bytes']:,} in, {b['output_bytes']:,} out "
            f"({100 * b['output_bytes'] / b['input_bytes']:.1f}%); most removed: {top}"
        )
    if report.get("versions"):
        v = report["versions"][-1]
        lines.append(
            f"  versions: {len(report['versions'])} (latest v{v['version']}: {v['documents']:,} docs, {v['tokens']:,} tokens)"
        )
    failed = [c for c in report["checks"] if not c["ok"]]
    for c in failed:
        lines.append(f"  {c['level'].upper()}: {c['check']}: {c['detail']}")
    skipped = [name for name, s in report["sections"].items() if s["status"] == "skipped"]
    if skipped:
        lines.append(f"  skipped sections (inputs absent): {', '.join(skipped)}")
    return "\n".join(lines)


# -- entry point -------------------------------------------------------------------------------
def write_report(root: str, out_html: str | None = None) -> tuple[dict[str, Any], str, str]:
    """Build the report, write ``report.html`` and ``report.json``; return (report, html path, json path)."""
    from pipelines.report.html import render_html

    report = build_report(root)
    plots = make_plots(report)
    report["plots"] = {section: [name for name, _, _ in specs] for section, specs in plots.items()}
    out_html = out_html or storage.join(root.rstrip("/"), REPORT_HTML)
    out_json = (out_html[: -len(".html")] if out_html.endswith(".html") else out_html) + ".json"
    storage.atomic_write_text(
        out_json, json.dumps(report, indent=1, ensure_ascii=False, sort_keys=False) + "\n"
    )
    storage.atomic_write_text(out_html, render_html(report, plots))
    return report, out_html, out_json


# -- what-if -------------------------------------------------------------------------------------
def recorded_clean_config(files: DatasetFiles) -> tuple[dict[str, Any], str]:
    """The ``clean`` settings the dataset was made with (stats.json, else manifest.json), and where from."""
    for path in (files.stats, files.manifest):
        if path:
            clean = (_read_json(path).get("config") or {}).get("clean")
            if isinstance(clean, dict):
                return clean, _rel(files.root, path)
    return {}, ""


def _thresholds(lang: str | None, changes: Mapping[str, Any], base: str, preset: str | None) -> Any:
    """The thresholds the clean stage used for ``lang`` (its preset included), with ``changes`` on top."""
    from pipelines.clean import whatif

    return whatif.thresholds_with(lang, changes, base, **({"preset": preset} if preset else {}))


def _decider(changes: Mapping[str, Mapping[str, Any]], clean: Mapping[str, Any]) -> report_data.Decide:
    """``decide(lang, scores, changed)`` over the recorded thresholds, or those plus ``changes``.

    The preset comes from the document's measures (``quality.preset``), else the recorded
    settings, else the current default.
    """
    import yaml

    from pipelines.clean import whatif
    from pipelines.clean.config import CleanConfig

    overrides = clean.get("thresholds") or {}
    base = yaml.safe_dump(overrides, sort_keys=True) if overrides else ""
    default_preset = clean.get("preset") or CleanConfig().preset
    cache: dict[tuple[str | None, str, bool], Any] = {}

    def decide(lang: str | None, scores: Mapping[str, Any], changed: bool) -> str | None:
        key = (lang, str(scores.get("preset") or default_preset), changed)
        if key not in cache:
            cache[key] = _thresholds(lang, changes if changed else {}, base, key[1])
        return whatif.decide(lang, scores, cache[key])

    return decide


def what_if(root: str, assignments: list[str]) -> dict[str, Any]:
    """Re-decide the clean rules with ``clean.thresholds.LANG.KEY=VALUE`` assignments (writes nothing)."""
    from pipelines.stage.options import quiet_beam_import

    quiet_beam_import()  # the clean package imports Beam
    from pipelines.clean import whatif

    files = discover(root)
    changes = whatif.parse_assignments(assignments)
    clean, where = recorded_clean_config(files)
    acc = report_data.WhatIfAccumulator(_decider(changes, clean))
    for path in files.documents:
        for lang, source, nbytes, scores in report_data.iter_document_scores(path):
            acc.add_kept(lang, source, nbytes, scores)
    for rec in report_data.iter_jsonl_gz(files.dropped):
        acc.add_dropped(rec)
    out = acc.result()
    out.update(
        {
            "dataset_dir": files.root,
            "assignments": list(assignments),
            "changes": changes,
            "base": {
                "thresholds": clean.get("thresholds") or {},
                "preset": clean.get("preset"),
                "from": where,
            },
            "document_files": len(files.documents),
            "dropped_files": len(files.dropped),
            "is_token_dataset": bool(files.manifest or files.shards),
        }
    )
    return out


def _rows_text(rows: list[Mapping[str, Any]], title: str) -> list[str]:
    if not rows:
        return []
    width = max(len(str(r["name"])) for r in rows)
    lines = [f"    {title:<{width}}  {'documents':>10}  {'bytes':>14}"]
    lines += [f"    {r['name']:<{width}}  {r['documents']:>10,}  {r['bytes']:>14,}" for r in rows]
    return lines


NEEDS_DOCUMENTS = """  what-if needs the kept documents' measures, and this directory has no documents/*.parquet
  (a prepare/tokenize output keeps token shards only; their rows carry no scores). Get them with
  the same --config:  python -m pipelines.clean --input=RAW --output=DIR2 --config=CONFIG
  then:               python -m pipelines.report DIR2 --what-if ..."""


def format_what_if(result: Mapping[str, Any]) -> str:
    """The console answer: what the new thresholds would drop, per source and reason, and keep."""
    base = result["base"]
    lines = [
        f"what-if for {result['dataset_dir']}: {' '.join(result['assignments'])}",
        "  compared with: the default thresholds"
        + (
            f" + the dataset's clean.thresholds (from {base['from']})"
            if base["thresholds"]
            else (f" (the dataset's settings, from {base['from']}, override none)" if base["from"] else "")
        )
        + ("" if base["from"] else " (no clean settings recorded in stats.json or manifest.json)"),
    ]
    kept = result["kept"]
    if result["document_files"]:
        wd = kept["would_drop"]
        lines.append(
            f"  kept documents: {kept['documents']:,} ({kept['bytes']:,} bytes) in {result['document_files']} file(s); "
            f"{kept['without_scores']:,} without meta.quality, {kept['not_reproduced']:,} failing even the "
            "recorded thresholds (both left out)"
        )
        lines.append(
            f"  would be dropped: {wd['documents']:,} documents ({100 * (wd['documents_share'] or 0):.2f}%), "
            f"{wd['bytes']:,} bytes ({100 * (wd['bytes_share'] or 0):.2f}%)"
        )
        lines += _rows_text(wd["by_source"], "by source") + _rows_text(wd["by_reason"], "by reason")
    else:
        lines.append(NEEDS_DOCUMENTS)
    dropped = result["dropped"]
    if dropped["documents"]:
        wk = dropped["would_keep"]
        skipped = sum(dropped["not_redecidable"].values())
        lines.append(
            f"  dropped records with measures: {dropped['documents']:,}; would now be kept: {wk['documents']:,} "
            f"({wk['bytes']:,} bytes); {skipped:,} not re-decidable (rules the measures cannot re-run: "
            + (", ".join(f"{k} {n:,}" for k, n in dropped["not_redecidable"].items()) or "none")
            + ")"
        )
        if dropped["without_lang"]:
            lines.append(
                f"    {dropped['without_lang']:,} of them carry no language: judged by the 'default' thresholds"
            )
        lines += _rows_text(wk["by_source"], "by source") + _rows_text(wk["by_reason"], "by old reason")
    elif result["dropped_files"]:
        lines.append("  dropped/ records carry no clean-stage measures (quality): nothing to re-decide there")
    else:
        lines.append(
            "  no dropped/ records (run the stage with --keep-dropped to see which drops would be kept)"
        )
    return "\n".join(lines)


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
    found = discover(args.dir)
    if not (
        found.manifest or found.stats or found.shards or found.documents or found.dropped or found.quarantine
    ):
        print(
            f"error: {args.dir} holds no lmforge output (no manifest.json, stats.json, shards/, documents/, "
            "dropped/ or quarantine/)",
            file=sys.stderr,
        )
        return 2
    report, html_path, json_path = write_report(args.dir, args.out)
    print(format_summary(report))
    print(f"wrote {html_path} and {json_path} in {time.monotonic() - started:.1f}s")
    return 1 if any(not c["ok"] and c["level"] == "error" for c in report["checks"]) else 0

"""``--what-if``: the clean rules re-decided for a directory's documents with other thresholds.

Writes nothing. Kept documents carry their measures in ``meta["quality"]`` and so do the
``dropped/`` records of the clean stage, so no text is re-scored; a document counts only
where the recorded thresholds reproduce what the clean stage decided.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from lmcore import storage
from pipelines.report import data
from pipelines.report.data import Totals, share, totals_rows
from pipelines.report.files import DatasetFiles, discover, read_json

# -- the counts ------------------------------------------------------------------------------
Decide = Callable[[str | None, Mapping[str, Any], bool], str | None]  # (lang, scores, changed) -> reason


def _bump(table: Totals, key: str, nbytes: int) -> None:
    row = table.setdefault(key, {"documents": 0, "bytes": 0})
    row["documents"] += 1
    row["bytes"] += nbytes


@dataclass
class WhatIfAccumulator:
    """Kept documents that new thresholds would drop, and dropped ones they would keep.

    ``decide(lang, scores, changed)`` applies the recorded thresholds (``changed=False``)
    or the new ones. A document counts only where the recorded thresholds reproduce what
    the clean stage decided: a kept one must pass them, a dropped one must fail them for
    its recorded reason (rules the measures cannot re-run, e.g. ``language_not_allowed``,
    are left out).
    """

    decide: Decide
    kept: int = 0
    kept_bytes: int = 0
    no_scores: int = 0
    not_reproduced: int = 0
    drop_by_source: Totals = field(default_factory=dict)
    drop_by_reason: Totals = field(default_factory=dict)
    dropped: int = 0
    dropped_without_lang: int = 0  # re-decided with the ``default`` thresholds
    dropped_not_redecidable: Counter = field(default_factory=Counter)
    keep_by_source: Totals = field(default_factory=dict)
    keep_by_reason: Totals = field(default_factory=dict)

    def add_kept(self, lang: str | None, source: str, nbytes: int, scores: Mapping[str, Any] | None) -> None:
        self.kept += 1
        self.kept_bytes += nbytes
        if not scores:
            self.no_scores += 1
            return
        if self.decide(lang, scores, False) is not None:
            self.not_reproduced += 1
            return
        reason = self.decide(lang, scores, True)
        if reason is not None:
            _bump(self.drop_by_source, source, nbytes)
            _bump(self.drop_by_reason, reason, nbytes)

    def add_dropped(self, rec: Mapping[str, Any]) -> None:
        """A ``dropped/`` record of the clean stage with its ``quality`` measures."""
        scores = rec.get("quality")
        if rec.get("stage") != "clean" or not scores:
            return
        self.dropped += 1
        lang = rec.get("lang") or scores.get("lang")
        if lang is None:
            self.dropped_without_lang += 1
        if self.decide(lang, scores, False) != rec.get("reason"):
            self.dropped_not_redecidable[str(rec.get("reason"))] += 1
            return
        if self.decide(lang, scores, True) is None:
            nbytes = len(str(rec.get("text") or "").encode("utf-8", "surrogatepass"))
            _bump(self.keep_by_source, str(rec.get("source") or "unknown"), nbytes)
            _bump(self.keep_by_reason, str(rec.get("reason")), nbytes)

    def result(self) -> dict[str, Any]:
        drop_docs = sum(r["documents"] for r in self.drop_by_source.values())
        drop_bytes = sum(r["bytes"] for r in self.drop_by_source.values())
        return {
            "kept": {
                "documents": self.kept,
                "bytes": self.kept_bytes,
                "without_scores": self.no_scores,
                "not_reproduced": self.not_reproduced,
                "would_drop": {
                    "documents": drop_docs,
                    "bytes": drop_bytes,
                    "documents_share": share(drop_docs, self.kept),
                    "bytes_share": share(drop_bytes, self.kept_bytes),
                    "by_source": totals_rows(self.drop_by_source),
                    "by_reason": totals_rows(self.drop_by_reason),
                },
            },
            "dropped": {
                "documents": self.dropped,
                "without_lang": self.dropped_without_lang,
                "not_redecidable": dict(sorted(self.dropped_not_redecidable.items())),
                "would_keep": {
                    "documents": sum(r["documents"] for r in self.keep_by_source.values()),
                    "bytes": sum(r["bytes"] for r in self.keep_by_source.values()),
                    "by_source": totals_rows(self.keep_by_source),
                    "by_reason": totals_rows(self.keep_by_reason),
                },
            },
        }


def iter_document_scores(
    path: str, batch_size: int = 8192
) -> Iterator[tuple[str | None, str, int, dict | None]]:
    """(lang, source, text bytes, meta["quality"]) of every document in one document Parquet file."""
    fs, p = storage.get_fs(path)
    with fs.open(p, "rb") as f:
        pf = pq.ParquetFile(f)
        names = pf.schema_arrow.names
        columns = [c for c in ("source", "lang", "text", "meta") if c in names]
        for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
            n = batch.num_rows
            nbytes = pc.binary_length(batch.column("text")).to_numpy(zero_copy_only=False)
            sources = batch.column("source").to_pylist() if "source" in names else ["unknown"] * n
            langs = batch.column("lang").to_pylist() if "lang" in names else [None] * n
            metas = batch.column("meta").to_pylist() if "meta" in names else [None] * n
            for i in range(n):
                meta = json.loads(metas[i]) if metas[i] else {}
                yield langs[i], sources[i] or "unknown", int(nbytes[i] or 0), meta.get("quality")


# -- the question -------------------------------------------------------------------------------
def recorded_clean_config(files: DatasetFiles) -> tuple[dict[str, Any], str]:
    """The ``clean`` settings the dataset was made with (stats.json, else manifest.json), and where from."""
    for path in (files.stats, files.manifest):
        if path:
            clean = (read_json(path).get("config") or {}).get("clean")
            if isinstance(clean, dict):
                return clean, files.rel(path)
    return {}, ""


def _thresholds(lang: str | None, changes: Mapping[str, Any], base: str, preset: str | None) -> Any:
    """The thresholds the clean stage used for ``lang`` (its preset included), with ``changes`` on top."""
    from pipelines.clean import whatif

    return whatif.thresholds_with(lang, changes, base, **({"preset": preset} if preset else {}))


def _decider(changes: Mapping[str, Mapping[str, Any]], clean: Mapping[str, Any]) -> Decide:
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
    acc = WhatIfAccumulator(_decider(changes, clean))
    for path in files.documents:
        for lang, source, nbytes, scores in iter_document_scores(path):
            acc.add_kept(lang, source, nbytes, scores)
    for rec in data.iter_jsonl_gz(files.dropped):
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

"""Token shards: documents/tokens per source, language and split, length distributions, tokens per shard.

Compared with the manifest by ``pipelines.dataset.verify``'s own comparisons, so the report
and ``python -m pipelines.verify`` agree on what "matches" means.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from lmcore import storage
from lmcore.report import Figure
from lmcore.report.checks import WARNING
from pipelines.dataset import verify
from pipelines.report import data
from pipelines.report.context import ReportContext
from pipelines.report.panel import Panel, Report

NAMES = ("composition", "lengths", "shards")
ABSENT = "no token shards (no manifest.json and no shards/*.arrow): not a tokenize/prepare output"


def _add_shard(
    ctx: ReportContext, acc: data.ShardsAccumulator, full: str, rel: str, split: str | None
) -> dict | None:
    try:
        row = acc.add_file(full, rel, split)
    except (OSError, ValueError, pa.ArrowException) as exc:
        ctx.check(f"shard {rel} is readable", False, f"{type(exc).__name__}: {exc}")
        return None
    row["version"] = data.version_from_path(rel)
    return row


def _listed_shards(ctx: ReportContext, acc: data.ShardsAccumulator) -> str:
    """Read the shards the manifest lists, checking each against its entry; return where they came from."""
    root, listed = ctx.files.root, ctx.manifest["shards"]
    missing, problems = [], []
    for s in listed:
        full = storage.join(root, s["path"])
        if not storage.exists(full):
            missing.append(s["path"])
            continue
        row = _add_shard(ctx, acc, full, s["path"], s["split"])
        if row is not None and (bad := verify.shard_mismatches(s, row)):
            problems.append(
                f"{s['path']}: " + ", ".join(f"{m.field}: manifest {m.listed}, shard {m.found}" for m in bad)
            )
    ctx.check(
        "every shard in the manifest exists", not missing, ", ".join(missing[:20]) or f"{len(listed)} shards"
    )
    ctx.check(
        "shard contents match the manifest (documents, tokens, bytes)",
        not problems,
        "; ".join(problems[:20]) or f"{len(listed) - len(missing)} shards checked",
    )
    extra = verify.unlisted([s["path"] for s in listed], [ctx.files.rel(p) for p in ctx.files.shards])
    if extra:
        ctx.check(
            "no shard files outside the manifest",
            False,
            f"{len(extra)} file(s) not listed (uncommitted leftovers of a killed run?): {', '.join(extra[:5])}",
            level=WARNING,
        )
    return f"{len(listed)} shards listed in manifest.json"


def compute(ctx: ReportContext) -> None:
    acc = data.ShardsAccumulator()
    if ctx.manifest is not None:
        where = _listed_shards(ctx, acc)
    else:
        for path in ctx.files.shards:
            _add_shard(ctx, acc, path, ctx.files.rel(path), None)
        where = f"{len(ctx.files.shards)} shard files found under shards/ (no manifest.json)"
    ctx.values["tokens"] = acc.result() if acc.shards else None
    for name in NAMES:
        ctx.section(name, bool(acc.shards), f"from {where}" if acc.shards else ABSENT)


def _run_tokens_check(ctx: ReportContext) -> None:
    """The tokenize stage's ``tokens/<split>`` annotations equal the tokens of the shards that run wrote."""
    acc, tok = ctx.values.get("accounting") or {}, ctx.values.get("tokens")
    recorded = (acc.get("annotations") or {}).get("tokens")
    if not recorded or not tok:
        return
    shards = tok["shards"]
    if ctx.files.version_manifests:  # the last run wrote the newest version's shards
        newest = max(ctx.files.version_manifests)
        shards = [s for s in shards if s.get("version") == newest]
    found: dict[str, int] = {}
    for s in shards:
        found[s["split"]] = found.get(s["split"], 0) + s["tokens"]
    ctx.check(
        f"tokens/<split> in {acc['source']} match the shards",
        recorded == found,
        f"recorded {recorded}, shards hold {found}",
    )


def cross_checks(ctx: ReportContext) -> None:
    """Checks that need the accounting too: run tokens, and ``counts.kept`` against the shards."""
    _run_tokens_check(ctx)
    tok = ctx.values.get("tokens")
    if ctx.manifest is not None and tok is not None:
        shard_docs, kept = tok["totals"]["documents"], ctx.manifest["counts"]["kept"]
        ctx.check(
            "manifest counts.kept equals the documents in its shards",
            not verify.shard_mismatches({"num_docs": kept}, {"documents": shard_docs}),
            f"kept {kept:,}, shards hold {shard_docs:,}",
        )


# -- figures ----------------------------------------------------------------------------------------
def _has_documents(r: Report) -> dict[str, Any] | None:
    tok = r.get("tokens")
    return tok if tok and tok["totals"]["documents"] else None


def composition_figures(r: Report) -> list[Figure]:
    from pipelines.report import plots

    tok = _has_documents(r)
    if not tok:
        return []
    return [
        Figure(
            "tokens_by_source",
            "Documents and tokens per source",
            plots.totals_bars(tok["by_source"], "per source"),
        ),
        Figure(
            "tokens_by_lang",
            "Documents and tokens per language",
            plots.totals_bars(tok["by_lang"], "per language"),
        ),
    ]


def length_figures(r: Report) -> list[Figure]:
    from pipelines.report import plots

    tok = _has_documents(r)
    if not tok:
        return []
    return [
        Figure(
            "length_tokens",
            "Document length in tokens (incl. end-of-document)",
            plots.length_histogram(tok["doc_length_tokens"], "tokens per document", "tokens"),
        ),
        Figure(
            "length_bytes",
            "Document length in UTF-8 bytes",
            plots.length_histogram(tok["doc_length_bytes"], "bytes per document", "bytes"),
        ),
    ]


def shard_figures(r: Report) -> list[Figure]:
    from pipelines.report import plots

    tok = r.get("tokens")
    if not tok:
        return []
    return [
        Figure(
            "tokens_per_shard", "Tokens per shard", plots.tokens_per_shard(tok["shards"], "tokens per shard")
        )
    ]


PANELS = (
    Panel(
        "composition",
        "Documents and tokens per source and language",
        "sections/composition.html.j2",
        composition_figures,
    ),
    Panel("lengths", "Document lengths", "sections/lengths.html.j2", length_figures),
    Panel("shards", "Tokens per shard", "sections/shards.html.j2", shard_figures),
)

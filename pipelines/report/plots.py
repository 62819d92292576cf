"""Matplotlib (Agg) figures for ``pipelines.report``: each function takes report numbers, returns PNG bytes.

Plotting is deliberately thin: every number drawn here is computed (and tested) in
``pipelines.report.data`` and written to ``report.json`` as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from lmcore.report.figures import NO_SOFTWARE_TAG, png_bytes
from lmcore.report.fonts import drawable, use_cjk_font

BUCKET_COLOURS = {"dropped": "#d62728", "duplicates": "#ff7f0e", "quarantined": "#7f7f7f"}
SPLIT_COLOURS = {"train": "#1f77b4", "validation": "#2ca02c"}
TOP_N = 20
MAX_LABEL = 48


def label(text: str, limit: int = MAX_LABEL) -> str:
    """A plot label: shortened, one line, with characters the font cannot draw shown as '?'."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return drawable(text)


def _subplots(*args: Any, **kwargs: Any) -> Any:
    """``plt.subplots`` after the fonts are set: a figure's texts take their font when it is created."""
    use_cjk_font()
    return plt.subplots(*args, **kwargs)


def _png(fig: plt.Figure) -> bytes:
    # missing-glyph warnings are silenced: the HTML tables carry the exact text
    return png_bytes(fig, quiet=True, metadata=NO_SOFTWARE_TAG)


def _top(rows: Sequence[Mapping[str, Any]], metric: str, n: int = TOP_N) -> list[Mapping[str, Any]]:
    """The ``n`` largest rows, the rest folded into one '(N others)' row."""
    rows = list(rows)
    if len(rows) <= n:
        return rows
    head, tail = rows[: n - 1], rows[n - 1 :]
    other: dict[str, Any] = {"name": f"({len(tail)} others)"}
    for key in ("documents", "tokens", "bytes"):
        if key in tail[0]:
            other[key] = sum(r.get(key, 0) for r in tail)
    return [*head, other]


def totals_bars(rows: Sequence[Mapping[str, Any]], title: str) -> bytes:
    """Side-by-side horizontal bars: documents and tokens (or bytes) per group."""
    second = "tokens" if rows and "tokens" in rows[0] else "bytes"
    rows = _top(rows, second)
    names = [label(r["name"], 28) for r in rows][::-1]
    fig, axes = _subplots(1, 2, figsize=(10, max(2.4, 0.9 + 0.32 * len(rows))), sharey=True)
    for ax, metric, colour in ((axes[0], "documents", "#1f77b4"), (axes[1], second, "#9467bd")):
        values = [r.get(metric, 0) for r in rows][::-1]
        bars = ax.barh(names, values, color=colour)
        ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2, fontsize=7)
        ax.set_xlabel(metric)
        ax.margins(x=0.2)
    fig.suptitle(title)
    return _png(fig)


def length_histogram(summary: Mapping[str, Any], title: str, unit: str) -> bytes:
    """Document-length histogram on a log x axis, with the median and p90/p99 marked."""
    hist = summary["histogram"]
    fig, ax = _subplots(figsize=(8, 3.6))
    ax.stairs(hist["counts"], hist["edges"], fill=True, alpha=0.7)
    ax.set_xscale("log")
    for key, style in (("p50", "-"), ("p90", "--"), ("p99", ":")):
        if key in summary:
            ax.axvline(
                max(summary[key], 1),
                color="k",
                linestyle=style,
                linewidth=1,
                label=f"{key} = {summary[key]:,}",
            )
    ax.set_xlabel(f"document length ({unit}, log scale)")
    ax.set_ylabel("documents")
    ax.set_title(f"{title}  (n = {summary['documents']:,}, mean {summary['mean']:,.1f})")
    ax.legend(fontsize=8)
    return _png(fig)


def reason_bars(rows: Sequence[Mapping[str, Any]], title: str, count_key: str = "documents") -> bytes:
    """Horizontal bars per reason, coloured by bucket (dropped / duplicates / quarantined)."""
    rows = list(rows)
    if len(rows) > TOP_N:
        tail = rows[TOP_N - 1 :]
        other = {
            "bucket": "other",
            "reason": f"{len(tail)} other reasons",
            count_key: sum(r[count_key] for r in tail),
        }
        rows = [*rows[: TOP_N - 1], other]
    rows = rows[::-1]
    fig, ax = _subplots(figsize=(8, max(2.4, 0.9 + 0.32 * len(rows))))
    names = [label(f"{r.get('bucket', r.get('stage', ''))}: {r['reason']}", 40) for r in rows]
    values = [r[count_key] for r in rows]
    colours = [BUCKET_COLOURS.get(r.get("bucket", "quarantined"), "#7f7f7f") for r in rows]
    bars = ax.barh(names, values, color=colours)
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2, fontsize=7)
    ax.set_xlabel(count_key)
    ax.margins(x=0.15)
    ax.set_title(title)
    return _png(fig)


def kept_share_bars(rows: Sequence[Mapping[str, Any]], title: str) -> bytes:
    """Per source: the share of its bytes the clean stage kept (bar), over the whole input (grey)."""
    rows = sorted(rows, key=lambda r: (-r["bytes_in"], r["name"]))[:TOP_N][::-1]
    names = [label(r["name"], 32) for r in rows]
    shares = [100 * (r["bytes_kept_share"] or 0.0) for r in rows]
    fig, ax = _subplots(figsize=(9, max(2.4, 0.9 + 0.32 * len(rows))))
    ax.barh(names, [100] * len(rows), color="#e6e6e6")
    bars = ax.barh(names, shares, color="#2ca02c")
    ax.bar_label(
        bars,
        labels=[f"{s:.1f}% of {r['bytes_in']:,} B" for s, r in zip(shares, rows)],
        padding=3,
        fontsize=7,
    )
    ax.set_xlim(0, 130)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("% of the source's input bytes kept (largest sources first)")
    ax.set_title(title)
    return _png(fig)


def cluster_sizes(rows: Sequence[Mapping[str, int]], title: str) -> bytes:
    """Number of duplicate clusters per cluster size (log y: the tail matters)."""
    xs, ys = [r["size"] for r in rows], [r["clusters"] for r in rows]
    fig, ax = _subplots(figsize=(8, 3.6))
    ax.bar([str(x) for x in xs], ys, color="#ff7f0e")
    ax.set_yscale("log")
    ax.set_xlabel("cluster size (representative + removed copies)")
    ax.set_ylabel("clusters")
    ax.set_title(title)
    return _png(fig)


def boilerplate_lines(lines: Sequence[Mapping[str, Any]], title: str) -> bytes:
    """The most frequent removed lines, by number of documents that contained them."""
    rows = list(lines)[:TOP_N][::-1]
    fig, ax = _subplots(figsize=(10, max(2.4, 0.9 + 0.32 * len(rows))))
    n = len(rows)
    names = [label(f"#{n - i}  {r['line']}", 60) for i, r in enumerate(rows)]
    values = [r["documents"] for r in rows]
    bars = ax.barh(names, values, color="#8c564b")
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2, fontsize=7)
    ax.set_xlabel("documents containing the line")
    ax.margins(x=0.15)
    ax.set_title(title)
    return _png(fig)


def tokens_per_shard(shards: Sequence[Mapping[str, Any]], title: str) -> bytes:
    """Tokens in every shard, coloured by split; many shards are drawn as a sorted profile."""
    fig, ax = _subplots(figsize=(9, 3.6))
    if len(shards) <= 120:
        ax.bar(
            range(len(shards)),
            [s["tokens"] for s in shards],
            color=[SPLIT_COLOURS.get(s["split"], "#7f7f7f") for s in shards],
        )
        ax.set_xlabel("shard (manifest order)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        for split, colour in SPLIT_COLOURS.items():
            values = sorted((s["tokens"] for s in shards if s["split"] == split), reverse=True)
            if values:
                ax.plot(range(len(values)), values, color=colour, label=split)
        ax.set_xlabel("shard rank (largest first)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in SPLIT_COLOURS.values()]
    ax.legend(handles, list(SPLIT_COLOURS), fontsize=8)
    ax.set_ylabel("tokens")
    ax.set_title(title)
    return _png(fig)


def growth(rows: Sequence[Mapping[str, Any]], title: str) -> bytes:
    """Cumulative documents and tokens per dataset version, and what each version added."""
    ticks = [f"v{r['version']}\n{(r.get('created_at') or '')[:10]}" for r in rows]
    xs = list(range(len(rows)))
    fig, (ax1, ax2) = _subplots(1, 2, figsize=(11, 3.8))
    ax1.plot(xs, [r["tokens"] for r in rows], marker="o", color="#9467bd", label="tokens")
    ax1.set_ylabel("tokens (cumulative)")
    twin = ax1.twinx()
    twin.plot(
        xs, [r["documents"] for r in rows], marker="s", linestyle="--", color="#1f77b4", label="documents"
    )
    twin.set_ylabel("documents (cumulative)")
    ax1.set_xticks(xs, ticks, fontsize=7)
    ax1.set_title("dataset size per version")
    ax1.legend(
        [ax1.get_lines()[0], twin.get_lines()[0]], ["tokens", "documents"], fontsize=8, loc="upper left"
    )
    bars = ax2.bar(xs, [r["new_tokens"] for r in rows], color="#9467bd")
    ax2.bar_label(bars, labels=[f"+{r['new_documents']:,} docs" for r in rows], fontsize=7)
    ax2.set_xticks(xs, ticks, fontsize=7)
    ax2.set_ylabel("tokens added")
    ax2.set_title("added by each version")
    ax2.margins(y=0.15)
    fig.suptitle(title)
    return _png(fig)

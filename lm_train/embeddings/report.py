"""The report of a word-embedding run (``RUN/report.html``), and the embeddings part of a trainer's.

A word-embedding run's page: what was trained (``embeddings.json``), the evaluation numbers
with their coverage (``eval-embeddings.json``), the analogy sections, the nearest neighbours
of the most frequent words, and the PCA picture (also written as ``RUN/embeddings-pca.png``).
A run of ``lm_train.train`` keeps its own report (``lm_train.report``); ``trainer_part`` gives
it the figure and the headline numbers to add. Pages come from ``lmcore.report`` (jinja2,
every value escaped, figures embedded).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lm_train.embeddings.projection import DEFAULT_WORDS, frequent_keys, projection_png
from lmcore import storage
from lmcore.layout import REPORT_HTML
from lmcore.report import Figure, Pct, render

FIGURE_FILENAME = "embeddings-pca.png"  # beside report.html
NEIGHBOUR_PROBES = 8  # most frequent words whose neighbours the page lists
NEIGHBOURS = 6
SET_NAMES = {"wordsim353": "WordSim-353", "simlex999": "SimLex-999", "analogy": "analogies (Mikolov et al.)"}
EVAL_HEADERS = ("set", "items", "covered", "OOV", "coverage", "score", "measure")
SECTION_HEADERS = ("section", "questions", "covered", "correct", "accuracy")


def _fmt(value: Any, spec: str = ".4f") -> str:
    return format(value, spec) if isinstance(value, int | float) else "n/a"


def _pct(value: Any) -> str:
    return f"{100 * value:.2f}%" if isinstance(value, int | float) else "n/a"


def metric_rows(metrics: Mapping[str, Any] | None, prefix: str = "") -> list[tuple[str, str]]:
    """Headline (label, value) rows of an evaluation: the three scores and the coverage."""
    if not metrics:
        return []
    rows = [
        (f"{prefix}WordSim-353 Spearman", _fmt(metrics.get("wordsim353_spearman"))),
        (f"{prefix}SimLex-999 Spearman", _fmt(metrics.get("simlex999_spearman"))),
        (f"{prefix}analogy accuracy", _pct(metrics.get("analogy_accuracy"))),
        (
            f"{prefix}coverage",
            f"{_pct(metrics.get('coverage'))} of {metrics.get('items', 0):,} pairs and questions",
        ),
    ]
    if "single_token_coverage" in metrics:
        rows.append((f"{prefix}single-token coverage", _pct(metrics.get("single_token_coverage"))))
    baseline = metrics.get("piece_baseline")
    if isinstance(baseline, Mapping):
        rows.append(
            (
                f"{prefix}random-embedding baseline",
                f"Spearman {_fmt(baseline.get('wordsim353_spearman'))} / "
                f"{_fmt(baseline.get('simlex999_spearman'))}, analogies "
                f"{_pct(baseline.get('analogy_accuracy'))}",
            )
        )
    return rows


def evaluation_table(metrics: Mapping[str, Any] | None) -> list[list[Any]]:
    """One row per set: items, covered, OOV, coverage and the score over the covered items."""
    rows: list[list[Any]] = []
    for name, label in SET_NAMES.items():
        d = (metrics or {}).get(name)
        if not isinstance(d, Mapping):
            continue
        pairs = name != "analogy"
        score = d.get("spearman") if pairs else d.get("accuracy")
        rows.append(
            [
                label,
                d.get("items"),
                d.get("covered"),
                d.get("oov"),
                Pct(d.get("coverage")),
                score if pairs else Pct(score),
                "Spearman (covered pairs)" if pairs else "accuracy (covered questions)",
            ]
        )
    return rows


def section_table(metrics: Mapping[str, Any] | None) -> list[list[Any]]:
    """The analogy sections: questions, covered, correct, accuracy."""
    sections = ((metrics or {}).get("analogy") or {}).get("sections") or {}
    return [
        [name, s.get("items"), s.get("covered"), s.get("correct"), Pct(s.get("accuracy"))]
        for name, s in sections.items()
        if isinstance(s, Mapping)
    ]


def neighbour_rows(kv: Any, probes: Iterable[str], topn: int = NEIGHBOURS) -> list[list[Any]]:
    """``[word, "n1 (0.81), n2 (0.77), ..."]`` for each probe word."""
    rows: list[list[Any]] = []
    if len(kv) < 2:
        return rows
    for word in probes:
        found = kv.most_similar(word, topn=topn)
        rows.append([word, ", ".join(f"{k} ({c:.2f})" for k, c in found)])
    return rows


@dataclass(frozen=True)
class TrainerPart:
    """What ``lm_train.report`` adds for a run whose token embeddings were exported."""

    png: bytes | None
    caption: str
    rows: list[tuple[str, str]]


def trainer_part(
    kv: Any | None, metrics: Mapping[str, Any] | None, skip: Iterable[str] = (), n: int = DEFAULT_WORDS
) -> TrainerPart | None:
    """The PCA figure of the first word-like tokens and the evaluation's headline rows."""
    if kv is None and not metrics:
        return None
    drawn = projection_png(kv, n, tokens=True, skip=skip) if kv is not None else None
    caption = "token embeddings not exported"
    if drawn is not None:
        first, second = drawn[1].explained
        caption = (
            f"PCA of the input embeddings of the first {len(drawn[1].keys)} word-like tokens "
            f"(unit-length rows; axes explain {100 * first:.1f}% and {100 * second:.1f}%)"
        )
    return TrainerPart(drawn[0] if drawn else None, caption, metric_rows(metrics, "token embeddings: "))


def render_page(
    run_dir: str,
    kv: Any,
    metrics: Mapping[str, Any] | None,
    meta: Mapping[str, Any],
    png: bytes | None,
    caption: str,
    probes: list[str],
) -> str:
    """The self-contained page of a word-embedding run."""
    rows = [
        ("run", run_dir),
        ("algorithm", str(meta.get("algorithm", meta.get("kind", "?")))),
        ("vocabulary", f"{len(kv):,} keys"),
        ("dimension", f"{kv.vector_size:,}"),
        *metric_rows(metrics),
    ]
    return render(
        "embeddings.html.j2",
        "lm_train.embeddings",
        title="lmforge word embeddings",
        rows=rows,
        eval_headers=EVAL_HEADERS,
        eval_rows=evaluation_table(metrics),
        section_headers=SECTION_HEADERS,
        section_rows=section_table(metrics),
        neighbour_rows=neighbour_rows(kv, probes),
        figure=Figure("embeddings-pca", caption, png) if png else None,
        meta_text=json.dumps(dict(meta), indent=2, ensure_ascii=False) if meta else "",
    )


def write_report(
    run_dir: str,
    kv: Any,
    metrics: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    words: int = DEFAULT_WORDS,
) -> str:
    """Write ``RUN/report.html`` (and ``RUN/embeddings-pca.png``) of a word-embedding run; return
    the page's path. ``metrics`` and ``meta`` default to the run's ``eval-embeddings.json`` and
    ``embeddings.json``."""
    from lm_train.embeddings.evaluation import read_eval
    from lm_train.embeddings.source import SourceError, read_meta

    if metrics is None:
        metrics = read_eval(run_dir)
    if meta is None:
        try:
            meta = read_meta(run_dir)
        except SourceError:
            meta = {}
    drawn = projection_png(kv, words)
    png, caption = None, "fewer than 3 words: nothing to draw"
    if drawn is not None:
        png, projection = drawn
        first, second = projection.explained
        caption = (
            f"PCA of the {len(projection.keys)} most frequent words (unit-length vectors; the axes "
            f"explain {100 * first:.1f}% and {100 * second:.1f}% of the variance)"
        )
        storage.atomic_write_bytes(storage.join(run_dir, FIGURE_FILENAME), png)
    page = render_page(run_dir, kv, metrics, meta, png, caption, frequent_keys(kv, NEIGHBOUR_PROBES))
    path = storage.join(run_dir, REPORT_HTML)
    storage.atomic_write_text(path, page)
    return path


__all__ = [
    "FIGURE_FILENAME",
    "TrainerPart",
    "evaluation_table",
    "metric_rows",
    "neighbour_rows",
    "section_table",
    "trainer_part",
    "write_report",
]

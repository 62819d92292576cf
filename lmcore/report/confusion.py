"""A classifier's confusion matrix as a table of per-class precision/recall and as a figure.

The matrix is ``confusion[true][predicted]`` (rows: the labels the examples carry,
columns: what the model said), counts of examples. Precision and recall are computed
from it here rather than read from the metrics, so the table and the figure always
describe the same matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ClassScores:
    """One label's row of the per-class table; ``None`` where the ratio has no examples."""

    label: str
    support: int  # examples whose true label this is
    predicted: int  # examples the model gave this label
    precision: float | None
    recall: float | None
    f1: float | None


def confusion_array(confusion: Sequence[Sequence[float]], labels: Sequence[str]) -> np.ndarray:
    """The matrix as a square int array, refused unless it is ``len(labels)`` square."""
    matrix = np.asarray(confusion, dtype=np.float64)
    n = len(labels)
    if matrix.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {list(matrix.shape)} for {n} labels")
    if (matrix < 0).any() or not np.isfinite(matrix).all():
        raise ValueError("confusion matrix holds negative or non-finite counts")
    return matrix.astype(np.int64)


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def class_scores(confusion: Sequence[Sequence[float]], labels: Sequence[str]) -> list[ClassScores]:
    """Precision, recall and F1 of every label, in label order."""
    matrix = confusion_array(confusion, labels)
    true_totals, pred_totals, hits = matrix.sum(axis=1), matrix.sum(axis=0), np.diag(matrix)
    rows = []
    for i, label in enumerate(labels):
        precision, recall = _ratio(hits[i], pred_totals[i]), _ratio(hits[i], true_totals[i])
        f1 = _f1(precision, recall)
        rows.append(ClassScores(str(label), int(true_totals[i]), int(pred_totals[i]), precision, recall, f1))
    return rows


def confusion_figure(confusion: Sequence[Sequence[float]], labels: Sequence[str], title: str = "") -> Any:
    """A matplotlib figure: counts per (true, predicted) cell, shaded by the row's share.

    Shading by the share of each true label (not the raw count) keeps a rare class's
    mistakes visible next to a common class.
    """
    import matplotlib.pyplot as plt

    matrix = confusion_array(confusion, labels)
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    n = len(labels)
    side = min(max(3.0, 0.6 * n + 2.0), 14.0)
    # constrained layout keeps long label names and the colour bar inside the figure
    fig, ax = plt.subplots(figsize=(side + 1.0, side), layout="constrained")
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true label")
    if n <= 30:  # beyond that the numbers no longer fit their cells
        for i in range(n):
            for j in range(n):
                color = "white" if shares[i, j] > 0.5 else "black"
                ax.text(j, i, f"{matrix[i, j]:,}", ha="center", va="center", color=color, fontsize=9)
    slanted = n > 4 or max((len(str(x)) for x in labels), default=0) > 8
    ax.set_xticks(
        range(n), [str(x) for x in labels], rotation=30 if slanted else 0, ha="right" if slanted else "center"
    )
    ax.set_yticks(range(n), [str(x) for x in labels])
    ax.set(xlabel="predicted label", ylabel="true label", title=title or "confusion matrix")
    return fig


__all__ = ["ClassScores", "class_scores", "confusion_array", "confusion_figure"]

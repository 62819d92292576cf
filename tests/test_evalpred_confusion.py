"""The report's per-class table and confusion figure (``lmcore.report.confusion``) describe the
matrix the classifier produced: precision/recall as scikit-learn computes them from the same
predictions, refused when the matrix does not fit the labels."""

from __future__ import annotations

import io

import numpy as np
import pytest

from lmcore.report import class_scores, confusion_figure, png_bytes

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _predictions(confusion: list[list[int]]) -> tuple[list[int], list[int]]:
    true, pred = [], []
    for i, row in enumerate(confusion):
        for j, n in enumerate(row):
            true += [i] * n
            pred += [j] * n
    return true, pred


def test_precision_and_recall_match_scikit_learn_on_the_same_predictions():
    confusion = [[50, 3, 2], [10, 20, 0], [0, 0, 0]]  # the third label: predicted twice, never true
    labels = ["positive", "negative", "中性"]
    rows = class_scores(confusion, labels)
    true, pred = _predictions(confusion)
    p, r, f, support = sklearn_metrics.precision_recall_fscore_support(
        true, pred, labels=[0, 1, 2], zero_division=np.nan
    )
    assert [row.label for row in rows] == labels
    for i, row in enumerate(rows[:2]):
        assert row.precision == pytest.approx(p[i]) and row.recall == pytest.approx(r[i])
        assert row.f1 == pytest.approx(f[i]) and row.support == support[i]
    assert rows[0].predicted == 60
    assert rows[2].precision == p[2] == 0.0
    assert np.isnan(r[2]) and rows[2].recall is None and rows[2].f1 is None  # no examples: n/a, not 0


def test_a_matrix_that_does_not_fit_the_labels_is_refused():
    with pytest.raises(ValueError, match=r"shape \[2, 2\] for 3 labels"):
        class_scores([[1, 0], [0, 1]], ["a", "b", "c"])
    with pytest.raises(ValueError, match="negative"):
        class_scores([[1, -1], [0, 1]], ["a", "b"])


def test_the_figure_is_a_png_with_a_cell_per_label_pair():
    import matplotlib

    matplotlib.use("Agg")
    from PIL import Image

    fig = confusion_figure([[5, 1], [2, 7]], ["yes", "no"], title="test split")
    ax = fig.axes[0]
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["1", "2", "5", "7"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["yes", "no"]
    png = png_bytes(fig, quiet=True)
    assert Image.open(io.BytesIO(png)).format == "PNG"

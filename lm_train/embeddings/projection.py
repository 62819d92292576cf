"""A 2-D picture of the vector space: PCA of the most frequent words, drawn with their labels.

Rows are scaled to unit length first (neighbours are by cosine, so direction is what the
picture should show), centred, and projected on the two leading right singular vectors
(numpy SVD; no scikit-learn at run time). Each axis is oriented so that its largest
coordinate is positive, so the same vectors always give the same picture.

"Most frequent": a word run's ``KeyedVectors`` is ordered by frequency, so its first keys. A
token run has no counts; BPE learns its merges most-frequent-first, so the ids after the
byte alphabet follow frequency roughly: its first word-like tokens (letters only, after an
optional ``▁``, at least two bytes), special tokens and single bytes left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lm_train.embeddings.keys import SPACE_MARK

DEFAULT_WORDS = 100


@dataclass(frozen=True)
class Projection:
    """2-D coordinates of ``keys`` and the share of variance each axis explains."""

    keys: list[str]
    coords: np.ndarray  # [n, 2]
    explained: tuple[float, float]


def word_like(key: str) -> bool:
    """A token key that reads as (part of) a word: letters only after an optional ``▁``."""
    word = key.removeprefix(SPACE_MARK)
    return word.isalpha() and len(word.encode("utf-8")) > 1


def frequent_keys(kv: Any, n: int, tokens: bool = False, skip: Iterable[str] = ()) -> list[str]:
    """The ``n`` keys to draw: the first keys (words), or the first word-like tokens."""
    skipped = set(skip)
    out = []
    for key in kv.index_to_key:
        key = str(key)
        if key in skipped or (tokens and not word_like(key)):
            continue
        out.append(key)
        if len(out) >= n:
            break
    return out


def pca_2d(matrix: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """``(coordinates [n, 2], explained variance shares)`` of the unit-length, centred rows."""
    x = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    x = x - x.mean(axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    k = min(2, s.shape[0])
    coords = np.zeros((x.shape[0], 2))
    coords[:, :k] = u[:, :k] * s[:k]
    for axis in range(k):  # orient: the largest coordinate positive
        column = coords[:, axis]
        if column[np.argmax(np.abs(column))] < 0:
            coords[:, axis] = -column
    total = float((s**2).sum())
    shares = [float(v) / total if total > 0 else 0.0 for v in (s[:k] ** 2)] + [0.0] * (2 - k)
    return coords, (shares[0], shares[1])


def project(kv: Any, keys: Sequence[str]) -> Projection:
    """The PCA projection of ``keys``' vectors."""
    coords, explained = pca_2d(np.stack([kv[k] for k in keys]))
    return Projection(list(keys), coords, explained)


def projection_figure(projection: Projection, title: str) -> bytes:
    """A labelled scatter plot as PNG bytes (CJK labels drawn when a CJK font is found)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lmcore.report import png_bytes
    from lmcore.report.figures import NO_SOFTWARE_TAG
    from lmcore.report.fonts import drawable, use_cjk_font

    use_cjk_font()
    fig, ax = plt.subplots(figsize=(10, 8))
    x, y = projection.coords[:, 0], projection.coords[:, 1]
    ax.scatter(x, y, s=12, color="#1f77b4", alpha=0.7)
    for key, xi, yi in zip(projection.keys, x, y):
        ax.annotate(drawable(key), (xi, yi), xytext=(3, 2), textcoords="offset points", fontsize=8)
    first, second = projection.explained
    ax.set(
        xlabel=f"PC 1 ({100 * first:.1f}% of variance)",
        ylabel=f"PC 2 ({100 * second:.1f}% of variance)",
        title=title,
    )
    ax.grid(alpha=0.2)
    return png_bytes(fig, quiet=True, metadata=NO_SOFTWARE_TAG)


def projection_png(
    kv: Any, n: int = DEFAULT_WORDS, tokens: bool = False, skip: Iterable[str] = ()
) -> tuple[bytes, Projection] | None:
    """``(PNG, projection)`` of the ``n`` most frequent words, or None with fewer than 3 to draw."""
    keys = frequent_keys(kv, n, tokens, skip)
    if len(keys) < 3 or kv.vector_size < 2:
        return None
    projection = project(kv, keys)
    what = "first word-like tokens (BPE merge order)" if tokens else "most frequent words"
    return projection_figure(projection, f"PCA of the {len(keys)} {what}"), projection


__all__ = [
    "DEFAULT_WORDS",
    "Projection",
    "frequent_keys",
    "pca_2d",
    "project",
    "projection_figure",
    "projection_png",
    "word_like",
]

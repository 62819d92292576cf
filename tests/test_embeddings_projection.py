"""The PCA picture: the right axes and a stable orientation, the words drawn, and labels that
never crash the plot when no CJK font is installed."""

from __future__ import annotations

import numpy as np
import pytest
from gensim.models import KeyedVectors

from lm_train.embeddings.projection import frequent_keys, pca_2d, projection_png, word_like
from lmcore.report import fonts


def test_pca_finds_the_planted_axes_and_orients_them():
    rng = np.random.default_rng(0)
    # unit rows spread along two directions of a 6-d space, a little noise elsewhere
    angles = rng.uniform(0, np.pi / 2, size=40)
    rows = np.zeros((40, 6))
    rows[:, 0], rows[:, 1] = np.cos(angles), np.sin(angles)
    rows[:, 2:] = 1e-3 * rng.standard_normal((40, 4))
    coords, (first, second) = pca_2d(rows)
    assert coords.shape == (40, 2)
    assert first + second > 0.999 and first >= second
    again, _ = pca_2d(-rows)  # the same points mirrored: the same picture
    assert np.allclose(np.abs(again), np.abs(coords))
    for axis in range(2):
        assert coords[np.argmax(np.abs(coords[:, axis])), axis] > 0


def test_the_most_frequent_words_and_the_word_like_tokens_are_drawn():
    keys = ["<|endoftext|>", "a", "<0xE4><0xB8>", "▁the", "th", "的", "▁x", ",", "▁of"]
    kv = KeyedVectors(3)
    kv.add_vectors(keys, np.random.default_rng(1).standard_normal((len(keys), 3)).astype(np.float32))
    assert frequent_keys(kv, 3) == keys[:3]
    assert frequent_keys(kv, 10, tokens=True, skip={"<|endoftext|>"}) == ["▁the", "th", "的", "▁of"]
    assert [word_like(k) for k in ("▁the", "▁x", "的", "<0x0A>", "▁▁")] == [True, False, True, False, False]
    png, projection = projection_png(kv, 10, tokens=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and projection.keys == ["▁the", "th", "的", "▁of"]
    assert projection_png(kv, 2) is None  # fewer than three points: no picture


def test_without_a_cjk_font_labels_show_question_marks_and_the_plot_is_drawn(monkeypatch):
    monkeypatch.setattr(fonts, "use_cjk_font", lambda: None)
    assert fonts.drawable("汽车 car") == "?? car"
    kv = KeyedVectors(2)
    kv.add_vectors(["汽车", "轿车", "car", "bus"], np.eye(4, 2, dtype=np.float32) + 0.1)
    png, _ = projection_png(kv, 4)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_help_is_quick_and_imports_no_torch_before_parsing():
    import subprocess
    import sys
    import time

    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "lm_train.embeddings", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.startswith("usage: python -m lm_train.embeddings ")
    assert time.perf_counter() - started < 3.0
    code = (
        "import sys, lm_train.embeddings.cli\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib', 'gensim'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "[]", result.stderr

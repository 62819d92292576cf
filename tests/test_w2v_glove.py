"""GloVe in torch (lm_train.glove) on counts of the planted corpus: the loss falls, planted synonyms
end up nearest each other, a rerun gives the same bytes, and the written-out step is AdaGrad on J."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lm_train.glove import GloveConfig, GloveModel, open_cooccurrence, train_glove, weighting
from pipelines.cooccur.__main__ import main as cooccur_main
from schemas.cooccurrence import CooccurrenceError
from tests.test_w2v_corpus import PAIRS, planted_sentences, write_documents


def nearest(words: list[str], vectors: np.ndarray, word: str) -> str:
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    k = words.index(word)
    sims = v @ v[k]
    sims[k] = -np.inf
    return words[int(np.argmax(sims))]


@pytest.fixture(scope="module")
def counts(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("glove")
    docs = write_documents(root / "ds", planted_sentences(per_pair=800))
    out = root / "co"
    assert (
        cooccur_main(["--documents", str(docs), "--output", str(out), "--window", "5", "--min-count", "2"])
        == 0
    )
    return str(out)


CONFIG = GloveConfig(dim=20, epochs=50, batch_size=1024, seed=0)


@pytest.mark.slow
def test_loss_falls_and_planted_synonyms_are_nearest(counts):
    result = train_glove(open_cooccurrence(counts), CONFIG, report=lambda line: None)
    assert result.losses[-1] < 0.2 * result.losses[0]
    assert all(b <= a + 1e-9 for a, b in zip(result.losses[5:], result.losses[6:], strict=False))
    for a, b in PAIRS:
        assert nearest(result.words, result.vectors, a) == b
        assert nearest(result.words, result.vectors, b) == a


@pytest.mark.slow
def test_same_seed_same_bytes_other_seed_other_vectors(counts):
    cooc = open_cooccurrence(counts)
    config = GloveConfig(dim=8, epochs=3, batch_size=512, seed=1)
    first = train_glove(cooc, config, report=lambda line: None)
    again = train_glove(cooc, config, report=lambda line: None)
    other = train_glove(cooc, GloveConfig(dim=8, epochs=3, batch_size=512, seed=2), report=lambda line: None)
    assert first.vectors.tobytes() == again.vectors.tobytes()
    assert first.losses == again.losses
    assert not np.array_equal(first.vectors, other.vectors)


def test_the_step_is_adagrad_on_the_weighted_least_squares():
    """The hand-written step equals autograd's gradient of J fed to torch's AdaGrad."""
    vocab, dim = 7, 4
    config = GloveConfig(dim=dim, lr=0.05)
    model = GloveModel(vocab, dim, torch.Generator().manual_seed(0), torch.device("cpu"))
    params = [t.clone().requires_grad_(True) for t in (model.w, model.wt, model.b, model.bt)]
    opt = torch.optim.Adagrad(params, lr=config.lr, initial_accumulator_value=1.0, eps=0.0)
    i = torch.tensor([0, 1, 1, 3, 6, 0])
    j = torch.tensor([1, 0, 2, 3, 5, 1])
    x = torch.tensor([1.0, 3.0, 250.0, 0.5, 7.0, 2.0])
    for _ in range(3):
        w, wt, b, bt = params
        diff = (w[i] * wt[j]).sum(-1) + b[i] + bt[j] - torch.log(x)
        loss = 0.5 * (weighting(x, config.x_max, config.alpha) * diff * diff).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        ours = model.step(i, j, x, config)
        assert ours == pytest.approx(float(loss), rel=1e-6)
    for mine, ref in zip((model.w, model.wt, model.b, model.bt), params, strict=True):
        torch.testing.assert_close(mine, ref.detach(), rtol=1e-5, atol=1e-6)


def test_weighting_is_capped_at_one():
    x = torch.tensor([1.0, 100.0, 1000.0])
    f = weighting(x, 100.0, 0.75)
    assert f[1] == 1 and f[2] == 1 and f[0] == pytest.approx(0.01**0.75)


@pytest.mark.slow
def test_unfinished_or_empty_counts_are_refused(tmp_path, counts):
    with pytest.raises(CooccurrenceError, match=r"no manifest\.json"):
        open_cooccurrence(str(tmp_path))
    empty = tmp_path / "empty"
    docs = Path(counts).parent / "ds"
    assert cooccur_main(["--documents", str(docs), "--output", str(empty), "--min-count", "99999"]) == 0
    with pytest.raises(CooccurrenceError, match="vocabulary is empty"):
        train_glove(open_cooccurrence(str(empty)), CONFIG)

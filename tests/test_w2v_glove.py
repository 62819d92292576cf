"""GloVe in torch (lm_train.glove) on counts of the planted corpus: the loss falls, planted synonyms
end up nearest each other, a rerun gives the same bytes, and the written-out step is AdaGrad on J."""

from __future__ import annotations

import dataclasses
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


CONFIG = GloveConfig(dim=20, epochs=100, batch_size=1024, seed=0)


@pytest.mark.slow
def test_loss_falls_and_planted_synonyms_are_nearest(counts):
    """In the word vectors W, words that share their contexts are nearest (the planted synonyms
    never meet each other). W + W̃ also pulls together words that co-occur: there "car" is nearest
    "driver", as it is with the reference glove.c on these counts (its -model 2, checked by hand)."""
    result = train_glove(
        open_cooccurrence(counts), dataclasses.replace(CONFIG, output="word"), report=lambda line: None
    )
    assert result.losses[-1] < 0.2 * result.losses[0]
    assert all(b <= a + 1e-9 for a, b in zip(result.losses[5:], result.losses[6:], strict=False))
    for a, b in PAIRS:
        assert nearest(result.words, result.vectors, a) == b
        assert nearest(result.words, result.vectors, b) == a
    summed = train_glove(open_cooccurrence(counts), CONFIG, report=lambda line: None)
    assert summed.losses == result.losses and not np.array_equal(summed.vectors, result.vectors)


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


def _reference_pair_updates(w, wt, b, bt, sums, pairs, config):
    """GloVe's ``glove.c`` loop, one pair at a time, in plain numpy: the rule the step follows."""
    sw, swt, sb, sbt = sums
    loss = 0.0
    for i, j, x in pairs:
        diff = w[i] @ wt[j] + b[i] + bt[j] - np.log(x)
        fdiff = min(1.0, (x / config.x_max) ** config.alpha) * diff
        loss += 0.5 * fdiff * diff
        fdiff *= config.lr
        t1, t2 = fdiff * wt[j], fdiff * w[i]
        w[i] -= t1 / np.sqrt(sw[i])
        wt[j] -= t2 / np.sqrt(swt[j])
        sw[i] += t1 * t1
        swt[j] += t2 * t2
        b[i] -= fdiff / np.sqrt(sb[i])
        bt[j] -= fdiff / np.sqrt(sbt[j])
        sb[i] += fdiff * fdiff
        sbt[j] += fdiff * fdiff
    return loss


def test_a_batch_of_distinct_rows_is_the_reference_implementations_per_pair_updates():
    """With no word repeated inside a batch, the batched step equals glove.c's sequential loop exactly:
    the loss, the weighted least squares' gradients, and AdaGrad's sums of lr-scaled squares."""
    vocab, dim = 9, 4
    config = GloveConfig(dim=dim, lr=0.05)
    model = GloveModel(vocab, dim, torch.Generator().manual_seed(0), torch.device("cpu"))
    ref = [t.double().numpy().copy() for t in (model.w, model.wt, model.b, model.bt)]
    ref_sums = [t.double().numpy().copy() for t in model.sums]
    batches = [
        ([0, 1, 3, 6], [1, 0, 2, 5], [1.0, 3.0, 250.0, 7.0]),
        ([2, 4, 5, 8], [3, 6, 7, 4], [0.5, 2.0, 40.0, 1.0]),
    ]
    for _ in range(3):
        for i, j, x in batches:
            ours = model.step(torch.tensor(i), torch.tensor(j), torch.tensor(x), config)
            theirs = _reference_pair_updates(*ref, ref_sums, zip(i, j, x), config)
            assert ours == pytest.approx(theirs, rel=1e-5)
    for mine, expected in zip(
        (model.w, model.wt, model.b, model.bt, *model.sums), ref + ref_sums, strict=True
    ):
        np.testing.assert_allclose(mine.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_repeated_row_moves_by_its_pairs_summed_scaled_gradients():
    config = GloveConfig(dim=2, lr=0.05)
    model = GloveModel(3, 2, torch.Generator().manual_seed(1), torch.device("cpu"))
    w0, wt0, b0, bt0 = (t.clone() for t in (model.w, model.wt, model.b, model.bt))
    i, j, x = torch.tensor([0, 0]), torch.tensor([1, 2]), torch.tensor([4.0, 9.0])
    model.step(i, j, x, config)
    diff = (w0[i] * wt0[j]).sum(-1) + b0[i] + bt0[j] - torch.log(x)
    g = config.lr * weighting(x, config.x_max, config.alpha) * diff
    torch.testing.assert_close(model.w[0], w0[0] - (g[:, None] * wt0[j]).sum(0))  # sums were 1 before
    torch.testing.assert_close(model.sums[0][0], 1 + ((g[:, None] * wt0[j]) ** 2).sum(0))
    torch.testing.assert_close(model.b[0], b0[0] - g.sum())


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

"""The encoder-decoder networks: causal targets, masked source padding, incremental decoding
equal to teacher forcing, and the config that builds them."""

from __future__ import annotations

import pytest
import torch

from lm_train.config import TrainConfig
from lm_train.models import MODEL_REGISTRY
from lm_train.models.seq2seq_config import Seq2SeqConfig
from lm_train.models.seq2seq_transformer import causal_mask
from lm_train.objectives import OBJECTIVES
from lmcore.config import ConfigError

torch.set_num_threads(1)
VOCAB = 40
FAMILIES = [
    dict(cell="gru", rnn_attention="bahdanau"),
    dict(cell="gru", rnn_attention="luong", bidirectional=False),
    dict(cell="lstm", rnn_attention="bahdanau"),
    dict(cell="lstm", rnn_attention="luong"),
    dict(cell="transformer"),
    dict(cell="transformer", share_embeddings=False, tie_embeddings=False),
]


def _model(**kw):
    torch.manual_seed(0)
    return Seq2SeqConfig(d_model=16, n_head=2, n_layer=2, **kw).build(VOCAB, 16).eval()


def _inputs(seed=1):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(2, VOCAB, (3, 7), generator=g)
    lengths = torch.tensor([7, 4, 1])
    tgt = torch.randint(2, VOCAB, (3, 6), generator=g)
    return src, lengths, tgt


@pytest.mark.parametrize("kw", FAMILIES, ids=lambda kw: "-".join(map(str, kw.values())))
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_the_decoder_never_sees_future_target_tokens(kw, training):
    model = _model(**kw).train(training)  # no dropout: both modes are deterministic
    src, lengths, tgt = _inputs()
    base = model(src, lengths, tgt)
    for t in range(tgt.shape[1]):
        changed = tgt.clone()
        changed[:, t:] = (changed[:, t:] + 7) % VOCAB  # rewrite position t and everything after it
        out = model(src, lengths, changed)
        torch.testing.assert_close(out[:, :t], base[:, :t], rtol=0, atol=1e-5)
        assert not torch.allclose(out[:, t], base[:, t])  # ... while position t does read its input


@pytest.mark.parametrize("kw", FAMILIES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_source_padding_is_invisible_and_steps_equal_teacher_forcing(kw):
    model = _model(**kw)
    src, lengths, tgt = _inputs()
    base = model(src, lengths, tgt)
    garbage = src.clone()
    garbage[1, 4:] = 3  # past row 1's length
    garbage[2, 1:] = 5
    wider = torch.cat([garbage, torch.full((3, 3), 9)], 1)  # more padding columns
    torch.testing.assert_close(model(wider, lengths, tgt), base, rtol=0, atol=1e-5)
    state, steps = model.encode(src, lengths), []
    for t in range(tgt.shape[1]):
        logits, state = model.decode_step(state, tgt[:, t])
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), base, rtol=0, atol=1e-5)


def test_the_causal_mask_forbids_exactly_the_later_keys():
    mask = causal_mask(4, torch.device("cpu"))
    assert mask.int().tolist() == [[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]]


def test_embeddings_are_shared_and_tied_by_default_and_counted_once():
    model = _model(cell="gru")
    assert model.tgt_embed is model.embed and model.head.weight is model.embed.weight
    emb = VOCAB * 16
    assert model.num_params() - model.num_params(non_embedding=True) == emb
    split = _model(cell="gru", share_embeddings=False, tie_embeddings=False)
    assert split.num_params() - split.num_params(non_embedding=True) == 2 * emb
    assert split.flops_per_token(16) == 6.0 * split.matmul_params() > 0


def test_seq2seq_is_registered_and_trains_only_with_its_objective():
    assert MODEL_REGISTRY["seq2seq"] is Seq2SeqConfig
    cfg = TrainConfig(model="seq2seq", objective="seq2seq", cell="lstm", rnn_attention="luong", beam_size=3)
    assert cfg.model.cell == "lstm" and cfg.objective.beam_size == 3
    assert TrainConfig.from_dict(cfg.to_dict()).model == cfg.model  # a checkpoint's config round-trips
    for settings in ({"model": "seq2seq"}, {"objective": "seq2seq", "model": "gpt"}):
        bad = TrainConfig(**settings)
        with pytest.raises(ConfigError, match="go together"):
            OBJECTIVES[bad.objective.name](bad, None)  # refused before the dataset is looked at
    with pytest.raises(ConfigError, match="cell"):
        TrainConfig(model="seq2seq", objective="seq2seq", cell="rnn")
    with pytest.raises(ConfigError, match="even d_model"):
        TrainConfig(model="seq2seq", objective="seq2seq", d_model=15)
    with pytest.raises(ConfigError, match="init_embeddings"):
        TrainConfig(model="seq2seq", objective="seq2seq", init_embeddings="head")

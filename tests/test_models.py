"""Models: documents never see each other, the registry builds every kind, FLOPs are sane."""

from __future__ import annotations

import pytest
import torch

from lm_train.config import TrainConfig
from lm_train.models import MODEL_REGISTRY, build_model
from lm_train.models.gpt import GPT, document_causal_mask
from lm_train.models.rnn import RecurrentLM, segment_layout
from lm_train.objectives.causal_lm import causal_lm_loss

VOCAB = 50
torch.set_num_threads(1)  # tiny tensors: extra threads only spin on a shared CPU


def _packed_row(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One row holding documents of ``lengths``: ids, position ids restarting per document, segment ids."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (sum(lengths),), generator=g)
    pos = torch.cat([torch.arange(n) for n in lengths])
    seg = torch.cat([torch.full((n,), i, dtype=torch.int32) for i, n in enumerate(lengths)])
    return ids[None], pos[None], seg[None]


def _models() -> list[torch.nn.Module]:
    torch.manual_seed(0)
    return [
        GPT(VOCAB, n_layer=2, n_head=2, d_model=16, max_seq_len=64),
        *(RecurrentLM(VOCAB, cell=c, n_layer=2, d_model=16) for c in ("rnn", "lstm", "gru")),
    ]


@pytest.mark.parametrize("model", _models(), ids=["gpt", "rnn", "lstm", "gru"])
def test_packed_documents_equal_documents_run_alone(model):
    model.eval()
    lengths = [5, 9, 3, 7]
    ids, pos, seg = _packed_row(lengths)
    packed = model(ids, pos, seg)[0]
    start = 0
    for n in lengths:
        alone = model(ids[:, start : start + n], pos[:, start : start + n], None)[0]
        torch.testing.assert_close(packed[start : start + n], alone, atol=1e-5, rtol=1e-5)
        start += n


@pytest.mark.parametrize("model", _models(), ids=["gpt", "rnn", "lstm", "gru"])
def test_outputs_are_causal(model):
    model.eval()
    ids, pos, seg = _packed_row([12, 8], seed=1)
    before = model(ids, pos, seg)
    changed = ids.clone()
    changed[0, 10] = (changed[0, 10] + 1) % VOCAB
    after = model(changed, pos, seg)
    torch.testing.assert_close(before[:, :10], after[:, :10])
    assert not torch.allclose(before[:, 10], after[:, 10])
    torch.testing.assert_close(before[:, 12:], after[:, 12:])  # the next document is not affected either


def test_batch_rows_and_padding_are_independent():
    torch.manual_seed(0)
    model = GPT(VOCAB, n_layer=1, n_head=2, d_model=16, max_seq_len=32).eval()
    ids, pos, seg = _packed_row([6, 10])
    pad_ids = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
    pad_pos = torch.cat([pos, torch.zeros(1, 4, dtype=torch.long)], 1)
    pad_seg = torch.cat([seg, torch.full((1, 4), -1, dtype=torch.int32)], 1)
    out = model(pad_ids, pad_pos, pad_seg)
    assert torch.isfinite(out).all()  # fully-padded rows must not produce NaN
    torch.testing.assert_close(out[:, :16], model(ids, pos, seg))


def test_document_mask_is_block_diagonal_causal():
    mask = document_causal_mask(torch.tensor([[0, 0, 1, 1, 1]]))[0, 0]
    expected = torch.tensor(
        [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 1, 1, 1]],
        dtype=torch.bool,
    )
    assert torch.equal(mask, expected)


def test_segment_layout_splits_at_document_and_row_boundaries():
    starts, lengths = segment_layout(torch.tensor([[0, 0, 1, 1], [0, 0, 0, 0]]))
    assert starts.tolist() == [0, 2, 4] and lengths.tolist() == [2, 2, 4]


@pytest.mark.parametrize("name", sorted(n for n in MODEL_REGISTRY if n != "seq2seq"))  # test_seq2seq_*
def test_registry_builds_models_that_learn(name):
    cfg = TrainConfig(model=name, n_layer=1, n_head=2, d_model=16, seq_len=16)
    torch.manual_seed(0)
    model = build_model(cfg, VOCAB)
    ids, pos, seg = _packed_row([8, 9])
    batch = {
        "input_ids": ids[:, :-1],
        "targets": ids[:, 1:],
        "position_ids": pos[:, :-1],
        "segment_ids": seg[:, :-1],
        "loss_mask": torch.ones(1, 16),
    }
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss_sum, n = causal_lm_loss(model, batch)
        (loss_sum / n).backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss_sum.detach() / n))
    assert losses[-1] < 0.5 * losses[0]
    assert model.flops_per_token(16) >= 6 * model.num_params(non_embedding=True)


def test_gpt_flops_per_token_matches_formula():
    model = GPT(1000, n_layer=4, n_head=4, d_model=128, max_seq_len=64)
    n_matmul = 4 * (3 * 128 * 128 + 128 * 128 + 2 * 128 * 512) + 1000 * 128  # blocks + tied head
    assert model.flops_per_token(64) == pytest.approx(6 * n_matmul + 12 * 4 * 128 * 64, rel=0.01)


def test_swiglu_mlp_is_gated_and_sized_like_llama():
    cfg = TrainConfig.from_dict({"model": "gpt", "mlp": "swiglu", "d_model": 96, "n_head": 4, "n_layer": 1})
    model = build_model(cfg, vocab_size=50)
    mlp = model.blocks[0].mlp
    assert mlp.gate.weight.shape == mlp.up.weight.shape == (256, 96)  # 8/3 × 96 = 256, a multiple of 16
    x = torch.randn(2, 5, 96)
    expected = mlp.down(torch.nn.functional.silu(mlp.gate(x)) * mlp.up(x))
    assert torch.equal(mlp(x), expected)
    with pytest.raises(ValueError, match="mlp"):
        TrainConfig.from_dict({"model": "gpt", "mlp": "relu"})


def test_document_mask_off_attends_across_documents_and_on_stays_inside():
    torch.manual_seed(0)
    cfg = TrainConfig(model="gpt", n_layer=1, n_head=2, d_model=16, seq_len=16, document_mask=False)
    assert cfg.model.document_mask is False
    off = build_model(cfg, VOCAB).eval()
    on = GPT(VOCAB, n_layer=1, n_head=2, d_model=16, max_seq_len=16).eval()
    on.load_state_dict(off.state_dict())
    ids, pos, seg = _packed_row([6, 10])
    whole_row = on(ids, pos, None)  # no segments: plain causal attention
    torch.testing.assert_close(off(ids, pos, seg), whole_row)
    assert not torch.allclose(on(ids, pos, seg)[:, 6:], whole_row[:, 6:])


def test_rope_matches_the_half_split_formula():
    from lm_train.models.gpt import apply_rope, rope_rotation, rope_tables

    cos, sin = rope_tables(8, 10, 10000.0)
    x = torch.randn(2, 10, 8)
    x1, x2 = x.chunk(2, dim=-1)
    want = torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    assert torch.equal(apply_rope(x, *rope_rotation(cos, sin)), want)

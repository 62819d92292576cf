"""``model=bert``: attention is bidirectional inside a document and never crosses into another
document of the packed row; padding cannot disturb real tokens; the settings build it."""

from __future__ import annotations

import pytest
import torch

from lm_train.config import TrainConfig
from lm_train.models.bert import Bert
from lm_train.models.bert_config import BertConfig

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model() -> Bert:
    torch.manual_seed(0)
    return Bert(300, n_layer=2, n_head=2, d_model=32, max_seq_len=64).eval()


def _packed_row() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two rows: document A (0..19), document B (20..49), padding (50..63)."""
    ids = torch.randint(3, 300, (2, 64), generator=torch.Generator().manual_seed(1))
    segments = torch.zeros(2, 64, dtype=torch.int32)
    segments[:, 20:50], segments[:, 50:] = 1, -1
    ids[:, 50:] = 1
    positions = torch.cat([torch.arange(20), torch.arange(30), torch.zeros(14, dtype=torch.long)])
    return ids, positions.expand(2, 64), segments


@torch.no_grad()
def test_changing_document_a_leaves_document_b_unchanged(model):
    ids, positions, segments = _packed_row()
    before = model(ids, positions, segments)
    changed = ids.clone()
    changed[:, :20] = torch.randint(3, 300, (2, 20), generator=torch.Generator().manual_seed(2))
    after = model(changed, positions, segments)
    assert torch.equal(before[:, 20:50], after[:, 20:50])
    assert not torch.allclose(before[:, :20], after[:, :20])


@torch.no_grad()
def test_attention_inside_a_document_sees_both_directions(model):
    ids, positions, segments = _packed_row()
    before = model(ids, positions, segments)
    changed = ids.clone()
    changed[:, 45] = (changed[:, 45] + 1) % 300 + 3  # a late token of document B
    after = model(changed, positions, segments)
    assert not torch.allclose(before[:, 20:25], after[:, 20:25])  # earlier tokens see it
    assert torch.equal(before[:, :20], after[:, :20])  # document A does not


@torch.no_grad()
def test_padding_does_not_reach_real_tokens_and_stays_finite(model):
    ids, positions, segments = _packed_row()
    before = model(ids, positions, segments)
    changed = ids.clone()
    changed[:, 50:] = 7
    after = model(changed, positions, segments)
    assert torch.equal(before[:, :50], after[:, :50])
    assert torch.isfinite(after).all()


@torch.no_grad()
def test_a_single_document_row_equals_the_masked_path(model):
    ids, _, _ = _packed_row()
    one_doc = torch.zeros(2, 64, dtype=torch.int32)
    plain = model(ids, None, one_doc)  # no mask: every token sees every token
    explicit = model(ids, None, torch.stack([one_doc[0], one_doc[1] + 5]))  # a mask of all True
    torch.testing.assert_close(plain, explicit)


def test_settings_build_a_tied_encoder_and_are_checked():
    cfg = TrainConfig(model="bert", n_layer=2, n_head=2, d_model=32, seq_len=16)
    assert isinstance(cfg.model, BertConfig)
    net = cfg.model.build(300, 16)
    assert isinstance(net, Bert) and net.head.weight is net.embed.weight
    assert net.logits(net(torch.randint(0, 300, (1, 16)))).shape == (1, 16, 300)
    assert net.flops_per_token(16) > 6 * net.num_params(non_embedding=True)
    with pytest.raises(ValueError, match="divisible by n_head"):
        TrainConfig(model="bert", d_model=30, n_head=4)

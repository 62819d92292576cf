"""The fused head + masked cross-entropy equals the plain path in value and gradients."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lm_train.models.gpt import GPT
from lm_train.objectives import linear_ce
from lm_train.objectives.causal_lm import causal_lm_loss
from lm_train.objectives.linear_ce import linear_cross_entropy


def _plain(hidden, weight, targets, mask):
    return (F.cross_entropy(hidden @ weight.t(), targets, reduction="none") * mask).sum()


def test_fused_loss_and_gradients_match_the_plain_path(monkeypatch):
    monkeypatch.setattr(linear_ce, "CHUNK_ELEMENTS", 7 * 50)  # several chunks, a ragged last one
    torch.manual_seed(0)
    h = torch.randn(37, 16, requires_grad=True)
    w = torch.randn(50, 16, requires_grad=True)
    t = torch.randint(0, 50, (37,))
    m = (torch.rand(37) > 0.3).float()
    want = _plain(h, w, t, m)
    (want * 0.5).backward()
    gh, gw = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    got = linear_cross_entropy(h, w, t, m)
    (got * 0.5).backward()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(h.grad, gh)
    torch.testing.assert_close(w.grad, gw)


def test_frozen_inputs_get_no_gradient():
    h = torch.randn(5, 4, requires_grad=True)
    w = torch.randn(9, 4)  # frozen head
    loss = linear_cross_entropy(h, w, torch.randint(0, 9, (5,)), torch.ones(5))
    loss.backward()
    assert h.grad is not None and w.grad is None


def test_causal_lm_loss_uses_the_fused_path_with_the_same_result():
    torch.manual_seed(0)
    model = GPT(64, n_layer=1, n_head=2, d_model=16, max_seq_len=16)
    ids = torch.randint(0, 64, (2, 17))
    batch = {"input_ids": ids[:, :-1], "targets": ids[:, 1:], "loss_mask": torch.ones(2, 16)}
    batch["loss_mask"][0, 3] = 0.0
    loss, n = causal_lm_loss(model, batch)
    loss.backward()
    fused = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    logits = model.logits(model(batch["input_ids"]))
    plain = (F.cross_entropy(logits.view(-1, 64), batch["targets"].reshape(-1), reduction="none")
             * batch["loss_mask"].view(-1)).sum()  # fmt: skip
    plain.backward()
    torch.testing.assert_close(loss, plain)
    assert float(n) == 31.0
    for k, p in model.named_parameters():
        torch.testing.assert_close(p.grad, fused[k], msg=k)

"""The pieces of the objectives framework and of fine-tuning, one at a time: the task loader's
batches across world sizes and resumes, the metrics, pooling, freezing, the head's learning
rate, checkpoint parts, the registry."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score

from lm_train.checkpoint import CheckpointError
from lm_train.checkpoint_state import Part, gather, restore
from lm_train.config import TrainConfig
from lm_train.data.task import TaskLoader
from lm_train.objectives.classify import classification_metrics
from lm_train.objectives.heads import freeze_body, pool_hidden
from lm_train.optim import Scheduler, build_optimizer
from lm_train.testing import keyword_task, write_task_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return str(write_task_dataset(tmp_path_factory.mktemp("task"), keyword_task(150), ["no", "yes"]))


def _global_batches(task: str, world: int, steps: int, bucket: bool) -> list[list[int]]:
    """Per global step, the example ids every rank together received (rank order)."""
    loaders = [
        TaskLoader(
            task, "train", 32, 8, 8 // world, seed=3, rank=r, world_size=world, bucket_by_length=bucket
        )
        for r in range(world)
    ]
    its = [iter(loader) for loader in loaders]
    out = []
    for _ in range(steps):
        rows = []
        for it in its:
            batch = next(it)
            rows += [tuple(r[: int(n)].tolist()) for r, n in zip(batch["input_ids"], batch["lengths"])]
        out.append(rows)
    return out


@pytest.mark.parametrize("bucket", [False, True])
def test_ranks_1_and_2_see_the_same_global_batches(task, bucket):
    one, two = _global_batches(task, 1, 40, bucket), _global_batches(task, 2, 40, bucket)
    assert one == two
    seen = [row for step in one[:15] for row in step]  # 120 train examples per epoch
    assert len(set(seen)) == len(seen)  # an epoch shows each example once
    assert _global_batches(task, 1, 40, bucket) == one  # and the same again from the seed


def test_the_task_loader_resumes_at_the_next_batch(task):
    loader = TaskLoader(task, "train", 32, 8, 8, seed=0)
    it = iter(loader)
    for _ in range(7):
        next(it)
    state = loader.state_dict()
    want = next(it)
    fresh = TaskLoader(task, "train", 32, 8, 8, seed=0)
    fresh.load_state_dict(state)
    got = next(iter(fresh))
    assert all(torch.equal(got[k], want[k]) for k in want)
    other = TaskLoader(task, "train", 32, 8, 8, seed=1)
    with pytest.raises(ValueError, match="seed"):
        other.load_state_dict(state)


def test_a_finite_pass_pads_with_label_minus_one_and_rows_stay_single_examples(task):
    loader = TaskLoader(task, "validation", 12, 16, 16, seed=0, num_epochs=1)
    batches = list(loader)
    labels = torch.cat([b["labels"] for b in batches])
    assert int((labels >= 0).sum()) == 30 and set(labels[30:].tolist()) <= {-1}
    b = batches[0]
    assert b["input_ids"].shape[1] == 12 and int(b["lengths"].max()) <= 12  # cut to seq_len
    text = torch.arange(12)[None, :] < b["lengths"][:, None]
    assert torch.equal(b["segment_ids"] == 0, text)  # padding is its own segment


def test_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    p[:200] = y[:200]
    cm = confusion_matrix(y, p, labels=[0, 1, 2])
    m = classification_metrics(cm, loss_sum=250.0, labels=["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(float((y == p).mean()))
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))
    assert m["precision/b"] == pytest.approx(precision_score(y, p, labels=[1], average="macro"))
    assert m["recall/c"] == pytest.approx(recall_score(y, p, labels=[2], average="macro"))
    assert m["loss"] == pytest.approx(0.5) and m["confusion"] == cm.tolist()


def test_pooling_picks_the_first_last_text_token_or_the_text_mean():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).view(2, 4, 1)
    lengths = torch.tensor([2, 4])
    assert pool_hidden(hidden, lengths, "first").view(-1).tolist() == [0.0, 4.0]
    assert pool_hidden(hidden, lengths, "last").view(-1).tolist() == [1.0, 7.0]
    assert pool_hidden(hidden, lengths, "mean").view(-1).tolist() == [0.5, 5.5]


@pytest.mark.parametrize("model", ["gpt", "lstm"])
def test_all_but_top_n_trains_only_the_top_layers(model):
    cfg = TrainConfig(model=model, n_layer=3, d_model=16, n_head=2, seq_len=8)
    body = cfg.model.build(vocab_size=50, max_seq_len=8)
    freeze_body(body, 1, 3)
    trainable = {n for n, p in body.named_parameters() if p.requires_grad}
    assert not any(n.startswith("embed.") for n in trainable)
    if model == "gpt":
        assert (
            all(n.startswith(("blocks.2.", "norm.")) for n in trainable)
            and "blocks.2.mlp.up.weight" in trainable
        )
    else:
        assert (
            all(n.endswith("_l2") or n.startswith("norm.") for n in trainable)
            and "rnn.weight_hh_l2" in trainable
        )
    freeze_body(body, 0, 3)
    assert not any(p.requires_grad for p in body.parameters())


def test_head_lr_scales_the_task_head_groups_only():
    from lm_train.objectives.heads import Classifier

    cfg = TrainConfig(n_layer=1, d_model=16, n_head=2, seq_len=8, lr=1e-3, head_lr=1e-2, warmup_steps=0)
    model = Classifier(cfg.model.build(50, 8), 3, "last")
    opt = build_optimizer(model, cfg)
    Scheduler(opt, cfg)
    head = {id(p) for p in model.task_head.parameters()}
    for group in opt.param_groups:
        is_head = {id(p) for p in group["params"]} <= head
        assert group["lr"] == pytest.approx(1e-2 if is_head else 1e-3)
    grouped = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # each weight in one group


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def state_dict(self) -> dict:
        return {"n": self.n}

    def load_state_dict(self, state: dict) -> None:
        self.n = state["n"]


def test_checkpoint_parts_round_trip_and_a_missing_entry_names_itself():
    a, b, flat = _Counter(), _Counter(), _Counter()
    a.n, b.n, flat.n = 1, 2, 3
    state = gather([Part("a", a), Part("b", b, required=False), Part(None, flat)], {"config": {}})
    assert state == {"a": {"n": 1}, "b": {"n": 2}, "n": 3, "config": {}}
    a2, b2, flat2 = _Counter(), _Counter(), _Counter()
    restore([Part("a", a2), Part("b", b2, required=False), Part(None, flat2)], state, "ck.pt")
    assert (a2.n, b2.n, flat2.n) == (1, 2, 3)
    restore([Part("b", b2, required=False)], {}, "old.pt")  # an older checkpoint without it
    with pytest.raises(CheckpointError, match=r"old\.pt has no 'a' entry"):
        restore([Part("a", a2)], {}, "old.pt")


def test_objective_names_validate_without_torch_and_the_registry_builds_classes():
    import subprocess

    code = (
        "import sys, lm_train.config as c; c.TrainConfig(objective='classify'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    from lm_train.objectives import OBJECTIVES

    assert OBJECTIVES["classify"].name == "classify" and OBJECTIVES["causal_lm"].name == "causal_lm"
    assert TrainConfig(**{"classify.pool": "mean"}).objective.pool == "mean"
    with pytest.raises(ValueError, match="freeze must be none, body or all_but_top_N"):
        TrainConfig(freeze="top")


def test_the_dense_gelu_head_is_one_of_the_config_heads_and_trains_at_the_head_rate():
    from lm_train.config import CLASSIFY_HEADS
    from lm_train.objectives.heads import HEADS, Classifier, DenseGeluHead
    from lm_train.optim import param_groups

    assert CLASSIFY_HEADS == HEADS
    cfg = TrainConfig(n_layer=1, d_model=16, n_head=2, seq_len=8)
    model = Classifier(cfg.model.build(50, 8), 3, "first", head="dense_gelu")
    assert isinstance(model.task_head, DenseGeluHead)
    x = torch.tensor([[1, 2, 3]])
    out = model(x, torch.arange(3)[None], torch.zeros_like(x), torch.tensor([3]))
    assert out.shape == (1, 3)
    head_groups = [g for g in param_groups(model, 0.1, head_lr_scale=10.0) if g.get("lr_scale") == 10.0]
    in_head = {id(p) for g in head_groups for p in g["params"]}
    assert {id(p) for p in model.task_head.parameters()} == in_head and len(in_head) == 4


def test_a_text_longer_than_seq_len_is_cut_but_still_ends_with_its_eos():
    from lm_train.data.task import TaskExamples, build_rows

    eos = 0
    tokens = np.array([5, 6, 7, 8, 9, eos, 3, eos], np.int64)  # a 6-token and a 2-token example
    examples = TaskExamples(tokens, np.array([0, 6, 8]), np.array([1, 0]))
    rows = build_rows(examples, np.array([0, 1]), seq_len=4, pad_id=1, pad_to=None)
    assert rows["input_ids"].tolist() == [[5, 6, 7, eos], [3, eos, 1, 1]]
    assert rows["lengths"].tolist() == [4, 2] and rows["segment_ids"].tolist() == [[0, 0, 0, 0], [0, 0, 1, 1]]

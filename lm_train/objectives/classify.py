"""``objective=classify``: fine-tune a language model to predict each example's label.

The dataset is a task dataset (``python -m pipelines.prepare_task``): its manifest's
``task.labels`` names the classes and every shard row carries a ``label``. Rows are single
examples (``lm_train.data.task.TaskLoader``); the loss is cross-entropy summed over the
examples of a batch (padding rows past a finite split's end carry label -1 and count for
nothing). Evaluation accumulates one confusion matrix over every rank and derives the
rest from it: loss, accuracy, macro-F1 and per-class precision and recall.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_train.data.config import LoaderError
from lm_train.objectives.base import AutocastFactory, Batch, Objective
from lm_train.objectives.heads import Classifier, freeze_body, resolve_pool
from lmcore.config import ConfigError


def task_labels(manifest: Any, data: str) -> list[str]:
    """The label names of a classification task dataset, refused for any other dataset."""
    task = getattr(manifest, "task", None)
    if task is None:
        raise ConfigError(
            f"objective=classify needs a labelled task dataset, but {data} has no task in its manifest; "
            "make one with python -m pipelines.prepare_task --task=classification"
        )
    kind = task["kind"] if isinstance(task, dict) else task.kind
    labels = task["labels"] if isinstance(task, dict) else task.labels
    if kind != "classification" or len(labels) < 2:
        raise ConfigError(
            f"objective=classify needs a classification task with >= 2 labels; {data} has {kind!r} {labels}"
        )
    return list(labels)


def classification_metrics(confusion: np.ndarray, loss_sum: float, labels: Sequence[str]) -> dict[str, Any]:
    """Metrics from a confusion matrix (rows: true label, columns: predicted) and the summed loss.

    A class never predicted has precision 0, one never present recall 0 (as scikit-learn's
    ``zero_division=0``); macro-F1 averages the per-class F1 over every label.
    """
    confusion = np.asarray(confusion, np.int64)
    total = int(confusion.sum())
    if total == 0:
        nan = float("nan")
        return {
            "loss": nan,
            "accuracy": nan,
            "macro_f1": nan,
            "num_examples": 0,
            "confusion": confusion.tolist(),
        }
    tp = np.diag(confusion).astype(np.float64)
    predicted, actual = confusion.sum(0).astype(np.float64), confusion.sum(1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    out: dict[str, Any] = {
        "loss": loss_sum / total,
        "accuracy": float(tp.sum() / total),
        "macro_f1": float(f1.mean()),
        "num_examples": total,
    }
    for i, name in enumerate(labels):
        out[f"precision/{name}"] = float(precision[i])
        out[f"recall/{name}"] = float(recall[i])
    out["confusion"] = confusion.tolist()
    return out


class Classify(Objective):
    name = "classify"

    def __init__(self, cfg, manifest) -> None:
        super().__init__(cfg, manifest)
        self.labels = task_labels(manifest, manifest.base_dir or "the dataset")

    # -- data ------------------------------------------------------------------------------
    def make_loader(self, data: str, split: str, rank: int, world_size: int, epochs: int | None) -> Any:
        from lm_train.data.task import TaskLoader

        return TaskLoader(data, split, **self.example_loader_settings(split, rank, world_size, epochs))

    def count(self, batch: Batch) -> Tensor:
        return (batch["labels"] >= 0).double().sum()

    # -- model -----------------------------------------------------------------------------
    def build_model(self, body: nn.Module) -> nn.Module:
        model_cfg = self.cfg.model
        head = getattr(body, "head", None)
        if head is not None and head.weight is not body.embed.weight:
            head.requires_grad_(False)  # the vocabulary projection is unused: no gradient, no DDP hang
        freeze_body(body, self.cfg.objective.train_top_layers, model_cfg.n_layer)
        pool = resolve_pool(self.cfg.objective.pool, model_cfg.name)
        return Classifier(
            body,
            len(self.labels),
            pool,
            model_cfg.dropout,
            self.cfg.objective.head_bias,
            self.cfg.objective.head,
        )

    def init_module(self, model: nn.Module) -> nn.Module:
        return model.body

    # -- loss and metrics -------------------------------------------------------------------
    @staticmethod
    def label_logits(model: nn.Module, batch: Batch) -> Tensor:
        return model(
            batch["input_ids"], batch["position_ids"], batch["segment_ids"], batch["lengths"]
        ).float()

    def loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
        logits = self.label_logits(model, batch)
        labels = batch["labels"]
        per_example = F.cross_entropy(logits, labels.clamp(min=0), reduction="none")
        valid = (labels >= 0).to(per_example.dtype)
        return (per_example * valid).sum(), valid.sum()

    def num_eval_sums(self) -> int:
        return len(self.labels) ** 2 + 1  # the confusion matrix, then the loss sum

    def eval_sums(self, model: nn.Module, batch: Batch, autocast: AutocastFactory) -> Tensor:
        n = len(self.labels)
        with autocast():
            logits = self.label_logits(model, batch)
        labels, valid = batch["labels"], batch["labels"] >= 0
        loss = F.cross_entropy(logits[valid], labels[valid], reduction="sum")
        cells = labels[valid] * n + logits[valid].argmax(-1)
        return torch.cat([torch.bincount(cells, minlength=n * n).double(), loss.double().view(1)])

    def eval_metrics(self, totals: Tensor) -> dict[str, Any]:
        n = len(self.labels)
        confusion = totals[: n * n].round().long().view(n, n).cpu().numpy()
        return classification_metrics(confusion, float(totals[-1]), self.labels)

    def report_extras(self, metrics: dict[str, Any]) -> dict[str, Any]:
        return {"labels": list(self.labels), "confusion": metrics.get("confusion")}

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The label names, so a checkpoint alone says what its outputs mean (predict reads them)."""
        return {"labels": list(self.labels)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        labels = state.get("labels") if isinstance(state, dict) else None
        if labels is not None and list(labels) != self.labels:
            raise LoaderError(f"the checkpoint's labels {labels} are not this dataset's {self.labels}")


__all__ = ["Classify", "classification_metrics", "task_labels"]

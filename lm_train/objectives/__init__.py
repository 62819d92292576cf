"""Training objectives: ``objective=causal_lm|masked_lm|classify`` picks one by name.

An objective owns what differs between pretraining and fine-tuning (batch shaping, loss,
evaluation metrics, the model's task head); the trainer loop, DDP, checkpoints and
telemetry are shared. The interface is ``lm_train.objectives.base.Objective``. A new one is
a module here with its class and one line in ``names.OBJECTIVE_CLASSES``.

Importing this package imports no torch: ``OBJECTIVES`` loads a class the first time it is
looked up, so the config can validate ``objective=NAME`` cheaply.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from lm_train.objectives.names import OBJECTIVE_CLASSES, OBJECTIVE_NAMES

if TYPE_CHECKING:
    from lm_train.objectives.base import Objective


class _LazyRegistry(Mapping[str, "type[Objective]"]):
    """Name -> Objective class; the class's module is imported on first lookup."""

    def __init__(self, paths: Mapping[str, str]) -> None:
        self._paths = dict(paths)

    def __getitem__(self, name: str) -> type[Objective]:
        module, _, attr = self._paths[name].partition(":")
        return getattr(importlib.import_module(module), attr)

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


OBJECTIVES: Mapping[str, type[Objective]] = _LazyRegistry(OBJECTIVE_CLASSES)

__all__ = ["OBJECTIVES", "OBJECTIVE_NAMES"]

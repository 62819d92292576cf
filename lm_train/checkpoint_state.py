"""A checkpoint's contents, gathered from the run's stateful components and given back to them.

Every piece of a run that must survive a restart (model, optimizer, scheduler, loader,
objective, RNG, the step counters) is a ``Stateful``: ``state_dict()`` and
``load_state_dict()``. The trainer lists them once as ``Part``s; ``gather`` builds the
checkpoint dict and ``restore`` hands each part its entry back, so a new component is one
more ``Part`` rather than edits to a hand-assembled dict and its loader. Keys stay those of
older checkpoints (``model``, ``optimizer``, ..., ``step``/``tokens`` at the top level), so
those resume; a part added later (``objective``) is optional when loading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from lm_train.checkpoint import CheckpointError


@runtime_checkable
class Stateful(Protocol):
    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> None: ...


@dataclass
class Part:
    """One component in the checkpoint.

    ``key`` None: the component's state dict is spread over the top level (the step counters).
    ``load``: called as ``load(value, path)`` instead of ``load_state_dict`` when restoring
    needs checks or context (model tensors, per-rank RNG).
    ``required``: False for a part an older checkpoint may lack (it then keeps its fresh state).
    """

    key: str | None
    component: Stateful
    load: Callable[[Any, str], None] | None = None
    required: bool = True


def gather(parts: Iterable[Part], metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint dict: every part's state (collective calls run on every rank), then metadata."""
    state: dict[str, Any] = {}
    for part in parts:
        value = part.component.state_dict()
        if part.key is None:
            state.update(value)
        else:
            state[part.key] = value
    state.update(metadata or {})
    return state


def restore(parts: Iterable[Part], state: Mapping[str, Any], path: str) -> None:
    """Give each part its entry of ``state``, in order; a missing required entry names itself."""
    for part in parts:
        if part.key is None:
            value: Any = state
        elif part.key in state:
            value = state[part.key]
        elif part.required:
            raise CheckpointError(
                f"checkpoint {path} has no {part.key!r} entry; it is damaged or not an lmforge checkpoint"
            )
        else:
            continue
        if part.load is not None:
            part.load(value, path)
        else:
            part.component.load_state_dict(value)


__all__ = ["Part", "Stateful", "gather", "restore"]

"""Step-loop bookkeeping: the batch stream, the logging window, and when to evaluate or save."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch


@dataclasses.dataclass
class TrainState:
    """The step counters; a checkpoint keeps them at its top level (``step``, ``tokens``)."""

    step: int = 0
    tokens: int = 0

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step, "tokens": self.tokens}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.tokens = int(state["step"]), int(state["tokens"])


class LoaderStream:
    """Iterate a loader across its epochs and time how long the trainer waits for each batch."""

    def __init__(self, loader: Any) -> None:
        self.loader, self._it = loader, None
        self.wait_s = 0.0

    def next(self) -> dict[str, torch.Tensor]:
        started = time.perf_counter()
        if self._it is None:
            self._it = iter(self.loader)
        batch = next(self._it)
        self.wait_s += time.perf_counter() - started
        return batch


class Window:
    """Loss sums and token counts since the last logged step (float64: the mean is exact to print)."""

    def __init__(self, device: torch.device, wait_s: float) -> None:
        self.totals = torch.zeros(2, dtype=torch.float64, device=device)
        self.reset(wait_s)

    def reset(self, wait_s: float) -> None:
        self.totals.zero_()
        self.start, self.wait_s, self.steps = time.perf_counter(), wait_s, 0

    def add(self, loss_sum: torch.Tensor, tokens: torch.Tensor) -> None:
        self.totals[0] += loss_sum
        self.totals[1] += tokens
        self.steps += 1


def log_due(step: int, log_every: int, max_steps: int) -> bool:
    """A train record every ``log_every`` steps and at the last one."""
    return step % log_every == 0 or step == max_steps


def periodic_due(step: int, every: int, max_steps: int) -> bool:
    """Evaluate/save every ``every`` steps (0: never) before the end; the end has its own."""
    return bool(every) and step % every == 0 and step < max_steps

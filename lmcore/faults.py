"""Fault points for the crash-safety and fault-drill tests: one call inside a step that works.

Production code calls ``crash_point(name)`` / ``train_step_point(step, rank)`` at the
moments a test wants to kill; without the test's environment variable each is a dict lookup.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def crash_point(name: str) -> None:
    """Die like ``kill -9`` when ``LMFORGE_CRASH_AT`` names this point."""
    if os.environ.get("LMFORGE_CRASH_AT") == name:
        _die()


def should_kill_at_step(step: int, rank: int, env: Mapping[str, str]) -> bool:
    """The training drill: rank ``LMFORGE_FAULT_KILL_RANK`` (default 1) dies after step
    ``LMFORGE_FAULT_KILL_STEP``, on the first attempt only (torchrun's restarts live)."""
    target = env.get("LMFORGE_FAULT_KILL_STEP")
    return (
        target is not None
        and int(target) == step
        and int(env.get("LMFORGE_FAULT_KILL_RANK", "1")) == rank
        and int(env.get("TORCHELASTIC_RESTART_COUNT", "0")) == 0
    )


def train_step_point(step: int, rank: int) -> None:
    """Die like ``kill -9`` after ``step`` when the training drill names this rank and step."""
    if should_kill_at_step(step, rank, os.environ):
        _die()

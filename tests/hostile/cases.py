"""The case format of the hostile suite, shared by the pipeline side and the trainer side.

A ``Case`` names one hostile situation, the outcome the product promises (``Expected``) and a
``run(tmpdir) -> Observed`` callable that provokes it. ``judge`` turns the two into one verdict:

* ``as promised``: the expected outcome, with the expected reason / error line;
* ``unclear``: handled, but with another reason, a multi-line message or an unexpected exit code;
* ``crash``: a traceback, or ``run`` itself raised;
* ``lost``: fewer valid records came out than went in;
* ``hole``: something bad went through as if valid (no quarantine record, no refusal).

This module imports nothing from the project, so the trainer side (``cases_train.py``), the
tests, ``bench/bench_hostile.py`` and ``scripts/make_hostile_cases.py`` can all build on it.
"""

from __future__ import annotations

import re
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

VERDICTS = ("as promised", "unclear", "crash", "lost", "hole")
OUTCOMES = ("ok", "quarantine", "error", "refusal")


@dataclass(frozen=True)
class Expected:
    """What the product promises for one case.

    ``outcome``: ``ok`` (runs, nothing quarantined), ``quarantine`` (bad units become records with
    ``reasons``), ``error`` (one clear line matching ``error`` and a non-zero exit) or ``refusal``
    (a second run / bad state is refused with a line matching ``error``). ``docs``: valid records
    that must come out (``None``: not checked). ``reasons``: quarantine/drop reasons, as a multiset
    (``None``: not checked). ``exit_code``: ``None`` means "non-zero" for error/refusal and 0 otherwise.
    """

    outcome: str
    docs: int | None = None
    reasons: tuple[str, ...] | None = None
    error: str | None = None
    exit_code: int | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not one of {OUTCOMES}")

    def describe(self) -> str:
        """One short line for tables."""
        parts = [self.outcome]
        if self.docs is not None:
            parts.append(f"docs={self.docs}")
        if self.reasons:
            parts.append(",".join(self.reasons))
        if self.error:
            parts.append(f"/{self.error}/")
        return " ".join(parts)


@dataclass
class Observed:
    """What happened. Fill only what the case can see; ``None`` means "not observed"."""

    docs: int | None = None
    reasons: list[str] = field(default_factory=list)
    exit_code: int | None = None
    output: str = ""  # stderr (and stdout) of a CLI run, or the error message of a pure call
    crashed: bool = False  # an exception escaped / a traceback was printed
    note: str = ""
    violations: list[str] = field(default_factory=list)  # bad things that went through (-> "hole")

    def describe(self) -> str:
        parts = []
        if self.crashed:
            parts.append("CRASH")
        if self.exit_code is not None:
            parts.append(f"exit={self.exit_code}")
        if self.docs is not None:
            parts.append(f"docs={self.docs}")
        if self.reasons:
            counts = Counter(self.reasons)
            parts.append(",".join(f"{r}x{n}" if n > 1 else r for r, n in sorted(counts.items())))
        line = first_error_line(self.output)
        if line:
            parts.append(repr(line[:80]))
        if self.violations:
            parts.append("VIOLATED: " + "; ".join(self.violations))
        if self.note:
            parts.append(self.note)
        return " ".join(parts) or "-"


@dataclass(frozen=True)
class Case:
    """One hostile situation: a name, the area it hits, the promise and how to provoke it."""

    name: str
    area: str  # e.g. "read", "html", "dedup", "config", "lock", "disk", "train"
    expected: Expected
    run: Callable[[Path], Observed]
    description: str = ""
    slow: bool = False  # end-to-end CLI run (marked ``slow`` in the tests)
    make: Callable[[Path], None] | None = None  # writes the case's inputs (for make_hostile_cases.py)


def has_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" in text


def first_error_line(text: str) -> str:
    """The last non-empty line of an output: where a CLI says what went wrong."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _reasons_match(expected: tuple[str, ...], observed: list[str]) -> bool:
    return Counter(expected) == Counter(observed)


def judge(expected: Expected, observed: Observed) -> str:
    """The verdict of one case (see the module docstring)."""
    if observed.crashed or has_traceback(observed.output):
        return "crash"
    if expected.docs is not None and observed.docs is not None and observed.docs < expected.docs:
        return "lost"
    if observed.violations:
        return "hole"
    want_failure = expected.outcome in ("error", "refusal")
    if want_failure:
        if observed.exit_code == 0 or (observed.exit_code is None and not observed.output):
            return "hole"
        if expected.exit_code is not None and observed.exit_code != expected.exit_code:
            return "unclear"
        if expected.error and not re.search(expected.error, first_error_line(observed.output)):
            return "unclear"
        return "as promised"
    if expected.docs is not None and observed.docs is not None and observed.docs > expected.docs:
        return "hole"  # a bad unit went through as a valid record
    wanted_exit = expected.exit_code if expected.exit_code is not None else 0
    if observed.exit_code is not None and observed.exit_code != wanted_exit:
        return "unclear"
    if expected.reasons is not None:
        if expected.reasons and not observed.reasons:
            return "hole"
        if not _reasons_match(expected.reasons, observed.reasons):
            return "unclear"
    if expected.outcome == "ok" and observed.reasons and expected.reasons is None:
        return "unclear"
    return "as promised"


def run_case(case: Case, tmpdir: Path) -> tuple[Observed, str]:
    """Run one case in ``tmpdir``; an exception escaping ``run`` is a crash, never a test error."""
    tmpdir.mkdir(parents=True, exist_ok=True)
    try:
        observed = case.run(tmpdir)
    except Exception as exc:  # the case's own code failed: report it as a crash
        observed = Observed(crashed=True, output=traceback.format_exc(), note=f"{type(exc).__name__}")
    return observed, judge(case.expected, observed)

"""Trainer-side hostile cases (lm_train, schemas): a list of ``Case`` objects.

Add cases to ``CASES``; ``tests/hostile/test_hostile.py`` and ``bench/bench_hostile.py`` run
them with the pipeline cases. Example::

    from .cases import Case, Expected, Observed

    def _run_bad_checkpoint(tmp: Path) -> Observed: ...

    CASES = [Case("train_bad_checkpoint", "train", Expected("error", error=r"checkpoint"), _run_bad_checkpoint)]
"""

from __future__ import annotations

from .cases import Case

CASES: list[Case] = []

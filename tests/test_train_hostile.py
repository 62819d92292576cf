"""The trainer-side hostile cases (``tests/hostile/cases_train.py``), each as one test: every
one must end "as promised" (one clear error line and the promised exit code, or a refusal
with its reason), never a crash or a hole."""

from __future__ import annotations

import pytest

from tests.hostile.cases import run_case
from tests.hostile.cases_train import CASES


def _param(case):
    marks = [pytest.mark.slow] if case.slow else []
    return pytest.param(case, id=case.name, marks=marks)


def test_case_names_are_unique_and_described():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert all(c.description and c.area for c in CASES)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile_train_case(case, tmp_path):
    observed, verdict = run_case(case, tmp_path)
    assert verdict == "as promised", (
        f"{case.name}: {verdict}: {observed.describe()}\n{observed.output[-3000:]}"
    )

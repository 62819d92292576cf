"""The pipeline-side hostile cases (``cases_pipeline.py``), each as one test: every one must end
"as promised" (the promised quarantine reason, error line, refusal or exit code), never a
crash, a lost record or a hole. End-to-end CLI runs are marked slow. (The trainer-side cases
run in ``tests/test_train_hostile.py``; ``bench/bench_hostile.py`` runs both.)"""

from __future__ import annotations

import pytest

from .cases import VERDICTS, Expected, Observed, judge, run_case
from .cases_pipeline import CASES


def _param(case):
    return pytest.param(case, id=case.name, marks=[pytest.mark.slow] if case.slow else [])


def test_case_names_are_unique_and_described():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert all(c.description and c.area for c in CASES)


def test_judge_tells_the_verdicts_apart():
    q = Expected("quarantine", docs=2, reasons=("bad_json",))
    assert judge(q, Observed(docs=2, reasons=["bad_json"])) == "as promised"
    assert judge(q, Observed(docs=1, reasons=["bad_json"])) == "lost"
    assert judge(q, Observed(docs=2, reasons=["read_error"])) == "unclear"
    assert judge(q, Observed(docs=2)) == "hole"
    assert judge(q, Observed(output="Traceback (most recent call last):\n  x")) == "crash"
    e = Expected("error", error=r"matches no file", exit_code=2)
    assert judge(e, Observed(exit_code=2, output="error: --input 'x' matches no file")) == "as promised"
    assert judge(e, Observed(exit_code=0)) == "hole"
    assert judge(e, Observed(exit_code=1, output="error: --input 'x' matches no file")) == "unclear"
    assert set(VERDICTS) == {"as promised", "unclear", "crash", "lost", "hole"}


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile_pipeline_case(case, tmp_path):
    observed, verdict = run_case(case, tmp_path)
    assert verdict == "as promised", (
        f"{case.name}: {verdict}: expected {case.expected.describe()}; observed {observed.describe()}\n"
        f"{observed.output[-3000:]}"
    )

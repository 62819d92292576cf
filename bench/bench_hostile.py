"""The hostile suite as a table: every case, what was promised, what happened, the verdict.

    python -m bench.bench_hostile [--quick] [--only SUBSTRING] [--side pipeline|train|all]

Runs the pipeline cases (``tests/hostile/cases_pipeline.py``) and the trainer cases
(``tests/hostile/cases_train.py``), each in its own temporary directory; ``--quick`` skips the
slow (end-to-end) ones. Verdicts: ``as promised``, ``unclear`` (handled, but another reason,
message or exit code), ``crash`` (a traceback), ``lost`` (valid records missing), ``hole``
(something bad went through). Writes ``bench/results/hostile.json`` with the counts and
every row; exits 1 when any case is not "as promised".
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.hostile.cases import VERDICTS, Case, run_case  # noqa: E402


def load_cases(side: str) -> list[tuple[str, Case]]:
    """(side, case) pairs; a side whose module fails to import is reported, not fatal."""
    out: list[tuple[str, Case]] = []
    if side in ("pipeline", "all"):
        from tests.hostile.cases_pipeline import CASES as PIPELINE

        out += [("pipeline", c) for c in PIPELINE]
    if side in ("train", "all"):
        try:
            from tests.hostile.cases_train import CASES as TRAIN
        except Exception as exc:  # the other side's module is still being written
            print(f"bench_hostile: trainer cases not loaded: {type(exc).__name__}: {exc}", file=sys.stderr)
            TRAIN = []
        out += [("train", c) for c in TRAIN]
    return out


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: list[dict]) -> str:
    """A plain-text table: case, expected, observed, verdict."""
    widths = (40, 44, 60, 12)
    head = ("case", "expected", "observed", "verdict")
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        cells = (r["case"], r["expected"], r["observed"], r["verdict"])
        lines.append("  ".join(clip(c, w).ljust(w) for c, w in zip(cells, widths, strict=True)))
    return "\n".join(lines)


def run_all(cases: list[tuple[str, Case]], quick: bool) -> list[dict]:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="lmforge-hostile-") as tmp:
        for side, case in cases:
            if quick and case.slow:
                continue
            started = time.monotonic()
            observed, verdict = run_case(case, Path(tmp) / case.name)
            rows.append(
                {
                    "case": case.name,
                    "side": side,
                    "area": case.area,
                    "slow": case.slow,
                    "description": case.description,
                    "expected": case.expected.describe(),
                    "observed": observed.describe(),
                    "verdict": verdict,
                    "seconds": round(time.monotonic() - started, 2),
                    **({"output_tail": observed.output[-1500:]} if verdict != "as promised" else {}),
                }
            )
            print(f"  {verdict:<12} {case.name} ({rows[-1]['seconds']}s)", file=sys.stderr, flush=True)
    return rows


def counts_of(rows: list[dict]) -> dict[str, int]:
    verdicts = Counter(r["verdict"] for r in rows)
    return {"cases": len(rows), **{v: verdicts.get(v, 0) for v in VERDICTS}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the slow end-to-end cases")
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    ap.add_argument("--side", choices=("pipeline", "train", "all"), default="all")
    args = ap.parse_args(argv)
    cases = [(s, c) for s, c in load_cases(args.side) if args.only in c.name]
    rows = run_all(cases, args.quick)
    print(table(rows))
    counts = counts_of(rows)
    by_side = {
        side: counts_of([r for r in rows if r["side"] == side]) for side in sorted({r["side"] for r in rows})
    }
    print("\n" + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"counts": counts, "by_side": by_side, "quick": args.quick, "rows": rows}
    (RESULTS / "hostile.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"wrote {RESULTS / 'hostile.json'}")
    return 0 if counts["as promised"] == counts["cases"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Write every hostile case's input files, and the outcome each must get, into a directory.

    python scripts/make_hostile_cases.py DIR [--only SUBSTRING]

``DIR/<case>/`` holds the case's inputs (small, generated: nothing large is committed) and
``DIR/cases.json`` lists every case with its area, description and expected outcome
(``outcome``: ok / quarantine / error / refusal; ``docs``: valid records that must come out;
``reasons``: quarantine/drop reasons; ``error``: a regex for the one error line;
``exit_code``). Cases that need no input file (settings, locks) are listed with ``inputs: []``.
``tests/hostile/`` runs the same cases; ``python -m bench.bench_hostile`` prints the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.hostile.cases import Case  # noqa: E402


def all_cases() -> list[Case]:
    from tests.hostile.cases_pipeline import CASES as PIPELINE

    try:
        from tests.hostile.cases_train import CASES as TRAIN
    except Exception as exc:  # the trainer side is optional here
        print(f"make_hostile_cases: trainer cases not loaded: {exc}", file=sys.stderr)
        TRAIN = []
    return [*PIPELINE, *TRAIN]


def write_case(case: Case, root: Path) -> dict:
    """The case's inputs under ``root/<name>/`` and its catalogue entry."""
    files: list[str] = []
    if case.make is not None:
        d = root / case.name
        d.mkdir(parents=True, exist_ok=True)
        case.make(d)
        files = sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())
    return {
        "name": case.name,
        "area": case.area,
        "description": case.description,
        "slow": case.slow,
        "expected": dataclasses.asdict(case.expected),
        "inputs": files,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("directory", type=Path)
    ap.add_argument("--only", default="", help="only cases whose name contains this")
    args = ap.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    entries = [write_case(c, args.directory) for c in all_cases() if args.only in c.name]
    (args.directory / "cases.json").write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n")
    size = sum(p.stat().st_size for p in args.directory.rglob("*") if p.is_file())
    print(f"wrote {len(entries)} cases ({size / 1e6:.1f} MB) to {args.directory}; catalogue: cases.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``make bench``: run every benchmark one after the other and collect the results.

Each ``bench/bench_<area>.py`` writes ``bench/results/<area>.json``; this runner calls them
in sequence (never in parallel: they measure throughput) and writes a summary to
``bench/results/SUMMARY.md``. ``BENCH_ARGS=--quick`` runs the small versions.

    python -m bench.run_all [--quick] [--only clean,dedup_quality]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench import pipelines_speed

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"


def discover() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))


def summarise(results: dict[str, dict]) -> str:
    """Headlines first (results that carry a one-line ``headline``), then every result in full."""
    lines = ["# lmforge benchmark results", ""]
    headlines = [f"- **{area}**: {res['headline']}" for area, res in results.items() if res.get("headline")]
    if headlines:
        lines += [*headlines, ""]
    for area, res in results.items():
        lines.append(f"## {area}")
        lines.append("")
        lines.append("```json")
        lines.append(json.dumps(res, indent=2, ensure_ascii=False)[:6000])
        lines.append("```")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small versions of every benchmark")
    ap.add_argument("--only", default="", help="comma-separated areas (default: all)")
    ap.add_argument("--summary-only", action="store_true", help="rebuild SUMMARY.md from existing results")
    args = ap.parse_args(argv)
    if args.summary_only:
        results = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
        (RESULTS / "SUMMARY.md").write_text(summarise(results), encoding="utf-8")
        print(f"wrote {RESULTS / 'SUMMARY.md'} from {len(results)} result files")
        return 0
    areas = [a for a in discover() if not args.only or a in args.only.split(",")]
    RESULTS.mkdir(exist_ok=True)
    failed: list[str] = []
    collected: dict[str, dict] = {}
    for area in areas:
        cmd = [sys.executable, "-m", f"bench.bench_{area}", *(["--quick"] if args.quick else [])]
        print(f"\n=== bench {area}: {' '.join(cmd)}", flush=True)
        started = time.monotonic()
        rc = subprocess.call(cmd, cwd=BENCH_DIR.parent)
        print(f"=== bench {area}: exit {rc} after {time.monotonic() - started:.0f}s", flush=True)
        if rc != 0:
            failed.append(area)
        result_file = RESULTS / f"{area}.json"
        if result_file.exists():
            collected[area] = json.loads(result_file.read_text())
    if any(area in pipelines_speed.SOURCES for area in collected):
        # the issue #21 speed goals of clean / dedup / tokenize / prepare as one table
        collected["pipelines_speed"] = pipelines_speed.write(RESULTS)
    (RESULTS / "SUMMARY.md").write_text(summarise(collected), encoding="utf-8")
    print(f"\nresults in {RESULTS}/ (SUMMARY.md); failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The pipelines' speed goals of issue #21 in one table, from the benchmarks' own result files.

    python -m bench.pipelines_speed     # reads bench/results/*.json, writes pipelines_speed.json

Each row: what was measured (on the real-text corpus where there is one), our figure, the
reference tool's figure measured in the same run (where the benchmark has one), their
ratio, the goal, whether it is met, the load average around the run and the command that
produced it. Nothing is measured here: re-run the benchmark named in a row to refresh it;
``bench/run_all.py`` rebuilds this file after every ``make bench``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "pipelines_speed.json"
SOURCES = ("clean_real", "dedup_scale", "tokenize", "prepare")

CLEAN_GOAL_MB_PER_CPU_S = 2.0
DEDUP_GOAL_MB_S = 8.0
TOKENIZE_GOAL_RATIO = 0.8
PREPARE_MIN_MB = 100.0
DEFAULT_RUNNER = "fnapi"  # the goals are for what a plain run gets


def row(
    stage: str,
    measured: str,
    ours: float | None,
    unit: str,
    goal: str,
    met: bool | None,
    command: str,
    load: Any = None,
    reference: float | None = None,
    reference_tool: str | None = None,
) -> dict[str, Any]:
    """One line of the table; the ratio is ours over the reference's (None without one)."""
    ratio = round(ours / reference, 3) if ours is not None and reference else None
    return {
        "stage": stage,
        "measured": measured,
        "ours": ours,
        "unit": unit,
        "reference_tool": reference_tool,
        "reference": reference,
        "ratio": ratio,
        "goal": goal,
        "met": met,
        "load_avg_1min": load,
        "command": command,
    }


def clean_rows(res: dict) -> list[dict]:
    """Per preset: MB of input per CPU-second of ``python -m pipelines.clean`` on the corpus."""
    rows = []
    for preset, run in res.get("runs", {}).items():
        value = run.get("mb_per_cpu_s")
        rows.append(
            row(
                "clean",
                f"{res.get('corpus')} ({run.get('input_mb')} MB), preset {preset}, {res.get('mode')}",
                value,
                "MB per CPU-second",
                f">= {CLEAN_GOAL_MB_PER_CPU_S} MB per CPU-second",
                None if value is None else value >= CLEAN_GOAL_MB_PER_CPU_S,
                res.get("command", "python -m bench.bench_clean_real"),
                run.get("load_avg_1min"),
            )
        )
    return rows


def dedup_rows(res: dict) -> list[dict]:
    """Real text against datasketch MinHashLSH; the generated 100k documents for comparison."""
    rows = []
    for key, run in sorted(res.get("runs", {}).items()):
        if key.startswith("real-"):
            ref = run.get("reference", {})
            default = run.get("runner") == DEFAULT_RUNNER
            rows.append(
                row(
                    "dedup",
                    f"{run.get('corpus')} ({run.get('text_mb')} MB text, {run.get('docs')} docs), "
                    f"runner {run.get('runner')}, {run.get('mode')}",
                    run.get("mb_per_s"),
                    "MB/s (wall, 2 cores)",
                    f">= {DEDUP_GOAL_MB_S} MB/s on 2 cores"
                    + (
                        ""
                        if default
                        else f" (for the default runner {DEFAULT_RUNNER}; this one for comparison)"
                    ),
                    run.get("mb_per_s", 0) >= DEDUP_GOAL_MB_S if default else None,
                    run.get("command", "python -m bench.bench_dedup_scale"),
                    [run.get("cpu_load_1min_before"), run.get("cpu_load_1min_after")],
                    ref.get("mb_per_s"),
                    ref.get("tool"),
                )
            )
        elif key == "fnapi-100000":
            rows.append(
                row(
                    "dedup",
                    f"generated text ({run.get('text_mb')} MB, {run.get('docs')} docs), runner fnapi",
                    run.get("mb_per_s"),
                    "MB/s (wall, 2 cores)",
                    f">= {DEDUP_GOAL_MB_S} MB/s on 2 cores",
                    run.get("mb_per_s", 0) >= DEDUP_GOAL_MB_S,
                    "python -m bench.bench_dedup_scale --docs 100000 --no-real",
                    run.get("cpu_load_1min_after"),
                )
            )
    return rows


def tokenize_row(tp: dict, measured: str, command: str) -> dict:
    """The Beam pipeline against a plain ``encode_batch_fast`` loop over the same documents."""
    ours, ref = tp.get("beam_pipeline_mb_s"), tp.get("plain_encode_batch_fast_mb_s")
    ratio = tp.get("pipeline_vs_encode_batch_fast")
    r = row(
        "tokenize",
        measured,
        ours,
        "MB/s",
        f">= {TOKENIZE_GOAL_RATIO} of encode_batch_fast",
        None if ratio is None else ratio >= TOKENIZE_GOAL_RATIO,
        command,
        tp.get("load_avg_1min"),
        ref,
        "HF tokenizers Tokenizer.encode_batch_fast, plain loop, same tokenizer",
    )
    if ratio is not None:
        r["ratio"] = ratio  # from the unrounded timings
    return r


def tokenize_rows(res: dict) -> list[dict]:
    rows = []
    if "real_text" in res:
        real = res["real_text"]
        tp = real["throughput"]
        rows.append(
            tokenize_row(
                tp,
                f"{real.get('corpus')} ({tp.get('text_mb')} MB: {real.get('mb_by_lang')}), {real.get('mode')}",
                real.get("command", "python -m bench.bench_tokenize --only real"),
            )
        )
    if "throughput" in res:
        tp = res["throughput"]
        rows.append(
            tokenize_row(
                tp,
                f"generated text ({tp.get('text_mb')} MB)",
                "python -m bench.bench_tokenize --only throughput",
            )
        )
    return rows


def prepare_rows(res: dict) -> list[dict]:
    """End to end on the real corpus: wall MB/s (and per CPU-second in ``measured``)."""
    real = res.get("real")
    if not real:
        return []
    stages = real.get("stages_one_by_one", {})
    per_stage = ", ".join(f"{k} {v['wall_s']}s" for k, v in stages.items() if isinstance(v, dict))
    measured = (
        f"{real.get('corpus')} ({real.get('input_text_mb')} MB), {real.get('runner')}, {real.get('mode')}; "
        f"{real.get('mb_per_cpu_s')} MB per CPU-second"
    )
    if per_stage:
        measured += f"; stages one by one: {per_stage}"
    return [
        row(
            "prepare",
            measured,
            real.get("mb_per_s"),
            "MB/s (wall)",
            f"measured end to end on >= {PREPARE_MIN_MB:.0f} MB of real text",
            real.get("input_text_mb", 0) >= PREPARE_MIN_MB,
            real.get("command", "python -m bench.bench_prepare --only real"),
            real.get("load_avg_1min"),
        )
    ]


def text_of(r: dict) -> str:
    return "generated text" if r["measured"].startswith("generated") else "real text"


def build(results: dict[str, dict]) -> dict[str, Any]:
    """The table from the result files' contents (keyed by file stem); missing files give no rows."""
    rows = [
        *clean_rows(results.get("clean_real", {})),
        *dedup_rows(results.get("dedup_scale", {})),
        *tokenize_rows(results.get("tokenize", {})),
        *prepare_rows(results.get("prepare", {})),
    ]
    short = [
        f"{r['stage']} on {text_of(r)} ({r['ours']} {r['unit']}; goal {r['goal']})"
        for r in rows
        if r["met"] is False
    ]
    met = sum(1 for r in rows if r["met"])
    judged = sum(1 for r in rows if r["met"] is not None)
    compared = len(rows) - judged
    headline = (
        f"pipelines speed goals: {met} of {judged} rows met"
        + (f" (+{compared} comparison row{'s' if compared > 1 else ''} without a goal)" if compared else "")
        + (f"; short: {'; '.join(short)}" if short else "")
    )
    return {"headline": headline, "rows": rows, "from": [f"bench/results/{s}.json" for s in SOURCES]}


def load_results(results_dir: Path = RESULTS) -> dict[str, dict]:
    return {
        s: json.loads((results_dir / f"{s}.json").read_text())
        for s in SOURCES
        if (results_dir / f"{s}.json").exists()
    }


def write(results_dir: Path = RESULTS) -> dict[str, Any]:
    table = build(load_results(results_dir))
    (results_dir / OUT.name).write_text(json.dumps(table, indent=2, ensure_ascii=False) + "\n")
    return table


def main() -> int:
    table = write()
    for r in table["rows"]:
        ratio = "" if r["ratio"] is None else f" ({r['ratio']}x {r['reference']})"
        verdict = "n/a" if r["met"] is None else "met" if r["met"] else "NOT met"
        print(f"{r['stage']:<9} {r['ours']} {r['unit']}{ratio}  goal {r['goal']}: {verdict}")
        print(f"          {r['measured']}")
    print(table["headline"])
    print(f"written {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

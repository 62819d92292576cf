"""bench/pipelines_speed.py: the issue #21 table from the benchmarks' result files."""

from __future__ import annotations

import json
from pathlib import Path

from bench import pipelines_speed as ps

RESULTS = {
    "clean_real": {
        "corpus": "bench/data/realtext",
        "mode": "full",
        "command": "python -m bench.bench_clean_real",
        "runs": {
            "web": {"input_mb": 115.3, "mb_per_cpu_s": 3.9, "load_avg_1min": [1.0, 1.2]},
            "docs": {"input_mb": 115.3, "mb_per_cpu_s": 1.9, "load_avg_1min": [1.0, 1.2]},
        },
    },
    "dedup_scale": {
        "runs": {
            "fnapi-100000": {"docs": 100000, "text_mb": 102.0, "mb_per_s": 8.87, "cpu_load_1min_after": 1.4},
            "real-fnapi": {
                "corpus": "bench/data/realtext",
                "mode": "full",
                "docs": 8037,
                "text_mb": 71.4,
                "runner": "fnapi",
                "mb_per_s": 7.5,
                "reference": {"tool": "datasketch", "mb_per_s": 5.0},
                "cpu_load_1min_before": 0.9,
                "cpu_load_1min_after": 1.3,
                "command": "python -m bench.bench_dedup_scale --only-real",
            },
        }
    },
    "tokenize": {
        "real_text": {
            "corpus": "bench/data/realtext",
            "mode": "full",
            "mb_by_lang": {"en": 10.0, "zh": 2.0},
            "throughput": {
                "text_mb": 12.0,
                "beam_pipeline_mb_s": 3.4,
                "plain_encode_batch_fast_mb_s": 4.0,
                "pipeline_vs_encode_batch_fast": 0.851,
                "load_avg_1min": [1.5, 1.6],
            },
        }
    },
    "prepare": {
        "real": {
            "corpus": "bench/data/realtext",
            "mode": "full",
            "input_text_mb": 115.3,
            "runner": "FnApiRunner (default)",
            "mb_per_s": 0.9,
            "mb_per_cpu_s": 0.8,
            "load_avg_1min": [1.0, 2.0],
            "stages_one_by_one": {"clean": {"wall_s": 40.0}, "dedup": {"wall_s": 9.0}, "sum_wall_s": 49.0},
        }
    },
}


def test_build_rows_goals_and_ratios() -> None:
    table = ps.build(RESULTS)
    web = next(r for r in table["rows"] if r["stage"] == "clean" and "preset web" in r["measured"])
    docs = next(r for r in table["rows"] if r["stage"] == "clean" and "preset docs" in r["measured"])
    assert (web["met"], docs["met"]) == (True, False)
    real_dedup = next(r for r in table["rows"] if r["stage"] == "dedup" and "realtext" in r["measured"])
    assert real_dedup["ratio"] == 1.5 and real_dedup["met"] is False and real_dedup["reference"] == 5.0
    tok = next(r for r in table["rows"] if r["stage"] == "tokenize")
    assert tok["ratio"] == 0.851 and tok["met"] is True
    prep = next(r for r in table["rows"] if r["stage"] == "prepare")
    assert prep["met"] is True and "clean 40.0s, dedup 9.0s" in prep["measured"]
    assert [r["stage"] for r in table["rows"]] == ["clean", "clean", "dedup", "dedup", "tokenize", "prepare"]
    assert table["headline"].startswith("pipelines speed goals: 4 of 6 rows met; short: clean on real text")


def test_missing_results_give_no_rows(tmp_path: Path) -> None:
    assert ps.build({})["rows"] == []
    (tmp_path / "prepare.json").write_text(json.dumps(RESULTS["prepare"]))
    table = ps.write(tmp_path)
    assert [r["stage"] for r in table["rows"]] == ["prepare"]
    assert json.loads((tmp_path / "pipelines_speed.json").read_text()) == table

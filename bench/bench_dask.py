"""``pipelines.prepare`` on a ``dask.distributed`` cluster against Beam's in-process runner.

The same real-text corpus (``bench/data/realtext/``, ``make bench-data``) four ways:
FnApiRunner with 2 threads, FnApiRunner with 2 processes, and ``--runner=DaskRunner`` on a
LocalCluster of 1 and of 2 worker processes (1 thread each, loopback, started here). For
each: wall time, CPU time of every process involved, the peak RSS of the largest one, and
for Dask the CPU time of each worker (``client.run`` before and after), which shows
whether the work spreads over the workers or piles onto one, and from the scheduler's task
stream the seconds each stage computed on each worker, and the steps that ran as one task
(``serial_steps_s``: inherently serial work, such as training the tokenizer on its sample). On 2 cores the cluster is
not expected to be faster; the ratios say what it costs. Every run's output is checked
byte for byte against the first's (manifests less ``code_version``, the git commit).

    python -m bench.bench_dask [--quick] [--max-mb 120] [--corpus bench/data/realtext]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "bench" / "data" / "realtext"
RESULTS = ROOT / "bench" / "results" / "dask.json"
CONFIG = "tokenize:\n  sample_fraction: 0.05\n"  # as bench_prepare's generated corpus
QUICK_MB = 8.0
ENV = {"OMP_NUM_THREADS": "1", "SOURCE_DATE_EPOCH": "1767225600"}
# Runs a command and prints the rusage of its whole process tree (children are waited for).
RUSAGE = (
    "import json, resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
    "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(json.dumps({'rc': rc, 'cpu_s': r.ru_utime + r.ru_stime, 'maxrss_mb': r.ru_maxrss / 1024}))"
)


def pick_inputs(corpus: Path, max_mb: float) -> tuple[list[Path], float]:
    """Whole corpus files in manifest order, smallest first, until ``max_mb`` (the text size) is reached."""
    manifest = json.loads((corpus / "manifest.json").read_text())
    entries = sorted(manifest["sources"].values(), key=lambda e: (e["mb"], e["file"]))
    files, mb = [], 0.0
    for entry in entries:
        if mb + entry["mb"] > max_mb and files:
            continue
        files.append(corpus / entry["file"])
        mb += entry["mb"]
    return files, round(mb, 2)


def comparable(path: Path) -> bytes:
    """A file's bytes; a manifest without ``code_version`` (the git commit, which moves when
    anyone commits between two runs of a benchmark)."""
    data = path.read_bytes()
    if path.name.startswith("manifest") and path.suffix == ".json":
        manifest = json.loads(data)
        manifest.pop("code_version", None)
        data = json.dumps(manifest, sort_keys=True).encode()
    return data


def file_digests(root: Path) -> dict[str, str]:
    """sha256 of every output file (the lock excepted), by path under ``root``."""
    return {
        str(path.relative_to(root)): hashlib.sha256(comparable(path)).hexdigest()[:16]
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != ".lmforge.lock"
    }


def differing(rows: dict[str, dict]) -> dict[str, list[str]]:
    """Per run, the output files whose bytes differ from the first run's."""
    first = next(iter(rows.values()))["files"]
    out = {}
    for name, row in rows.items():
        files = row["files"]
        out[name] = sorted(k for k in first.keys() | files.keys() if first.get(k) != files.get(k))
    return out


def run_prepare(files: list[Path], out: Path, config: Path, flags: list[str]) -> dict[str, Any]:
    """One prepare run in a subprocess: wall time, CPU and peak RSS of its process tree."""
    cmd = [sys.executable, "-m", "pipelines.prepare", *(f"--input={f}" for f in files)]
    cmd += [f"--output={out}", f"--config={config}", *flags]
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", RUSAGE, *cmd],
        cwd=ROOT,
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    usage = json.loads(proc.stdout.strip().splitlines()[-1])
    if usage["rc"] != 0:
        raise SystemExit(f"prepare {flags} failed:\n{proc.stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "flags": flags,
        "wall_s": round(wall, 1),
        "client_cpu_s": round(usage["cpu_s"], 1),
        "client_peak_rss_mb": round(usage["maxrss_mb"], 1),
        "kept": manifest["counts"]["kept"],
        "input_docs": manifest["counts"]["input"],
        "tokens": sum(s["num_tokens"] for s in manifest["shards"]),
        "files": file_digests(out),
    }


def _worker_usage() -> dict[str, float]:
    import resource

    import psutil

    cpu = psutil.Process().cpu_times()
    return {
        "cpu_s": cpu.user + cpu.system,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


SERIAL_SHARE = 0.9  # a step whose largest task did this share of its compute ran serially
SERIAL_MIN_S = 0.2  # ... and is worth naming


def step_of(key: Any) -> str:
    """The Beam step of a task key (``("Clean/Clean/ParDo(CleanChunkFn) run_dofn", run, i)``)."""
    name = key[0] if isinstance(key, (tuple, list)) else str(key)
    return name.rsplit(" ", 1)[0] if " " in name else "(dask internal)"


def task_breakdown(records: list[dict], names: dict[str, str]) -> dict[str, Any]:
    """Compute seconds per top-level stage and worker, and the steps one task did nearly alone.

    ``records``: the scheduler's task stream (``client.get_task_stream``); ``names``: worker
    address -> the name used in the results. Seconds are the tasks' wall time on a worker
    thread (with 1 thread per worker, the worker's busy time).
    """
    stages: dict[str, dict[str, float]] = {}
    steps: dict[str, list[float]] = {}
    for rec in records:
        worker = names.get(rec.get("worker"), str(rec.get("worker")))
        seconds = sum(ss["stop"] - ss["start"] for ss in rec["startstops"] if ss["action"] == "compute")
        step = step_of(rec["key"])
        stage = stages.setdefault(step.split("/")[0], {})
        stage[worker] = stage.get(worker, 0.0) + seconds
        steps.setdefault(step, []).append(seconds)
    serial = {
        step: round(sum(times), 2)
        for step, times in sorted(steps.items())
        if sum(times) >= SERIAL_MIN_S and max(times) >= SERIAL_SHARE * sum(times)
    }
    ordered = sorted(stages.items(), key=lambda kv: -sum(kv[1].values()))
    return {
        "task_compute_s": {
            stage: {w: round(v, 1) for w, v in sorted(per.items())}
            for stage, per in ordered
            if sum(per.values()) >= 0.05
        },
        "serial_steps_s": serial,
        "tasks": len(records),
    }


def run_on_cluster(files: list[Path], out: Path, config: Path, workers: int) -> dict[str, Any]:
    """prepare on a fresh LocalCluster of ``workers`` processes; adds the workers' and scheduler's usage."""
    import psutil
    from distributed import Client, LocalCluster

    os.environ.update(ENV)  # the workers inherit it
    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster, Client(cluster) as client:  # fmt: skip
        client.get_task_stream(count=0)  # starts the scheduler's task stream record
        before = client.run(_worker_usage)
        me = psutil.Process().cpu_times()
        started = time.time()
        row = run_prepare(
            files, out, config, ["--runner=DaskRunner", f"--dask_client_address={cluster.scheduler_address}"]
        )
        after = client.run(_worker_usage)
        mine = psutil.Process().cpu_times()
        records = client.get_task_stream(start=started - 1)
    names = {w: f"worker{i}" for i, w in enumerate(sorted(after))}
    per_worker = {names[w]: round(after[w]["cpu_s"] - before[w]["cpu_s"], 1) for w in sorted(after)}
    scheduler = (mine.user + mine.system) - (me.user + me.system)
    row.update(
        per_worker_cpu_s=per_worker,
        worker_balance=round(min(per_worker.values()) / max(max(per_worker.values()), 1e-9), 2),
        scheduler_cpu_s=round(scheduler, 1),
        cpu_s=round(row["client_cpu_s"] + sum(per_worker.values()) + scheduler, 1),
        peak_rss_mb=round(max([row["client_peak_rss_mb"], *(u["peak_rss_mb"] for u in after.values())]), 1),
        worker_peak_rss_mb={names[w]: round(after[w]["peak_rss_mb"], 1) for w in sorted(after)},
        **task_breakdown(records, names),
    )
    return row


def ratios(rows: dict[str, dict]) -> dict[str, float]:
    """Dask against the FnApiRunner with as many workers: wall and CPU, and Dask 2 workers against 1."""
    out: dict[str, float] = {}
    for dask, fn in (("dask_1_worker", "fn_threads_2"), ("dask_2_workers", "fn_processes_2")):
        if dask in rows and fn in rows:
            out[f"{dask}_over_{fn}_wall"] = round(rows[dask]["wall_s"] / rows[fn]["wall_s"], 2)
            out[f"{dask}_over_{fn}_cpu"] = round(rows[dask]["cpu_s"] / max(rows[fn]["cpu_s"], 1e-9), 2)
    if "dask_1_worker" in rows and "dask_2_workers" in rows:
        out["dask_2_over_1_wall"] = round(
            rows["dask_2_workers"]["wall_s"] / rows["dask_1_worker"]["wall_s"], 2
        )
    return out


def headline(result: dict) -> str:
    rows, r = result["runs"], result["ratios"]
    walls = ", ".join(f"{name} {row['wall_s']}s" for name, row in rows.items())
    two = rows.get("dask_2_workers", {})
    return (
        f"prepare on {result['input_mb']} MB of real text: {walls}; Dask/FnApiRunner wall "
        f"{r.get('dask_1_worker_over_fn_threads_2_wall')}× (1 worker vs threads), "
        f"{r.get('dask_2_workers_over_fn_processes_2_wall')}× (2 workers vs 2 processes); "
        f"2-worker CPU split {two.get('per_worker_cpu_s')} (balance {two.get('worker_balance')}), "
        f"serial steps {sum(two.get('serial_steps_s', {}).values()):.1f} s "
        f"({', '.join(two.get('serial_steps_s', {})) or 'none'}); "
        f"outputs identical: {result['identical_outputs']}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"about {QUICK_MB:g} MB of the corpus")
    ap.add_argument("--max-mb", type=float, default=1000.0, help="text MB of the corpus to use (whole files)")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    args = ap.parse_args(argv)
    if not (args.corpus / "manifest.json").exists():
        raise SystemExit(f"{args.corpus}/manifest.json missing: run `make bench-data` first")
    files, mb = pick_inputs(args.corpus, QUICK_MB if args.quick else args.max_mb)
    result: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "load_avg_at_start": round(os.getloadavg()[0], 2),
        "input_mb": mb,
        "input_files": [f.name for f in files],
        "config": CONFIG,
        "runs": {},
    }
    runs = result["runs"]
    with tempfile.TemporaryDirectory(prefix="lmforge-bench-dask-") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(CONFIG)
        plan = [
            ("fn_threads_2", ["--direct_running_mode=multi_threading", "--direct_num_workers=2"], 0),
            ("fn_processes_2", ["--direct_running_mode=multi_processing", "--direct_num_workers=2"], 0),
            ("dask_1_worker", None, 1),
            ("dask_2_workers", None, 2),
        ]
        for name, flags, workers in plan:
            out = Path(tmp) / name
            load = round(os.getloadavg()[0], 2)
            if workers:
                row = run_on_cluster(files, out, config, workers)
            else:
                row = run_prepare(files, out, config, flags)
                row.update(cpu_s=row["client_cpu_s"], peak_rss_mb=row["client_peak_rss_mb"])
            row.update(load_avg_before=load, load_avg_after=round(os.getloadavg()[0], 2))
            runs[name] = row
            print(name, json.dumps({k: v for k, v in row.items() if k != "files"}), flush=True)
            shutil.rmtree(out, ignore_errors=True)
    result["differing_files"] = differing(runs)
    result["identical_outputs"] = not any(result["differing_files"].values())
    result["output_files"] = len(next(iter(runs.values()))["files"])
    for row in runs.values():
        row.pop("files")
    result["ratios"] = ratios(runs)
    result["load_avg_at_end"] = round(os.getloadavg()[0], 2)
    result["headline"] = headline(result)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(result["headline"])
    print(f"wrote {RESULTS}")
    return 0 if result["identical_outputs"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

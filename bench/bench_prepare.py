"""End-to-end ``pipelines.prepare`` throughput and peak memory: the sample, a generated corpus,
and the real-text corpus.

The generated corpus is built from the sample's English and Chinese documents with 15 % of
the words (characters for Chinese) replaced at random (seeded), so that documents and
their lines are unique (as in a real crawl), while about 5 % are exact copies and 5 %
near copies. Written to a temporary
directory, never committed.

Real text (``make bench-data``; skipped with a message when missing): every file of
``bench/data/realtext/`` through ``python -m pipelines.prepare`` with the default config
on the default runner (FnApiRunner), wall and CPU seconds (user + system of the
subprocess); then, for the time per stage, the same input through the stages one by one
(``pipelines.clean`` -> ``pipelines.dedup`` -> ``pipelines.tokenize``, each a subprocess
reading the previous one's documents), since the fused pipeline has no per-stage clock.
MB are the UTF-8 bytes of the documents as read (raw HTML for pages).

    python -m bench.bench_prepare [--quick] [--size-mb 100] [--only sample,generated,real] [--no-stages]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "raw"
RESULTS = ROOT / "bench" / "results" / "prepare.json"


def sample_documents() -> list[str]:
    docs: list[str] = []
    for name in ("kjv-old-testament", "kjv-new-testament", "fortunes-zh"):
        with gzip.open(SAMPLE / "jsonl" / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            docs += [json.loads(line)["text"] for line in f]
    return docs


def mutate(text: str, rng: random.Random, rate: float) -> str:
    """Replace about ``rate`` of the words (English) or characters (Chinese) so every line is new."""
    if sum(1 for c in text[:200] if "\u4e00" <= c <= "\u9fff") > 20:
        pool = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年"
        return "".join(
            rng.choice(pool) if "\u4e00" <= c <= "\u9fff" and rng.random() < rate else c for c in text
        )
    vocab = ["lord", "people", "house", "city", "land", "king", "water", "day", "word", "heart", "man", "son"]
    return " ".join(rng.choice(vocab) if rng.random() < rate else w for w in text.split(" "))


def generate(directory: Path, size_mb: float, seed: int = 0) -> int:
    """JSONL.gz files of mutated sample documents (15 % of words replaced), 5 % exact and 5 % near copies."""
    rng = random.Random(seed)
    source = sample_documents()
    directory.mkdir(parents=True, exist_ok=True)
    written, docs = 0, []
    while written < size_mb * 1e6:
        r = rng.random()
        if docs and r < 0.05:
            text = rng.choice(docs[-1000:])  # exact copy
        elif docs and r < 0.10:
            text = mutate(rng.choice(docs[-1000:]), rng, 0.01)  # near copy
        else:
            text = mutate(rng.choice(source), rng, 0.15)
        docs.append(text)
        written += len(text.encode("utf-8"))
    per_file = 20000
    for i in range(0, len(docs), per_file):
        with gzip.open(
            directory / f"gen-{i // per_file:04d}.jsonl.gz", "wt", encoding="utf-8", compresslevel=1
        ) as f:
            for j, text in enumerate(docs[i : i + per_file], start=i):
                f.write(json.dumps({"id": f"gen/{j:08d}", "text": text}, ensure_ascii=False) + "\n")
    return written


def text_bytes_of_sample() -> int:
    total = 0
    for path in SAMPLE.rglob("*"):
        if path.is_file():
            opener = gzip.open if path.suffix == ".gz" and "warc" not in path.name else open
            with opener(path, "rb") as f:
                total += len(f.read())
    return total


def run_prepare(inputs: Path, out: Path, config: Path | None, text_bytes: int, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "pipelines.prepare", f"--input={inputs}", f"--output={out}", *extra]
    if config:
        cmd.append(f"--config={config}")
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"prepare failed:\n{proc.stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "input_text_mb": round(text_bytes / 1e6, 2),
        "flags": extra,
        "wall_s": round(wall, 1),
        "mb_per_s": round(text_bytes / 1e6 / wall, 3),
        "counts": manifest["counts"],
        "tokens": sum(s["num_tokens"] for s in manifest["shards"]),
        "peak_rss_mb_children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


REAL_QUICK_DOCS = 40  # --quick: the first documents of each real-text source
PREPARE_GOAL = "reported (issue #21: end-to-end MB/s on >= 100 MB of real text)"


def timed(cmd: list[str]) -> tuple[float, float]:
    """Run a pipeline subprocess (one BLAS thread, as ``run_prepare``); (wall, CPU seconds)."""
    from bench.bench_clean_real import children_cpu_s

    cpu0, start = children_cpu_s(), time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:4])} failed:\n{proc.stderr[-3000:]}")
    return wall, children_cpu_s() - cpu0


def real_prepare(corpus: Path, tmp: Path, quick: bool, stages: bool) -> dict | None:
    """Section ``real``: prepare end to end on the real corpus, then stage by stage."""
    from bench.bench_clean_real import quick_copy, read_inputs, realtext_manifest
    from bench.realtext.build_corpus import shown

    manifest = realtext_manifest(corpus, "prepare real text")
    if manifest is None:
        return None
    shown_corpus = shown(corpus)
    if quick:
        quick_copy(corpus, manifest, tmp / "corpus", REAL_QUICK_DOCS)
        corpus = tmp / "corpus"
    files = [str(corpus / e["file"]) for e in manifest["sources"].values()]
    text_mb = (
        sum(
            len((d["html"] or d["text"]).encode())
            for docs in read_inputs(corpus, manifest).values()
            for d in docs.values()
        )
        / 1e6
    )
    py = [sys.executable, "-m"]
    inputs = [f"--input={f}" for f in files]
    load = os.getloadavg()[0]
    wall, cpu = timed([*py, "pipelines.prepare", *inputs, f"--output={tmp / 'prep'}"])
    manifest_out = json.loads((tmp / "prep" / "manifest.json").read_text())
    res: dict = {
        "corpus": shown_corpus,
        "mode": "quick" if quick else "full",
        "input_text_mb": round(text_mb, 2),
        "runner": "FnApiRunner (default)",
        "config": "default",
        "wall_s": round(wall, 1),
        "mb_per_s": round(text_mb / wall, 3),
        "cpu_s": round(cpu, 1),
        "mb_per_cpu_s": round(text_mb / cpu, 3),
        "counts": manifest_out["counts"],
        "tokens": sum(s["num_tokens"] for s in manifest_out["shards"]),
        "load_avg_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
        "goal": PREPARE_GOAL,
        "command": "python -m bench.bench_prepare --only real" + (" --quick" if quick else ""),
    }
    print("real:", json.dumps(res), flush=True)
    if stages:
        steps = {
            "clean": [*py, "pipelines.clean", *inputs, f"--output={tmp / 'clean'}"],
            "dedup": [
                *py,
                "pipelines.dedup",
                f"--input={tmp / 'clean' / 'documents' / '*.parquet'}",
                f"--output={tmp / 'dedup'}",
            ],
            "tokenize": [
                *py,
                "pipelines.tokenize",
                f"--input={tmp / 'dedup' / 'documents' / '*.parquet'}",
                f"--output={tmp / 'tok'}",
            ],
        }
        per: dict = {}
        for name, cmd in steps.items():
            w, c = timed(cmd)
            per[name] = {"wall_s": round(w, 1), "cpu_s": round(c, 1), "input_mb_per_s": round(text_mb / w, 3)}
        per["sum_wall_s"] = round(sum(v["wall_s"] for v in per.values()), 1)
        per["note"] = (
            "each stage alone as a subprocess, the next reading its documents; input_mb_per_s is "
            "the corpus' MB over the stage's seconds, so the stages compare with prepare's MB/s"
        )
        res["stages_one_by_one"] = per
        print("real stages:", json.dumps(per), flush=True)
    return res


def main(argv: list[str] | None = None) -> int:
    from bench.realtext.build_corpus import DEFAULT_OUT

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the sample, and a few real documents per source")
    ap.add_argument("--size-mb", type=float, default=100.0)
    ap.add_argument("--only", default="sample,generated,real", help="comma-separated sections")
    ap.add_argument("--no-stages", action="store_true", help="real text: skip the stage-by-stage runs")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_OUT, help="the real-text corpus (make bench-data)")
    args = ap.parse_args(argv)
    sections = set(args.only.split(","))
    results: dict = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}  # sections not run stay
    results["cpu_count"] = os.cpu_count()
    load_at_start = os.getloadavg()[0]  # of the sample and generated runs (real text records its own)
    with tempfile.TemporaryDirectory(prefix="lmforge-bench-prepare-") as tmp:
        tmp_path = Path(tmp)
        if "sample" in sections:
            results["sample"] = run_prepare(SAMPLE, tmp_path / "sample", None, text_bytes_of_sample(), [])
            print("sample:", json.dumps(results["sample"]), flush=True)
        if "real" in sections:
            (tmp_path / "real").mkdir()
            real = real_prepare(args.corpus.resolve(), tmp_path / "real", args.quick, not args.no_stages)
            if real is not None:
                results["real"] = real
        if not args.quick and "generated" in sections:
            gen = tmp_path / "gen"
            size = generate(gen, args.size_mb)
            config = tmp_path / "config.yaml"
            config.write_text("tokenize:\n  sample_fraction: 0.05\n")
            flags = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
            results["generated"] = run_prepare(gen, tmp_path / "gen-out", config, size, flags)
            print("generated:", json.dumps(results["generated"]), flush=True)
    if sections & {"sample", "generated"}:
        results["load_avg_at_start"], results["load_avg_at_end"] = load_at_start, os.getloadavg()[0]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

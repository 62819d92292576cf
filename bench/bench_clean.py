"""Benchmark of read + clean: docs/s, MB/s, time per step, peak memory; HTML extractors compared.

    .venv/bin/python -m bench.bench_clean [--quick] [--size-mb 100]

Writes ``bench/results/clean.json`` and prints a summary. Parts:

* ``sample``: the bundled sample (non-HTML documents), read with ``FileReader`` and cleaned
  with ``Cleaner``, timing every step in thread CPU seconds (so other processes on the
  machine inflate the wall clock but not the per-step figures).
* ``html``: resiliparse vs trafilatura on the sample's HTML files and WARC pages: pages/s,
  recall of the article paragraphs and how often navigation/cookie/footer text leaks.
* ``stream``: a generated JSONL.gz corpus (sample text repeated with new ids, deterministic,
  in a temporary directory) of ``size_mb/4`` and ``size_mb`` MB, read + cleaned chunk by chunk
  in a fresh subprocess each: MB/s and peak RSS, to show memory does not grow with input.
* ``beam``: ``python -m pipelines.clean`` (in-process FnApiRunner, one core) on the smaller
  generated corpus, end to end including the Parquet writer.

MB are megabytes (10^6) of UTF-8 document text.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import html as htmllib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "sample" / "raw"
RESULTS = ROOT / "bench" / "results" / "clean.json"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sample_docs() -> tuple[list[dict], list[dict]]:
    """(plain documents, HTML documents) of the sample, and the read time per MB."""
    from pipelines.io.config import ReadConfig
    from pipelines.io.file_reader import FileReader

    reader = FileReader(ReadConfig())
    plain, pages = [], []
    for path in sorted(glob.glob(str(RAW / "**" / "*.*"), recursive=True)):
        for item in reader.read(path):
            if "text" in item:
                (pages if item["meta"].get("content_type") == "text/html" else plain).append(item)
    return plain, pages


def mb(docs: list[dict]) -> float:
    return sum(len(d["text"].encode("utf-8")) for d in docs) / 1e6


# -- sample: per step --------------------------------------------------------------------------------
def bench_sample() -> dict:
    from pipelines.clean import CleanConfig, Cleaner
    from pipelines.clean.langid import identifier

    identifier()
    start = time.thread_time()
    plain, pages = sample_docs()
    read_s = time.thread_time() - start
    timings: Counter = Counter()
    cleaner = Cleaner(CleanConfig(), timings)
    wall, cpu = time.perf_counter(), time.thread_time()
    outcome = Counter("kept" if out else "dropped" for out, _ in (cleaner.clean(d) for d in plain))
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    size = mb(plain)
    return {
        "docs": len(plain),
        "mb": round(size, 3),
        "kept": outcome["kept"],
        "dropped": outcome["dropped"],
        "read_cpu_s": round(read_s, 3),
        "clean_wall_s": round(wall, 3),
        "clean_cpu_s": round(cpu, 3),
        "docs_per_s": round(len(plain) / cpu, 1),
        "mb_per_cpu_s": round(size / cpu, 3),
        "mb_per_wall_s": round(size / wall, 3),
        "step_cpu_s": {k: round(v, 3) for k, v in timings.most_common()},
        "html_pages": len(pages),
    }


# -- HTML extractors ------------------------------------------------------------------------------------
PARA = re.compile(r"<article>.*?</article>", re.S)
P_TAG = re.compile(r"<p>(.*?)</p>", re.S)
BOILERPLATE = re.compile(r"<(nav|footer)[^>]*>(.*?)</\1>|<div class=\"cookie-banner\">(.*?)</div>", re.S)


def page_truth(page: str) -> tuple[list[str], list[str]]:
    """(article paragraphs, boilerplate strings) of a sample page, from its markup."""
    article = PARA.search(page)
    paras = (
        [htmllib.unescape(re.sub(r"<[^>]+>", "", p)).strip() for p in P_TAG.findall(article.group(0))]
        if article
        else []
    )
    junk = [htmllib.unescape(re.sub(r"<[^>]+>", "", "".join(m))).strip() for m in BOILERPLATE.findall(page)]
    junk += ["tracking", "font-family"]  # script and style contents
    return [p for p in paras if p], [j for j in junk if j]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def bench_html(pages: list[dict]) -> dict:
    from pipelines.clean.html import extract_text

    results = {}
    for extractor in ("resiliparse", "trafilatura"):
        extract_text(pages[0]["text"], extractor)  # warm up imports
        found = total = leaks = 0
        start = time.perf_counter()
        outputs = [extract_text(p["text"], extractor) for p in pages]
        elapsed = time.perf_counter() - start
        for page, out in zip(pages, outputs, strict=True):
            paras, junk = page_truth(page["text"])
            flat = squash(out)
            total += len(paras)
            found += sum(squash(p) in flat for p in paras)
            leaks += any(squash(j) in flat for j in junk)
        results[extractor] = {
            "pages": len(pages),
            "pages_per_s": round(len(pages) / elapsed, 1),
            "paragraph_recall": round(found / max(total, 1), 4),
            "pages_with_boilerplate": leaks,
        }
    return results


# -- generated corpus, streaming ----------------------------------------------------------------------------
def generate_corpus(directory: Path, size_mb: float, file_mb: float = 16.0) -> tuple[int, float]:
    """JSONL.gz files of sample text with new ids until ``size_mb`` MB of text; deterministic."""
    plain, _ = sample_docs()
    directory.mkdir(parents=True, exist_ok=True)
    written = n = file_index = 0
    round_ = 0
    while written < size_mb * 1e6:
        with gzip.open(
            directory / f"gen-{file_index:04d}.jsonl.gz", "wt", encoding="utf-8", compresslevel=1
        ) as out:
            file_bytes = 0
            while file_bytes < file_mb * 1e6 and written < size_mb * 1e6:
                d = plain[n % len(plain)]
                round_ = n // len(plain)
                record = {"id": f"gen{round_}/{d['id']}", "text": d["text"], "url": d["url"]}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                size = len(d["text"].encode("utf-8"))
                written, file_bytes, n = written + size, file_bytes + size, n + 1
        file_index += 1
    return n, written / 1e6


def stream_child(directory: str) -> dict:
    """Read + clean every file chunk by chunk (what one Beam worker does), no writer."""
    from pipelines.clean import CleanConfig, Cleaner, clean_chunk
    from pipelines.clean.langid import identifier
    from pipelines.io.config import ReadConfig
    from pipelines.io.file_reader import FileReader

    identifier()
    base_rss = peak_rss_mb()
    config = ReadConfig()
    reader, cleaner = FileReader(config), Cleaner(CleanConfig())
    docs = kept = 0
    size = 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    for path in sorted(glob.glob(os.path.join(directory, "*.jsonl.gz"))):
        chunk: list[dict] = []
        for item in reader.read(path):
            if "text" not in item:
                continue
            chunk.append(item)
            if len(chunk) >= config.chunk_docs:
                docs, size = docs + len(chunk), size + mb(chunk)
                kept += len(clean_chunk(chunk, cleaner)[0])
                chunk = []
        if chunk:
            docs, size = docs + len(chunk), size + mb(chunk)
            kept += len(clean_chunk(chunk, cleaner)[0])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "docs": docs,
        "kept": kept,
        "mb": round(size, 2),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "docs_per_cpu_s": round(docs / cpu, 1),
        "mb_per_cpu_s": round(size / cpu, 3),
        "mb_per_wall_s": round(size / wall, 3),
        "rss_after_setup_mb": round(base_rss, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def run_child(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_clean", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def beam_child(directory: str, output: str) -> dict:
    from pipelines.clean.__main__ import main

    wall, cpu = time.perf_counter(), time.process_time()
    rc = main([f"--input={directory}", f"--output={output}"])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = json.loads(Path(output, "stats.json").read_text())
    return {"rc": rc, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": round(peak_rss_mb(), 1),
            "input": stats["counts"]["input"], "kept": stats["counts"]["kept"], "balanced": stats["balanced"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small corpus (< 1 min)")
    parser.add_argument(
        "--size-mb", type=float, default=None, help="generated corpus size (default 100; quick 6)"
    )
    parser.add_argument("--stream-child", help=argparse.SUPPRESS)
    parser.add_argument("--beam-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stream_child:
        print(json.dumps(stream_child(args.stream_child)))
        return
    if args.beam_child:
        print(json.dumps(beam_child(*args.beam_child)))
        return

    size = args.size_mb or (6.0 if args.quick else 100.0)
    results: dict = {"quick": args.quick, "cpu_count": os.cpu_count(), "load_avg_at_start": os.getloadavg()}
    results["sample"] = bench_sample()
    results["html"] = bench_html(sample_docs()[1])
    with tempfile.TemporaryDirectory(prefix="bench-clean-") as tmp:
        results["stream"] = {}
        for label, target in (("quarter", size / 4), ("full", size)):
            corpus = Path(tmp) / label
            n, actual = generate_corpus(corpus, target)
            results["stream"][label] = {
                "generated_docs": n,
                "generated_mb": round(actual, 2),
                **run_child(["--stream-child", str(corpus)]),
            }
        try:
            results["beam"] = run_child(["--beam-child", str(Path(tmp) / "quarter"), str(Path(tmp) / "out")])
            results["beam"]["mb"] = results["stream"]["quarter"]["mb"]
            results["beam"]["mb_per_wall_s"] = round(results["beam"]["mb"] / results["beam"]["wall_s"], 3)
        except subprocess.CalledProcessError as exc:  # report, but keep the other figures
            results["beam"] = {"error": exc.stderr.strip().splitlines()[-1] if exc.stderr else str(exc)}
    results["load_avg_at_end"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_summary(results)


def print_summary(r: dict) -> None:
    s = r["sample"]
    print(f"sample: {s['docs']} docs, {s['mb']} MB -> {s['docs_per_s']} docs/s, {s['mb_per_cpu_s']} MB/CPU-s "
          f"({s['mb_per_wall_s']} MB/wall-s); kept {s['kept']}, dropped {s['dropped']}")  # fmt: skip
    total = sum(s["step_cpu_s"].values())
    for step, sec in s["step_cpu_s"].items():
        print(f"  {step:<18} {sec:7.2f} s  {100 * sec / total:5.1f} %")
    for name, h in r["html"].items():
        print(f"html {name:<12} {h['pages_per_s']:8.1f} pages/s  recall {h['paragraph_recall']:.3f}  "
              f"boilerplate on {h['pages_with_boilerplate']}/{h['pages']} pages")  # fmt: skip
    for label, x in r["stream"].items():
        print(f"stream {label:<8} {x['mb']:7.1f} MB {x['docs']:7d} docs: {x['mb_per_cpu_s']} MB/CPU-s, "
              f"{x['docs_per_cpu_s']} docs/CPU-s, peak RSS {x['peak_rss_mb']} MB")  # fmt: skip
    b = r["beam"]
    if "error" in b:
        print(f"beam run failed: {b['error']}")
    else:
        print(
            f"beam (FnApiRunner, 1 core, with writer) {b['mb']} MB: {b['mb_per_wall_s']} MB/s wall, peak RSS {b['peak_rss_mb']} MB"
        )
    print(f"load average {r['load_avg_at_start']} -> {r['load_avg_at_end']} (other processes share the CPU)")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()

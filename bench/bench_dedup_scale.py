"""Scale of the dedup stage: generated ~1 KB documents, and the real-text corpus, deduplicated
end to end inside Beam.

    .venv/bin/python -m bench.bench_dedup_scale [--quick] [--docs 100000 1000000] [--runner fnapi|mp2|mt2]
        [--no-real] [--only-real] [--corpus bench/data/realtext]

First (untimed) the corpus is generated with numpy and written as document Parquet files,
the format the clean stage hands to dedup: 8% of the documents are near duplicates (a
few words changed) and 4% exact copies of earlier documents. Then the real
``python -m pipelines.dedup --input=... --output=...`` runs in this process (read Parquet
-> boilerplate, exact, fuzzy with exact verification -> write documents, dedup index,
stats.json), and is timed end to end.

Runners: ``fnapi`` = Beam's in-process FnApiRunner (one SDK worker; dedup's own thread
pool uses the second core); ``mp2`` = ``--direct_running_mode=multi_processing
--direct_num_workers=2``; ``mt2`` = the multi-threading mode with 2 workers. Peak memory
is the largest sum of RSS over this process and its children, sampled every 0.2 s.

Real text (``real-<runner>`` in the results; skipped with a message when ``make bench-data``
has not built ``bench/data/realtext/``): every document of the corpus as the clean stage
would hand it over (HTML pages as extracted text), written to document Parquet files
(untimed), then the same ``pipelines.dedup`` run, and side by side in the same run the
reference, plain datasketch ``MinHashLSH(threshold=0.8, num_perm=128)`` over word/char
5-grams without verification (``bench_dedup_quality.run_minhashlsh``; single-threaded, as
datasketch is). Generated text is short, unique and uniform; real text is long, repetitive
and shares boilerplate, which is where candidate verification costs.
Results go to ``bench/results/dedup_scale.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import threading
import time
from pathlib import Path

import apache_beam as beam
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "dedup_scale.json"
CHUNK = 1000
WORDS_PER_DOC = 170  # ~1 KB of text


def _vocab() -> list[str]:
    rng = np.random.default_rng(12345)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, rng.integers(2, 9))) for _ in range(VOCAB)]


VOCAB = 20000


def base_ids(docs: np.ndarray) -> np.ndarray:
    """(len(docs), WORDS_PER_DOC) word ids of original documents: a stable hash of (doc, position)
    mapped through u^3, so a few words are frequent (Zipf-like) and most are rare."""
    x = docs.astype(np.uint64)[:, None] * np.uint64(WORDS_PER_DOC) + np.arange(WORDS_PER_DOC, dtype=np.uint64)
    x = (x + np.uint64(0x9E3779B97F4A7C15)) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(31))) * np.uint64(0x94D049BB133111EB)
    u = ((x ^ (x >> np.uint64(29))) >> np.uint64(11)).astype(np.float64) / 2.0**53
    return (VOCAB * u**3).astype(np.int64)


class GenerateFn(beam.DoFn):
    """Chunk number -> (chunk key, ~1 KB documents): originals, near duplicates, exact copies.

    Document i is a near duplicate (3 words changed) of an earlier original when
    i % 25 < 2, an exact copy of one when i % 25 == 2 (after the first 100), else original.
    """

    def setup(self) -> None:
        self.vocab = _vocab()

    def process(self, chunk: int):
        idx = np.arange(chunk * CHUNK, (chunk + 1) * CHUNK)
        kind = np.where(idx >= 100, idx % 25, 99)
        source = idx.copy()
        copy = kind <= 2
        # the source is an earlier *original* document (kind >= 3)
        back = 3 + (idx % 7) * 25
        source[copy] = idx[copy] - back[copy] - kind[copy]
        ids = base_ids(source)
        near = np.flatnonzero(kind < 2)
        pos = (idx[near, None] * 7 + np.arange(3)) % WORDS_PER_DOC
        ids[near[:, None], pos] = (idx[near, None] * 31 + np.arange(3)) % VOCAB
        vocab = self.vocab
        docs = []
        for i, row in zip(idx.tolist(), ids.tolist(), strict=True):
            words = [vocab[w] for w in row]
            text = " ".join(words[:85]) + ".\n" + " ".join(words[85:]) + "."
            docs.append({"id": f"doc-{i:08d}", "text": text, "lang": "en", "source": "bench", "meta": {}})
        yield f"gen-{chunk:06d}", docs


class PeakMemory:
    """Largest RSS sum of this process and its children while the block runs, and their CPU time
    (comparable across runs on a machine loaded by others, unlike wall time)."""

    def __enter__(self) -> PeakMemory:
        self.peak, self._stop = 0, threading.Event()
        self._cpu: dict[int, float] = {}  # CPU time of children (worker processes)
        t = psutil.Process().cpu_times()
        self._own_start = t.user + t.system
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
                    if proc.pid != me.pid:  # children start at 0; our own is taken at the ends
                        t = proc.cpu_times()
                        self._cpu[proc.pid] = t.user + t.system
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        t = psutil.Process().cpu_times()
        self.cpu_seconds = t.user + t.system - self._own_start + sum(self._cpu.values())


RUNNER_FLAGS = {
    "fnapi": [],
    "mp2": ["--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    "mt2": ["--runner=DirectRunner", "--direct_running_mode=multi_threading", "--direct_num_workers=2"],
}
FILE_CHUNKS = 50  # chunks of 1000 documents per input Parquet file


def write_input(n_docs: int, directory: Path) -> float:
    """Generate the corpus into ``directory/part-*.parquet``; returns MB of text."""
    from pipelines.io.documents import documents_to_parquet_bytes

    fn = GenerateFn()
    fn.setup()
    n_chunks = n_docs // CHUNK
    total = 0
    for f, first in enumerate(range(0, n_chunks, FILE_CHUNKS)):
        docs = [d for c in range(first, min(first + FILE_CHUNKS, n_chunks)) for d in next(fn.process(c))[1]]
        total += sum(len(d["text"].encode("utf-8")) for d in docs)
        (directory / f"part-{f:05d}.parquet").write_bytes(documents_to_parquet_bytes(docs))
    return total / 1e6


def run_once(input_dir: Path, runner: str) -> dict:
    """``python -m pipelines.dedup`` on the input, in this process; wall, CPU, memory, stats."""
    from pipelines.dedup.__main__ import main as dedup_main

    with tempfile.TemporaryDirectory() as tmp, PeakMemory() as mem:
        started = time.perf_counter()
        rc = dedup_main([f"--input={input_dir}/*.parquet", f"--output={tmp}/out", *RUNNER_FLAGS[runner]])
        seconds = time.perf_counter() - started
        stats = json.loads((Path(tmp) / "out" / "stats.json").read_text())
    if rc:
        raise RuntimeError(f"pipelines.dedup exited {rc}")
    return {
        "seconds": round(seconds, 1),
        "cpu_s": round(mem.cpu_seconds, 1),
        "peak_rss_gb": round(mem.peak / 2**30, 2),
        "stats": stats,
    }


REAL_QUICK_EVERY = 10  # --quick: every 10th document of the real corpus
REAL_GOAL_MB_S = 8.0  # issue #21: dedup >= 8 MB/s (wall) on 2 cores


def real_documents(corpus: Path, every: int = 1) -> list[dict] | None:
    """The real corpus as dedup's input documents (HTML as extracted text, empty ones left
    out), or None (with a message) when it has not been built."""
    from bench.bench_clean_real import read_inputs, realtext_manifest

    manifest = realtext_manifest(corpus, "dedup_scale real text")
    if manifest is None:
        return None
    docs = []
    for name, by_id in read_inputs(corpus, manifest).items():
        lang = manifest["sources"][name]["lang"]
        for doc_id, d in by_id.items():
            if d["text"].strip():
                docs.append({"id": doc_id, "text": d["text"], "lang": lang if lang in ("en", "zh") else None})
    docs.sort(key=lambda d: d["id"])
    return docs[::every]


def write_real_input(docs: list[dict], directory: Path, per_file: int = 1000) -> float:
    """Document Parquet files (the clean stage's output format); returns MB of text."""
    from pipelines.io.documents import documents_to_parquet_bytes

    for f, first in enumerate(range(0, len(docs), per_file)):
        part = [
            {"id": d["id"], "text": d["text"], "lang": d["lang"], "source": d["id"].split("/")[0], "meta": {}}
            for d in docs[first : first + per_file]
        ]
        (directory / f"part-{f:05d}.parquet").write_bytes(documents_to_parquet_bytes(part))
    return sum(len(d["text"].encode("utf-8")) for d in docs) / 1e6


def run_reference(docs: list[dict]) -> dict:
    """datasketch MinHashLSH on the same documents: wall and CPU seconds, documents removed."""
    from bench.bench_dedup_quality import run_minhashlsh

    cpu0 = time.process_time()
    out = run_minhashlsh([{"id": d["id"], "text": d["text"], "lang": d["lang"] or "en"} for d in docs])
    return {
        "seconds": round(out.seconds, 1),
        "cpu_s": round(time.process_time() - cpu0, 1),
        "removed": len(out.removed),
    }


def real_rows(corpus: Path, runners: list[str], quick: bool) -> dict[str, dict]:
    """``real-<runner>`` rows: ours and the reference on the real corpus, in one run."""
    docs = real_documents(corpus, REAL_QUICK_EVERY if quick else 1)
    if docs is None:
        return {}
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="lmforge-dedup-real-") as d:
        mb = write_real_input(docs, Path(d))
        load_before = round(psutil.getloadavg()[0], 2)
        ref = run_reference(docs)
        for runner in runners:
            res = run_once(Path(d), runner)
            counts = res["stats"]["counts"]
            ours = mb / res["seconds"]
            theirs = mb / ref["seconds"]
            rows[f"real-{runner}"] = {
                "corpus": str(corpus.relative_to(ROOT)) if corpus.is_relative_to(ROOT) else str(corpus),
                "mode": "quick" if quick else "full",
                "docs": len(docs),
                "text_mb": round(mb, 1),
                "runner": runner,
                "wall_s": res["seconds"],
                "mb_per_s": round(ours, 2),
                "cpu_s": res["cpu_s"],
                "mb_per_cpu_s": round(mb / res["cpu_s"], 2),
                "peak_rss_gb": res["peak_rss_gb"],
                "kept": counts["kept"],
                "duplicates": counts["duplicates"],
                "balanced": res["stats"]["balanced"],
                "reference": {
                    "tool": "datasketch MinHashLSH(threshold=0.8, num_perm=128), word/char 5-grams, no verification",
                    "wall_s": ref["seconds"],
                    "cpu_s": ref["cpu_s"],
                    "mb_per_s": round(theirs, 2),
                    "removed": ref["removed"],
                },
                "ratio_vs_reference": round(ours / theirs, 3),
                "goal": f">= {REAL_GOAL_MB_S} MB/s on 2 cores",
                "goal_met": ours >= REAL_GOAL_MB_S,
                "cpu_load_1min_before": load_before,
                "cpu_load_1min_after": round(psutil.getloadavg()[0], 2),
                "command": f"python -m bench.bench_dedup_scale --only-real --runner {' '.join(runners)}"
                + (" --quick" if quick else ""),
            }
            print(json.dumps(rows[f"real-{runner}"]))
    return rows


def main(argv: list[str] | None = None) -> None:
    from bench.realtext.build_corpus import DEFAULT_OUT

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20k documents only (< 1 min)")
    ap.add_argument("--docs", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--runner", choices=["fnapi", "mp2", "mt2"], nargs="+", default=["fnapi"])
    ap.add_argument("--no-real", action="store_true", help="skip the real-text corpus")
    ap.add_argument("--only-real", action="store_true", help="the real-text corpus only")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_OUT, help="the real-text corpus (make bench-data)")
    args = ap.parse_args(argv)
    sizes = [] if args.only_real else [20_000] if args.quick else args.docs
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}  # runs keyed by runner-docs
    results.setdefault("runs", {})
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="lmforge-dedup-bench-") as d:
            t0 = time.perf_counter()
            mb = write_input(n, Path(d))
            prep = time.perf_counter() - t0
            for runner in args.runner:
                res = run_once(Path(d), runner)
                counts = res["stats"]["counts"]
                row = {
                    "docs": n,
                    "text_mb": round(mb, 1),
                    "runner": runner,
                    "wall_s": res["seconds"],
                    "mb_per_s": round(mb / res["seconds"], 2),
                    "cpu_s": res["cpu_s"],
                    "mb_per_cpu_s": round(mb / res["cpu_s"], 2),
                    "peak_rss_gb": res["peak_rss_gb"],
                    "input_written_s (untimed)": round(prep, 1),
                    "kept": counts["kept"],
                    "duplicates": counts["duplicates"],
                    "balanced": res["stats"]["balanced"],
                    "cpu_load_1min_after": round(psutil.getloadavg()[0], 1),
                }
                results["runs"][f"{runner}-{n}"] = row
                print(json.dumps(row))
    if not args.no_real:
        results["runs"].update(real_rows(args.corpus.resolve(), args.runner, args.quick))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()

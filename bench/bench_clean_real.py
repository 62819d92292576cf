"""What the clean stage keeps of real documentation, per source and preset.

    .venv/bin/python -m bench.bench_clean_real [--quick] [--corpus bench/data/realtext]

Why: on generated data the clean stage kept everything it should; on real text C4's
line rule gutted hard-wrapped prose and most documentation went to ``c4_curly_bracket``
and ``c4_too_few_sentences``. This runs the real stage, ``python -m pipelines.clean
--keep-dropped``, over every source of the real-text corpus (``make bench-data``), once
per preset (``clean: {preset: web}`` and ``clean: {preset: docs}`` in a ``--config``
YAML; while ``CleanConfig`` has no ``preset`` field the default config runs instead and
the presets are recorded as unavailable).

Per source and preset: documents in, kept %, the top drop reasons, and how much of each
kept document survives, matched by id: byte retention ``len(out)/len(in)`` in UTF-8 bytes
(median, 10th percentile) and content retention (the same on non-whitespace characters,
so that collapsed indentation does not count as loss). For HTML sources ``in`` is the text
the stage's extractor gives (raw-HTML retention is reported separately). Also the 5 kept
documents per source that lost the largest share. Results: ``bench/results/clean_real.json``;
a few input/output documents per source go to ``bench/results/tmp/clean_real_samples/``
(gitignored) for reading.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.realtext.build_corpus import DEFAULT_OUT, code_version, load_manifest, shown

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "clean_real.json"
SAMPLES = ROOT / "bench" / "results" / "tmp" / "clean_real_samples"
PRESETS = ("web", "docs")
QUICK_DOCS = 40  # per source with --quick


CPU_GOAL_MB = 2.0  # issue #21: clean >= 2 MB of input per CPU-second, per preset


def realtext_manifest(corpus: Path, what: str) -> dict | None:
    """The corpus manifest, or None after saying how to build it: benchmarks with a
    real-text section skip it rather than fail when the corpus is missing."""
    if not (corpus / "manifest.json").exists():
        print(f"{what}: skipped, {shown(corpus)}/manifest.json is missing; run `make bench-data` to build it")
        return None
    return load_manifest(corpus)


def children_cpu_s() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def preset_available() -> bool:
    """Whether ``CleanConfig`` has the ``preset`` field (being added to pipelines/clean/config.py)."""
    from pipelines.clean.config import CleanConfig

    return "preset" in {f.name for f in dataclasses.fields(CleanConfig)}


def read_inputs(corpus: Path, manifest: dict) -> dict[str, dict[str, dict]]:
    """source -> id -> {"text", "html"}: the documents as the stage reads them; for HTML the
    extracted text (what the stage filters) replaces the raw page as ``text``."""
    from pipelines.clean.html import extract_text
    from pipelines.io.config import ReadConfig
    from pipelines.io.file_reader import FileReader

    reader = FileReader(ReadConfig())
    out: dict[str, dict[str, dict]] = {}
    for name, entry in manifest["sources"].items():
        docs: dict[str, dict] = {}
        for doc in reader.read(str(corpus / entry["file"])):
            if "text" not in doc:
                continue
            if doc["meta"].get("content_type") == "text/html":
                try:
                    text = extract_text(doc["text"])
                except Exception:  # the stage drops these as html_extraction_failed
                    text = ""
                docs[doc["id"]] = {"text": text, "html": doc["text"], "url": doc["url"]}
            else:
                docs[doc["id"]] = {"text": doc["text"], "html": None, "url": doc["url"]}
        out[name] = docs
    return out


def quick_copy(corpus: Path, manifest: dict, dest: Path, n: int) -> None:
    """The first ``n`` documents of each source file, under the same file names."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    dest.mkdir(parents=True, exist_ok=True)
    for entry in manifest["sources"].values():
        src, dst = corpus / entry["file"], dest / entry["file"]
        if entry["format"] == "warc":
            with open(src, "rb") as f, open(dst, "wb") as g:
                writer = WARCWriter(g, gzip=True)
                for i, record in enumerate(r for r in ArchiveIterator(f) if r.rec_type == "response"):
                    if i >= n:
                        break
                    writer.write_record(record)
        else:
            with gzip.open(src, "rt", encoding="utf-8") as f, gzip.open(dst, "wt", encoding="utf-8") as g:
                for i, line in enumerate(f):
                    if i >= n:
                        break
                    g.write(line)
    (dest / "manifest.json").write_text(json.dumps(manifest))


def run_clean(corpus: Path, manifest: dict, preset: str | None, out: Path) -> tuple[float, float]:
    """``python -m pipelines.clean`` over every source file; (wall seconds, CPU seconds)."""
    config = out.parent / f"{out.name}.yaml"
    config.write_text(f"clean: {{preset: {preset}}}\n" if preset else "{}\n")
    inputs = [f"--input={corpus / e['file']}" for e in manifest["sources"].values()]
    cmd = [
        sys.executable,
        "-m",
        "pipelines.clean",
        *inputs,
        f"--output={out}",
        f"--config={config}",
        "--keep-dropped",
    ]
    cpu0, start = children_cpu_s(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"clean failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return seconds, children_cpu_s() - cpu0


def read_outputs(out: Path) -> tuple[dict[str, dict], list[dict], dict]:
    """(id -> kept document, dropped records, stats.json)."""
    import pyarrow.parquet as pq

    kept = {}
    for path in sorted(glob.glob(str(out / "documents" / "*.parquet"))):
        for row in pq.read_table(path, columns=["id", "text", "source", "lang"]).to_pylist():
            kept[row["id"]] = row
    dropped = []
    for path in sorted(glob.glob(str(out / "dropped" / "*.jsonl.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            dropped += [json.loads(line) for line in f]
    stats = json.loads((out / "stats.json").read_text())
    return kept, dropped, stats


def content(text: str) -> int:
    return len("".join(text.split()))


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 4) if values else None


def summarise(
    inputs: dict[str, dict[str, dict]], kept: dict[str, dict], dropped: list[dict], manifest: dict
) -> dict[str, Any]:
    """Per source: in, kept %, top drop reasons, retention figures, worst-retained kept docs."""
    reasons: dict[str, Counter] = defaultdict(Counter)
    for rec in dropped:
        reasons[rec.get("source", "?")][rec.get("reason", "?")] += 1
    out: dict[str, Any] = {}
    for name, docs in inputs.items():
        entry = manifest["sources"][name]
        byte_r, content_r, html_r, worst = [], [], [], []
        n_kept = 0
        for doc_id, doc in docs.items():
            if doc_id not in kept:
                continue
            n_kept += 1
            o, i = kept[doc_id]["text"], doc["text"]
            b = len(o.encode()) / max(1, len(i.encode()))
            c = content(o) / max(1, content(i))
            byte_r.append(b)
            content_r.append(c)
            if doc["html"] is not None:
                html_r.append(len(o.encode()) / max(1, len(doc["html"].encode())))
            worst.append((c, b, doc_id, doc["url"]))
        worst.sort(key=lambda w: (w[0], w[1], w[2]))
        n = len(docs)
        out[name] = {
            "kind": entry["kind"],
            "lang": entry["lang"],
            "documents_in": n,
            "kept": n_kept,
            "kept_pct": round(100 * n_kept / n, 1) if n else None,
            "top_drop_reasons": dict(reasons[name].most_common(5)),
            "byte_retention_median": pct(byte_r, 50),
            "byte_retention_p10": pct(byte_r, 10),
            "content_retention_median": pct(content_r, 50),
            "content_retention_p10": pct(content_r, 10),
            **({"raw_html_byte_retention_median": pct(html_r, 50)} if html_r else {}),
            "most_reduced_kept": [
                {
                    "id": d,
                    **({"url": u} if u and entry["kind"] != "text" else {}),
                    "byte_retention": round(b, 4),
                    "content_retention": round(c, 4),
                }
                for c, b, d, u in worst[:5]
            ],
        }
    return out


def write_samples(
    preset: str,
    inputs: dict[str, dict[str, dict]],
    kept: dict[str, dict],
    dropped: list[dict],
    per_source: int = 3,
) -> None:
    """A few kept documents per source (input and output), the worst-retained one and two
    dropped ones, as plain text files to read."""
    folder = SAMPLES / preset
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    dropped_by_source: dict[str, list[dict]] = defaultdict(list)
    for rec in dropped:
        dropped_by_source[rec.get("source", "?")].append(rec)
    for name, docs in inputs.items():
        ids = sorted(i for i in docs if i in kept)
        rng = random.Random(f"samples:{name}")
        picks = rng.sample(ids, min(per_source, len(ids)))
        if ids:
            worst = min(ids, key=lambda i: content(kept[i]["text"]) / max(1, content(docs[i]["text"])))
            if worst not in picks:
                picks.append(worst)
        parts = []
        for i in picks:
            inp, outp = docs[i]["text"], kept[i]["text"]
            ratio = content(outp) / max(1, content(inp))
            parts.append(
                f"##### KEPT {i}  content retention {ratio:.2f}\n----- in ({len(inp)} chars)\n{inp[:4000]}"
            )
            parts.append(f"----- out ({len(outp)} chars)\n{outp[:4000]}\n")
        for rec in sorted(dropped_by_source[name], key=lambda r: r["id"])[:2]:
            text = docs.get(rec["id"], {}).get("text") or rec.get("text", "")
            parts.append(f"##### DROPPED {rec['id']}  reason {rec.get('reason')}\n{text[:1500]}\n")
        (folder / f"{name}.txt").write_text("\n".join(parts), encoding="utf-8")


def print_table(results: dict) -> None:
    for preset, res in results["runs"].items():
        print(
            f"\n== preset {preset}: {res['config']}  ({res['seconds']}s, {res['mb_per_s']} MB/s; "
            f"{res['cpu_s']} CPU-s, {res['mb_per_cpu_s']} MB per CPU-second)"
        )
        print(
            f"{'source':<17}{'kind':<6}{'in':>5}{'kept%':>7}{'bytes p50':>10}{'p10':>6}"
            f"{'content p50':>12}{'p10':>6}  top drop reasons"
        )
        for name, s in res["sources"].items():
            reasons = ", ".join(f"{k} {v}" for k, v in list(s["top_drop_reasons"].items())[:3])

            def f(x: float | None) -> str:
                return "-" if x is None else f"{x:.2f}"

            print(
                f"{name:<17}{s['kind']:<6}{s['documents_in']:>5}{s['kept_pct']:>7}"
                f"{f(s['byte_retention_median']):>10}{f(s['byte_retention_p10']):>6}"
                f"{f(s['content_retention_median']):>12}{f(s['content_retention_p10']):>6}  {reasons}"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"the first {QUICK_DOCS} documents of each source")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    manifest = load_manifest(args.corpus)
    available = preset_available()
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "code": code_version(),
        "corpus": shown(args.corpus),
        "preset_available": available,
        "command": "python -m bench.bench_clean_real" + (" --quick" if args.quick else ""),
        "note": "MB = UTF-8 bytes of the documents as read (raw HTML for pages); CPU = the clean "
        "subprocess's user + system time, start-up included",
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="clean_real_") as tmp:
        corpus = args.corpus
        if args.quick:
            corpus = Path(tmp) / "corpus"
            quick_copy(args.corpus, manifest, corpus, QUICK_DOCS)
        inputs = read_inputs(corpus, manifest)
        mb = (
            sum(len((d["html"] or d["text"]).encode()) for docs in inputs.values() for d in docs.values())
            / 1e6
        )
        runs = [(p, p) for p in PRESETS] if available else [("default", None)]
        if not available:
            results["presets_unavailable"] = {
                p: "CleanConfig has no 'preset' field yet; the default config ran instead" for p in PRESETS
            }
        for label, preset in runs:
            out = Path(tmp) / f"out-{label}"
            load = os.getloadavg()[0]
            seconds, cpu = run_clean(corpus, manifest, preset, out)
            kept, dropped, stats = read_outputs(out)
            results["runs"][label] = {
                "config": {"clean": {"preset": preset}} if preset else {},
                "input_mb": round(mb, 2),
                "seconds": round(seconds, 1),
                "mb_per_s": round(mb / seconds, 2),
                "cpu_s": round(cpu, 1),
                "mb_per_cpu_s": round(mb / cpu, 3),
                "goal": f">= {CPU_GOAL_MB} MB per CPU-second",
                "goal_met": mb / cpu >= CPU_GOAL_MB,
                "load_avg_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
                "documents_in": stats["counts"]["input"],
                "kept": stats["counts"]["kept"],
                "sources": summarise(inputs, kept, dropped, manifest),
            }
            write_samples(label, inputs, kept, dropped)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print_table(results)
    print(f"\nwritten {args.out}; samples in {SAMPLES}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

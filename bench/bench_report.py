"""Benchmark ``pipelines.report``: time and memory to report on a large synthetic dataset directory.

    python -m bench.bench_report [--quick] [--keep]

Full: 1 M documents / ~256 M tokens in 16 token shards over 3 dataset versions, 200 k
documents in Parquet (~200 MB of text), 100 k dropped and 1 k quarantine records.
Quick: a tenth of that. The report runs in a fresh subprocess (honest start-up and peak
RSS); it reads shards memory-mapped, so peak RSS counts the shard pages it touched.
Results: ``bench/results/report.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def build_dataset(root: Path, docs: int, shards: int, parquet_docs: int, dropped: int, seed: int = 0) -> dict:
    """A versioned token dataset plus documents, stats, dropped and quarantine records."""
    import pyarrow.parquet as pq

    from lmcore.storage import InputFile
    from pipelines.dataset import versions
    from schemas import (
        Counts,
        Manifest,
        ShardInfo,
        TokenizerInfo,
        build_token_shard_table,
        documents_to_table,
        sha256_bytes,
        token_shard_to_bytes,
    )

    rng = np.random.default_rng(seed)
    tok_bytes = b'{"model": "synthetic"}'
    (root / "tokenizer.json").write_bytes(tok_bytes)
    tokenizer = TokenizerInfo(
        "tokenizer.json", sha256_bytes(tok_bytes), 32000, {"<|endoftext|>": 0}, eos_id=0
    )
    sources = np.array(["web", "books", "code", "forum", "news", "wiki"])
    langs = np.array(["en", "zh", "de", "fr"])
    per_shard = docs // shards
    infos: list[ShardInfo] = []
    total_tokens = 0
    shard_bytes = 0
    for i in range(shards):
        version = 1 + i * 3 // shards
        split = "validation" if i == shards - 1 else "train"
        lengths = np.clip(rng.lognormal(5.2, 0.9, per_shard).astype(np.int64), 2, 60000)
        flat = rng.integers(1, 32000, int(lengths.sum()), dtype=np.uint16)
        tokens = np.split(flat, np.cumsum(lengths)[:-1])
        table = build_token_shard_table(
            [f"s{i:03d}-{j:07d}" for j in range(per_shard)],
            sources[rng.integers(0, len(sources), per_shard)].tolist(),
            langs[rng.integers(0, len(langs), per_shard)].tolist(),
            lengths * 4,
            tokens,
            "uint16",
            split,
        )
        data = token_shard_to_bytes(table)
        rel = f"shards/v{version:05d}/{split}-{i:05d}-of-{shards:05d}.arrow"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        infos.append(
            ShardInfo(
                rel,
                split,
                sha256_bytes(data),
                per_shard,
                int(lengths.sum()),
                int(lengths.sum() * 4),
                "uint16",
            )
        )
        total_tokens += int(lengths.sum())
        shard_bytes += len(data)
    for v in (1, 2, 3):
        listed = [s for s in infos if int(s.path.split("/")[1][1:]) <= v]
        n = sum(s.num_docs for s in listed)
        quarantined = {"bad_json": 1000} if v == 3 else {}  # the quarantine records below are version 3's
        counts = Counts(
            input=n + 6 * v + sum(quarantined.values()),
            kept=n,
            dropped={"too_short": 6 * v},
            quarantined=quarantined,
        )
        m = Manifest(
            tokenizer, listed, counts, created_at=f"2026-0{v}-01T00:00:00Z", code_version="bench", version=v
        )
        versions.commit(str(root), m, [InputFile(f"in/{v}.jsonl", v, str(v))])
    words = np.array(["the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with"])
    texts = [
        " ".join(words[rng.integers(0, len(words), int(k))]) for k in rng.integers(20, 400, parquet_docs)
    ]
    (root / "documents").mkdir()
    for part in range(4):
        chunk = range(part, parquet_docs, 4)
        table = documents_to_table(
            {"id": f"d{j:07d}", "text": texts[j], "source": str(sources[j % len(sources)]), "lang": "en"}
            for j in chunk
        )
        pq.write_table(table, root / "documents" / f"part-{part:05d}-of-00004.parquet", compression="zstd")
    recs = [
        {
            "id": f"x{j:07d}",
            "text": texts[j % len(texts)],
            "source": "web",
            "stage": "dedup",
            "reason": "duplicate_exact",
            "duplicate_of": f"d{j // 3:07d}",
        }
        for j in range(dropped)
    ]
    (root / "dropped").mkdir()
    (root / "dropped" / "dropped-00000-of-00001.jsonl.gz").write_bytes(
        gzip.compress("".join(json.dumps(r) + "\n" for r in recs).encode(), compresslevel=1)
    )
    (root / "quarantine").mkdir()
    q = [
        {
            "stage": "read",
            "path": "in/x.jsonl",
            "offset": j,
            "reason": "bad_json",
            "error": "e",
            "sample": "{",
        }
        for j in range(1000)
    ]
    (root / "quarantine" / "quarantine-00000-of-00001.jsonl.gz").write_bytes(
        gzip.compress("".join(json.dumps(r) + "\n" for r in q).encode())
    )
    stats = {
        "stage": "prepare",
        "finished_at": "2026-03-01T00:00:00Z",
        "balanced": True,
        "counts": {
            "input": docs + 1000 + dropped,
            "kept": docs,
            "dropped": {},
            "duplicates": {"exact": dropped},
            "quarantined": {"bad_json": 1000},
        },
        "annotations": {"dedup_clusters": {"size_2": 10, "size_4": dropped // 3 - 10}},
    }
    (root / "stats.json").write_text(json.dumps(stats))
    return {
        "documents": per_shard * shards,
        "tokens": total_tokens,
        "shard_bytes": shard_bytes,
        "parquet_docs": parquet_docs,
        "parquet_bytes": sum(p.stat().st_size for p in (root / "documents").iterdir()),
        "dropped_records": dropped,
    }


def peak_rss_mb() -> float:
    """This process's peak RSS. ``ru_maxrss`` would include the parent's (it survives exec); VmHWM does not."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def child(root: str) -> dict:
    """Run in a fresh process: the numbers, then plots + HTML, with timings and peak RSS."""
    from pipelines.report.build import build_report, make_plots
    from pipelines.report.html import render_html

    t0 = time.perf_counter()
    rep = build_report(root)
    t1 = time.perf_counter()
    plots = make_plots(rep)
    t2 = time.perf_counter()
    html = render_html(rep, plots)
    t3 = time.perf_counter()
    return {
        "numbers_s": round(t1 - t0, 3),
        "plots_s": round(t2 - t1, 3),
        "html_s": round(t3 - t2, 3),
        "plots": sum(len(v) for v in plots.values()),
        "html_bytes": len(html),
        "peak_rss_mb": peak_rss_mb(),
        "checks_failed": [c["check"] for c in rep["checks"] if not c["ok"] and c["level"] == "error"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the synthetic dataset directory")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    scale = 10 if args.quick else 1
    size = {
        "docs": 1_000_000 // scale,
        "shards": 16,
        "parquet_docs": 200_000 // scale,
        "dropped": 100_000 // scale,
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        t0 = time.perf_counter()
        data = build_dataset(tmp, **size)
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "bench.bench_report", "--child", str(tmp)],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - t0
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        t0 = time.perf_counter()
        cli = subprocess.run(
            [sys.executable, "-m", "pipelines.report", str(tmp)], capture_output=True, text=True
        )
        cli_s = time.perf_counter() - t0
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    out = {
        "mode": "quick" if args.quick else "full",
        "dataset": {**size, **data, "generate_s": round(gen_s, 1)},
        **res,
        "child_wall_s": round(wall, 2),
        "cli_wall_s": round(cli_s, 2),
        "cli_returncode": cli.returncode,
        "numbers_docs_per_s": round((data["documents"] + data["parquet_docs"]) / res["numbers_s"]),
        "numbers_tokens_per_s": round(data["tokens"] / res["numbers_s"]),
        "numbers_input_mb_per_s": round(
            (data["shard_bytes"] + data["parquet_bytes"]) / 1e6 / res["numbers_s"], 1
        ),
        "note": "2 shared CPU cores, other helpers running concurrently; shards read memory-mapped",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "report.json").write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"report bench ({out['mode']}): {data['documents']:,} shard docs / {data['tokens']:,} tokens "
        f"({data['shard_bytes'] / 1e6:,.0f} MB) + {data['parquet_docs']:,} Parquet docs + {data['dropped_records']:,} dropped records"
    )
    print(
        f"  numbers {res['numbers_s']:.2f}s ({out['numbers_tokens_per_s'] / 1e6:,.0f} M tokens/s, "
        f"{out['numbers_input_mb_per_s']:,.0f} MB/s), plots {res['plots_s']:.2f}s ({res['plots']} PNGs), "
        f"html {res['html_s']:.2f}s, peak RSS {res['peak_rss_mb']:,.0f} MB; CLI end to end {cli_s:.1f}s (rc {cli.returncode})"
    )
    if res["checks_failed"]:
        print(f"  failed checks: {res['checks_failed']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Token shards as Arrow IPC *file* or IPC *stream*: what each costs us and what `datasets` can do with it.

    python -m bench.bench_shard_format [--max-mb 40] [--keep]

The contract writes IPC files (random-access, footer); `datasets.Dataset.from_file`
memory-maps only streams (the format of its own cache). This measures, on shards of the
real-text corpus (bench/data/realtext, `make bench-data`) tokenized with a BPE trained on it,
both formats side by side: bytes on disk, write time, our reader's open time (memory-mapped,
every token touched), and the ways `datasets` opens them: `load_dataset("arrow")` (time,
cache bytes), `Dataset.from_file` (streams only) and a Dataset over the memory-mapped table.
Each `datasets` measurement runs in a fresh subprocess with its own empty HF_HOME, so the
resident-memory growth is honest. Results: bench/results/shard_format.json.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
REALTEXT = ROOT / "bench" / "data" / "realtext"
SHARD_DOCS = 1000


def real_texts(max_mb: float) -> list[str]:
    """Documents of the real-text corpus's JSONL sources, round-robin so every source is in."""
    files = sorted(glob.glob(str(REALTEXT / "*.jsonl.gz")))
    if not files:
        raise SystemExit("no real-text corpus: run `make bench-data` first")
    per_file = []
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            per_file.append([json.loads(line)["text"] for line in fh])
    out, size, i = [], 0, 0
    while size < max_mb * 1e6 and any(per_file):
        docs = per_file[i % len(per_file)]
        if docs:
            text = docs.pop()
            out.append(text)
            size += len(text.encode())
        i += 1
    return out


def write_shards(texts: list[str], out: Path) -> dict:
    """The same tables written as IPC files (``file/``) and IPC streams (``stream/``)."""
    import pyarrow as pa
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from schemas.token_shard import build_token_shard_table

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        texts[:3000], trainers.BpeTrainer(vocab_size=8192, special_tokens=["<|endoftext|>"])
    )
    eos = tok.token_to_id("<|endoftext|>")
    import numpy as np

    encoded = [np.array([*e.ids, eos], np.uint16) for e in tok.encode_batch(texts)]
    timing = {"file": 0.0, "stream": 0.0}
    sizes = {"file": 0, "stream": 0}
    for kind in timing:
        (out / kind).mkdir(parents=True, exist_ok=True)
    for n, start in enumerate(range(0, len(texts), SHARD_DOCS)):
        rows = range(start, min(start + SHARD_DOCS, len(texts)))
        table = build_token_shard_table(
            [f"d{i}" for i in rows],
            ["real"] * len(rows),
            ["en"] * len(rows),
            [len(texts[i].encode()) for i in rows],
            [encoded[i] for i in rows],
            "uint16",
        )
        for kind, new in (("file", pa.ipc.new_file), ("stream", pa.ipc.new_stream)):
            t0 = time.perf_counter()
            sink = pa.BufferOutputStream()
            with new(sink, table.schema) as writer:
                for batch in table.to_batches():
                    writer.write_batch(batch)
            data = sink.getvalue().to_pybytes()
            (out / kind / f"train-{n:05d}.arrow").write_bytes(data)
            timing[kind] += time.perf_counter() - t0
            sizes[kind] += len(data)
    return {
        "documents": len(texts),
        "text_mb": round(sum(len(t.encode()) for t in texts) / 1e6, 1),
        "tokens": int(sum(len(e) for e in encoded)),
        "shards": n + 1,
        "bytes": sizes,
        "write_s": {k: round(v, 3) for k, v in timing.items()},
    }


def open_all(kind: str, paths: list[str]) -> tuple[float, int]:
    """Open every shard memory-mapped and sum its tokens (touches every page); (seconds, sum)."""
    import pyarrow as pa

    t0 = time.perf_counter()
    total = 0
    for p in paths:
        source = pa.memory_map(p, "r")
        table = (pa.ipc.open_file(source) if kind == "file" else pa.ipc.open_stream(source)).read_all()
        total += int(table.column("tokens").chunks[0].values.to_numpy().sum(dtype="uint64"))
    return time.perf_counter() - t0, total


CHILD = r"""
import glob, json, os, sys, time
import psutil
kind, how, folder = sys.argv[1:4]
paths = sorted(glob.glob(os.path.join(folder, kind, "*.arrow")))
rss0 = psutil.Process().memory_info().rss
import datasets, pyarrow as pa
rss1 = psutil.Process().memory_info().rss
t0 = time.perf_counter()
try:
    if how == "load_dataset":
        ds = datasets.load_dataset("arrow", data_files={"train": paths}, split="train")
    elif how == "from_file":
        ds = datasets.concatenate_datasets([datasets.Dataset.from_file(p) for p in paths])
    else:  # a Dataset over the memory-mapped tables (docs/datasets-hf.md Option 3)
        tables = [(pa.ipc.open_file if kind == "file" else pa.ipc.open_stream)(pa.memory_map(p)).read_all() for p in paths]
        ds = datasets.Dataset(datasets.table.InMemoryTable(pa.concat_tables(tables)))
    opened = time.perf_counter() - t0
    t1 = time.perf_counter()
    n = sum(len(ds[i]["tokens"]) for i in range(0, ds.num_rows, max(1, ds.num_rows // 500)))
    sample = time.perf_counter() - t1
    cache = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.environ["HF_HOME"]) for f in fs)
    print(json.dumps({"ok": True, "rows": ds.num_rows, "open_s": round(opened, 3),
                      "sample_500_rows_s": round(sample, 3), "cache_mb": round(cache / 1e6, 1),
                      "rss_growth_mb": round((psutil.Process().memory_info().rss - rss1) / 1e6, 1)}))
except Exception as exc:
    print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:160]}"}))
"""


def datasets_route(kind: str, how: str, folder: Path) -> dict:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HF_HOME": home, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, kind, how, str(folder)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {"ok": False, "error": proc.stderr[-300:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-mb", type=float, default=40.0, help="MB of real text to tokenize")
    parser.add_argument("--quick", action="store_true", help="8 MB of text (make bench BENCH_ARGS=--quick)")
    parser.add_argument("--keep", action="store_true", help="keep the shards (prints where)")
    args = parser.parse_args(argv)
    if args.quick:
        args.max_mb = min(args.max_mb, 8.0)
    work = Path(tempfile.mkdtemp(prefix="shard-format-"))
    try:
        print(f"shard_format: tokenizing {args.max_mb:g} MB of real text", flush=True)
        made = write_shards(real_texts(args.max_mb), work)
        ours = {}
        for kind in ("file", "stream"):
            paths = sorted(glob.glob(str(work / kind / "*.arrow")))
            best = min(open_all(kind, paths)[0] for _ in range(5))
            ours[kind] = {"open_and_touch_all_s": round(best, 4)}
        routes = {}
        for kind in ("file", "stream"):
            for how in ("load_dataset", "from_file", "mmap_table"):
                print(f"shard_format: datasets {how} on IPC {kind}s", flush=True)
                routes[f"{kind}/{how}"] = datasets_route(kind, how, work)
        stream, file = routes["stream/from_file"], routes["file/load_dataset"]
        headline = (
            f"{made['text_mb']:g} MB of real text: IPC stream vs file {made['bytes']['stream'] / made['bytes']['file']:.4f}x bytes, "
            f"our open {ours['stream']['open_and_touch_all_s'] / ours['file']['open_and_touch_all_s']:.2f}x; "
            f"datasets from_file on streams {stream.get('open_s')} s, no cache, against load_dataset on files "
            f"{file.get('open_s')} s and a {file.get('cache_mb')} MB cache; from_file on files: "
            f"{'refused' if not routes['file/from_file']['ok'] else 'works'}"
        )
        result = {
            "headline": headline,
            "corpus": "bench/data/realtext JSONL sources, round-robin",
            **made,
            "reader_best_of_5": ours,
            "datasets": routes,
            "load": os.getloadavg()[0],
            "command": f"python -m bench.bench_shard_format --max-mb {args.max_mb:g}",
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "shard_format.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    finally:
        if args.keep:
            print(f"shards kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

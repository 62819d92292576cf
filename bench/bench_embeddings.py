"""Word embeddings on real text: skip-gram, CBOW and GloVe against a pretrained GPT's token embeddings.

The corpus is real text nobody here wrote (``make bench-data``: English and Chinese man pages,
kernel, Python and Debian documentation, licences, READMEs, fortunes, the KJV, and the junk
sources clean is meant to drop), prepared by ``pipelines.prepare``. On it, with the commands
a user runs:

* ``python -m lm_train.word2vec --algorithm=skipgram|cbow|glove`` (gensim for the first two;
  a Beam co-occurrence pipeline and torch for GloVe), each timed, with its peak memory;
* a GPT pretrained with ``python -m lm_train.train`` on the same sources (``pipelines.prepare``),
  whose token embeddings ``python -m lm_train.embeddings`` exports and evaluates.

Every run is scored on the sets gensim ships (WordSim-353 and SimLex-999 Spearman, the
Google analogies) with its coverage, and the nearest neighbours of a few English and
Chinese words are kept for a person to read. Documentation is a small, technical corpus:
absolute scores are far below vectors trained on billions of words of news; what the
benchmark shows is the ranking of the methods on the same text and what each costs.

    python -m bench.bench_embeddings [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bench.bench_finetune import REALTEXT, write_pretrain_inputs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / "data" / "embeddings"
ALGORITHMS = ("skipgram", "cbow", "glove")
METRICS = ("wordsim353_spearman", "simlex999_spearman", "analogy_accuracy", "coverage")
PROBES = ("file", "directory", "network", "kernel", "memory", "文件", "内核", "网络")
# Each method at its authors' default number of passes: gensim's 5 epochs; GloVe's 25 (the
# paper's for vocabularies like this one; at 5 it is far from converged, measured).
FULL = {"docs_per_source": None, "epochs": {"skipgram": 5, "cbow": 5, "glove": 25}, "gpt_steps": 600}
QUICK = {"docs_per_source": 250, "epochs": {"skipgram": 3, "cbow": 3, "glove": 8}, "gpt_steps": 150}
GPT_ARGS = [
    "model=gpt",
    "model.n_layer=4",
    "model.d_model=128",
    "model.n_head=4",
    "seq_len=128",
    "batch_size=16",
    "lr=2e-3",
    "eval_every=0",
    "ckpt_every=0",
    "tensorboard=false",
    "dtype=float32",
    "seed=0",
]


def run_measured(argv: list[str], log: Path) -> dict:
    """Run one command (output to ``log``): wall seconds and the peak RSS of its process tree."""
    log.parent.mkdir(parents=True, exist_ok=True)
    peak = 0
    started = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=os.environ)
        done = threading.Event()

        def poll() -> None:
            nonlocal peak
            me = psutil.Process(proc.pid)
            while not done.is_set():
                try:
                    rss = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))
                    peak = max(peak, rss)
                except psutil.Error:
                    pass
                done.wait(0.2)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        rc = proc.wait()
        done.set()
        watcher.join()
    if rc != 0:
        tail = log.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"exit {rc}: {' '.join(argv)}\n(log {log})\n{tail}")
    return {"wall_s": round(time.perf_counter() - started, 1), "peak_rss_mb": round(peak / 2**20, 1)}


def scores(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "eval-embeddings.json").read_text())
    out = {k: round(float(metrics[k]), 4) for k in METRICS if metrics.get(k) is not None}
    for key in ("vocab_size", "num_vectors", "dim"):
        if key in metrics:
            out[key] = metrics[key]
    return out


def neighbours(run_dir: Path) -> dict[str, list[str]]:
    """The five nearest neighbours of each probe word, as ``lm_train.embeddings --json`` gives them
    (exit 2 when a probe has no vector: it is listed with no neighbours)."""
    argv = [
        sys.executable,
        "-m",
        "lm_train.embeddings",
        "--checkpoint",
        str(run_dir),
        "--topn",
        "5",
        "--json",
    ]
    done = subprocess.run([*argv, "--neighbours", *PROBES], cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 2):
        raise RuntimeError(f"exit {done.returncode}: {' '.join(argv)}\n{done.stderr[-1500:]}")
    record = json.loads(done.stdout)
    return {n["query"]: [h["key"] for h in n["neighbours"]] for n in record["neighbours"]}


def corpus(work: Path, budget: dict) -> tuple[Path, dict]:
    """One prepared dataset (clean, dedup, tokenize): the GPT trains on its shards, the word
    vectors on its kept documents (the same shards, decoded). The full run takes every real-text
    source (about 7 million words: the word-similarity sets need a broad vocabulary to be covered);
    the quick one the first documents of the man pages and kernel docs."""
    if budget["docs_per_source"] is None:
        inputs = [REALTEXT]
        if not any(REALTEXT.glob("*.gz")):
            raise SystemExit(f"{REALTEXT} is empty: run `make bench-data`")
    else:
        inputs = write_pretrain_inputs(work / "input", max_docs=budget["docs_per_source"])
    dataset = work / "dataset"
    argv = [
        sys.executable,
        "-m",
        "pipelines.prepare",
        *(f"--input={p}" for p in inputs),
        f"--output={dataset}",
    ]
    cost = run_measured(argv, work / "logs" / "prepare.log")
    counts = json.loads((dataset / "stats.json").read_text()).get("counts")
    return dataset, {"prepare": cost, "counts": counts}


def remembered(path: Path, step: Callable[[], Any]) -> Any:
    """``step()``'s result, or the one an earlier run of this benchmark saved in ``path``."""
    if path.exists():
        return json.loads(path.read_text())
    value = step()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, default=str))
    return value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep the finished steps of an interrupted run (their costs too)",
    )
    args = ap.parse_args(argv)
    budget = QUICK if args.quick else FULL
    work = WORK / ("quick" if args.quick else "full")
    if work.exists() and not args.resume:
        import shutil

        shutil.rmtree(work)
    py = sys.executable
    dataset, corpus_info = remembered(work / "corpus.json", lambda: corpus(work, budget))
    dataset = Path(dataset)
    result: dict = {"quick": args.quick, "corpus": corpus_info, "runs": {}}
    for algo in ALGORITHMS:
        out = work / "runs" / algo
        argv = [py, "-m", "lm_train.word2vec", "--documents", str(dataset), "--out", str(out)]
        argv += [
            f"--algorithm={algo}",
            "--dim=100",
            "--min-count=5",
            f"--epochs={budget['epochs'][algo]}",
        ]  # each at its default window: 5 for word2vec, 10 for GloVe
        argv.append("--overwrite")  # a step an interrupted run left unfinished is redone
        cost = remembered(
            out.with_suffix(".cost.json"),
            lambda argv=argv, algo=algo: run_measured(argv, work / "logs" / f"{algo}.log"),
        )
        result["runs"][algo] = {
            **scores(out),
            **cost,
            "neighbours": neighbours(out),
        }
        print(f"{algo}: {json.dumps(result['runs'][algo], ensure_ascii=False)}", flush=True)
    gpt = work / "runs" / "gpt"
    steps = budget["gpt_steps"]
    argv = [py, "-m", "lm_train.train", "--data", str(dataset), "--out", str(gpt), *GPT_ARGS]
    argv += [f"max_steps={steps}", f"warmup_steps={steps // 10}", f"log_every={steps // 10}"]
    train_cost = run_measured(argv, work / "logs" / "gpt-train.log")
    export_cost = run_measured(
        [py, "-m", "lm_train.embeddings", "--checkpoint", str(gpt)], work / "logs" / "gpt-export.log"
    )
    result["runs"]["gpt_token_embeddings"] = {
        **scores(gpt),
        "train": {**train_cost, "steps": steps},
        "export_and_eval": export_cost,
        "neighbours": neighbours(gpt),
    }
    result["headline"] = headline(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "embeddings.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(result["headline"])
    return 0


def headline(result: dict) -> str:
    parts = []
    for name, r in result["runs"].items():
        ws, sl, an = (r.get(k) for k in ("wordsim353_spearman", "simlex999_spearman", "analogy_accuracy"))
        cost = r.get("wall_s", r.get("train", {}).get("wall_s"))
        parts.append(f"{name} WS353 {ws} / SimLex {sl} / analogy {an} ({cost}s)")
    return "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())

"""Our trainer against nanoGPT's own ``train.py`` on identical work, interleaved in one command.

    NANOGPT_DIR=/path/to/nanoGPT python -m bench.bench_nanogpt [--quick] [--rounds 3] [--data DIR]

Same GPT shape (4 layers, 4 heads, 128 dims, sequence 64, batch 12, tied embeddings,
dropout 0), the same tokens (our BPE of the bundled sample, which nanoGPT reads as
``train.bin``/``val.bin`` uint16), the same optimiser (AdamW, lr 1e-3 → 1e-4 cosine,
warmup 100, β2 0.99, weight decay 0.1, clipping 1.0), one process each, the same torch
thread count, float32 on the CPU. Rounds alternate which trainer goes first; each reports
its median step's tokens/s, the ratio within the round (so load that lasts a round cancels
out), the validation loss after the last step and the machine's load average during it.

nanoGPT is a checkout of github.com/karpathy/nanoGPT given by ``--nanogpt-dir`` or
``NANOGPT_DIR`` (never part of this repository); without one its row is skipped and said so.
``lm_train`` runs twice per round: with document masking (the default: attention stays
inside each packed document) and without it (``model.document_mask=false``, nanoGPT's
attention over the whole window): the difference is masking's cost.

Writes ``bench/results/nanogpt.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SHAPE = {"n_layer": 4, "n_head": 4, "d_model": 128, "seq_len": 64, "batch_size": 12}
OPTIM = {"lr": 1e-3, "min_lr": 1e-4, "warmup": 100, "beta2": 0.99, "weight_decay": 0.1, "grad_clip": 1.0}


class LoadSampler:
    """The 1-minute load average every few seconds while a run goes on (the machine is shared)."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples)


def prepare_sample(out: Path) -> str:
    """Our BPE of the bundled sample (``pipelines.prepare``), with a validation split of 100 documents."""
    cmd = [
        sys.executable, "-m", "pipelines.prepare", "--input=data/sample/raw", f"--output={out}",
        "--set", "tokenize.min_validation_docs=100",
    ]  # fmt: skip
    print("bench_nanogpt: preparing the bundled sample:", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return str(out)


def split_tokens(data: str, split: str) -> np.ndarray:
    """Every token of a split in shard order (documents end with the end-of-text token)."""
    from schemas import load_manifest, open_token_shard

    m = load_manifest(data)
    shards = sorted(m.shards_for(split), key=lambda s: s.path)
    return np.concatenate([np.asarray(open_token_shard(m.path_of(s.path)).tokens) for s in shards])


def write_nanogpt_dataset(data: str, work: Path, nanogpt: Path) -> dict:
    """``work/data/lmforge/{train,val}.bin`` + ``meta.pkl`` and nanoGPT's configurator beside it."""
    from schemas import load_manifest

    vocab = load_manifest(data).tokenizer.vocab_size
    if vocab > 2**16:
        raise SystemExit(f"bench_nanogpt: vocabulary {vocab} does not fit nanoGPT's uint16 .bin files")
    d = work / "data" / "lmforge"
    d.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for split, name in (("train", "train"), ("validation", "val")):
        tokens = split_tokens(data, split).astype(np.uint16)
        tokens.tofile(d / f"{name}.bin")
        sizes[f"{name}_tokens"] = len(tokens)
    with open(d / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": vocab}, f)
    # train.py exec()s configurator.py from its working directory: link nanoGPT's own.
    link = work / "configurator.py"
    if not link.exists():
        link.symlink_to(nanogpt / "configurator.py")
    return {"vocab_size": vocab, **sizes}


def eval_batches(val_tokens: int) -> int:
    """Validation batches covering the validation split about once (both trainers score as many)."""
    return max(1, -(-val_tokens // (SHAPE["batch_size"] * SHAPE["seq_len"])))


def nanogpt_cmd(nanogpt: Path, out: Path, steps: int, eval_iters: int) -> list[str]:
    s, o = SHAPE, OPTIM
    return [
        sys.executable, str(nanogpt / "train.py"), "--dataset=lmforge", f"--out_dir={out}",
        "--device=cpu", "--compile=False", "--dtype=float32", f"--n_layer={s['n_layer']}",
        f"--n_head={s['n_head']}", f"--n_embd={s['d_model']}", f"--block_size={s['seq_len']}",
        f"--batch_size={s['batch_size']}", "--gradient_accumulation_steps=1", "--dropout=0.0",
        "--bias=False", f"--learning_rate={o['lr']}", f"--min_lr={o['min_lr']}",
        f"--warmup_iters={o['warmup']}", f"--lr_decay_iters={steps}", f"--max_iters={steps}",
        f"--beta2={o['beta2']}", f"--weight_decay={o['weight_decay']}", f"--grad_clip={o['grad_clip']}",
        f"--eval_interval={steps}", f"--eval_iters={eval_iters}", "--log_interval=1",
        "--always_save_checkpoint=False", "--wandb_log=False",
    ]  # fmt: skip


def ours_cmd(data: str, out: Path, steps: int, eval_steps: int, document_mask: bool) -> list[str]:
    s, o = SHAPE, OPTIM
    return [
        sys.executable, "-m", "lm_train.train", f"--data={data}", f"--out={out}", "model=gpt",
        *(f"{k}={v}" for k, v in s.items()), "dropout=0", "tie_embeddings=true", "dtype=float32",
        f"document_mask={str(document_mask).lower()}", f"max_steps={steps}", f"lr={o['lr']}",
        f"min_lr_ratio={o['min_lr'] / o['lr']}", f"warmup_steps={o['warmup']}", "schedule=cosine",
        f"beta2={o['beta2']}", f"weight_decay={o['weight_decay']}", f"grad_clip={o['grad_clip']}",
        "log_every=1", "eval_every=0", f"eval_steps={eval_steps}", "ckpt_every=0", "tensorboard=false",
    ]  # fmt: skip


def tokens_per_step() -> int:
    return SHAPE["batch_size"] * SHAPE["seq_len"]


def timed_run(cmd: list[str], cwd: Path, env: dict[str, str], what: str) -> tuple[Any, float, float]:
    """(the finished process, wall seconds, mean load average while it ran); raises if it failed."""
    with LoadSampler() as load:
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if res.returncode:
        raise RuntimeError(f"{what} failed:\n{res.stderr[-3000:]}")
    return res, wall, load.mean


def run_nanogpt(cmd: list[str], work: Path, env: dict[str, str]) -> dict:
    res, wall, load_mean = timed_run(cmd, work, env, "nanoGPT")
    ms = [float(x) for x in re.findall(r"^iter \d+: loss [\d.]+, time ([\d.]+)ms", res.stdout, re.M)]
    vals = re.findall(r"^step \d+: train loss [\d.]+, val loss ([\d.]+)", res.stdout, re.M)
    step_s = statistics.median(ms[1:]) / 1000  # iteration 0 holds the first evaluation
    return {
        "tokens_per_s": tokens_per_step() / step_s,
        "median_step_ms": 1000 * step_s,
        "val_loss": float(vals[-1]),
        "wall_s": wall,
        "load_avg": load_mean,
    }


def run_ours(cmd: list[str], out: Path, env: dict[str, str]) -> dict:
    from lm_train.metrics import read_metrics

    _, wall, load_mean = timed_run(cmd, ROOT, env, "lm_train.train")
    recs = read_metrics(str(out / "metrics.jsonl"))
    steps = [r for r in recs if r["kind"] == "train"][1:]  # the first step holds start-up
    step_s = statistics.median(r["step_time_s"] for r in steps)
    return {
        "tokens_per_s": tokens_per_step() / step_s,
        "median_step_ms": 1000 * step_s,
        "val_loss": [r for r in recs if r["kind"] == "eval"][-1]["val_loss"],
        "data_wait_frac": statistics.median(r["data_wait_frac"] for r in steps),
        "wall_s": wall,
        "load_avg": load_mean,
    }


def model_alone(nanogpt: Path | None, data: str, threads: int, rounds: int = 6, reps: int = 10) -> dict:
    """Forward + loss + backward of the models alone (no optimizer, no loader), best of
    interleaved rounds: nanoGPT's ``model.py`` imported from its checkout, and ours without
    and with document masks on the same packed rows."""
    import torch

    from lm_train.data import LoaderConfig, PackedLoader
    from lm_train.models.gpt import GPT
    from lm_train.objectives.causal_lm import causal_lm_loss

    torch.set_num_threads(threads)
    s = SHAPE
    loader = PackedLoader(
        data, "train", LoaderConfig(seq_len=s["seq_len"], global_batch_size=s["batch_size"])
    )
    batch = next(iter(loader))
    vocab = loader.tokenizer.vocab_size
    torch.manual_seed(0)
    kw = {
        "n_layer": s["n_layer"],
        "n_head": s["n_head"],
        "d_model": s["d_model"],
        "max_seq_len": s["seq_len"],
    }
    masked, unmasked = GPT(vocab, **kw), GPT(vocab, **kw, document_mask=False)
    steps = {
        "ours_no_document_mask": lambda: causal_lm_loss(unmasked, batch)[0].backward(),
        "ours": lambda: causal_lm_loss(masked, batch)[0].backward(),
    }
    if nanogpt is not None:
        sys.path.insert(0, str(nanogpt))
        from model import GPT as NanoGPT  # nanoGPT's own model.py, from its checkout
        from model import GPTConfig as NanoConfig

        nano = NanoGPT(NanoConfig(block_size=s["seq_len"], vocab_size=vocab, n_layer=s["n_layer"],
                                  n_head=s["n_head"], n_embd=s["d_model"], dropout=0.0, bias=False))  # fmt: skip
        x, y = batch["input_ids"], batch["targets"]
        steps["nanogpt"] = lambda: nano(x, y)[1].backward()
    best = dict.fromkeys(steps, float("inf"))
    for r in range(rounds):
        for name in list(steps) if r % 2 == 0 else list(reversed(steps)):
            steps[name]()  # warm
            t0 = time.perf_counter()
            for _ in range(reps):
                steps[name]()
            best[name] = min(best[name], (time.perf_counter() - t0) / reps)
    out = {f"{k}_ms": round(1000 * v, 1) for k, v in best.items()}
    out["document_mask_cost"] = round(best["ours"] / best["ours_no_document_mask"] - 1, 3)
    if nanogpt is not None:
        out["ours_vs_nanogpt_speed"] = round(best["nanogpt"] / best["ours"], 3)
        out["ours_no_document_mask_vs_nanogpt_speed"] = round(
            best["nanogpt"] / best["ours_no_document_mask"], 3
        )
    out["how"] = (
        f"forward + loss + backward, best of {rounds} interleaved rounds of {reps}, {threads} thread(s)"
    )
    return out


def summary(runs: list[dict]) -> dict:
    tps = [r["tokens_per_s"] for r in runs]
    return {
        "tokens_per_s_median_step": [round(x) for x in tps],
        "tokens_per_s_median_of_rounds": round(statistics.median(tps)),
        "val_loss": [round(r["val_loss"], 4) for r in runs],
        "load_avg": [round(r["load_avg"], 2) for r in runs],
        **(
            {"data_wait_frac": [round(r["data_wait_frac"], 4) for r in runs]}
            if "data_wait_frac" in runs[0]
            else {}
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nanogpt-dir", default=os.environ.get("NANOGPT_DIR", ""))
    ap.add_argument(
        "--data", default="", help="a dataset made by pipelines.prepare (default: the bundled sample)"
    )
    ap.add_argument("--rounds", type=int, default=0, help="interleaved rounds (default 3; quick: 1)")
    ap.add_argument("--steps", type=int, default=0, help="optimizer steps per run (default 600; quick: 60)")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads of each trainer (the same for both)"
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--model-only",
        action="store_true",
        help="only the models alone; merged into an existing nanogpt.json",
    )
    args = ap.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    steps = args.steps or (60 if args.quick else 600)
    nanogpt = Path(args.nanogpt_dir).resolve() if args.nanogpt_dir else None
    if nanogpt is not None and not (nanogpt / "train.py").is_file():
        print(f"bench_nanogpt: {nanogpt} has no train.py; skipping the nanoGPT row")
        nanogpt = None
    elif nanogpt is None:
        print("bench_nanogpt: no nanoGPT checkout (--nanogpt-dir or NANOGPT_DIR); skipping the nanoGPT row")
    if args.model_only:
        with tempfile.TemporaryDirectory(prefix="lmforge-bench-nanogpt-") as tmp:
            alone = model_alone(nanogpt, args.data or prepare_sample(Path(tmp) / "sample"), args.threads)
        print(json.dumps(alone))
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / "nanogpt.json"
        result = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**result, "model_alone": alone}, indent=2) + "\n")
        return 0
    RESULTS.mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    env.pop("RANK", None)
    tmp = Path(tempfile.mkdtemp(prefix="lmforge-bench-nanogpt-"))
    try:
        data = args.data or prepare_sample(tmp / "sample")
        val_tokens = len(split_tokens(data, "validation"))
        evals = eval_batches(val_tokens)
        dataset = write_nanogpt_dataset(data, tmp / "nano", nanogpt) if nanogpt else {}
        alone = model_alone(nanogpt, data, args.threads, rounds=2 if args.quick else 6)
        print("models alone:", json.dumps(alone), flush=True)
        setup = {
            **SHAPE, **OPTIM, "steps": steps, "rounds": rounds, "threads": args.threads,
            "eval_batches": evals, "validation_tokens": val_tokens, **dataset,
            "dataset": args.data or "bundled sample (pipelines.prepare data/sample/raw, 100 validation documents)",
            "cpu_count": os.cpu_count(),
        }  # fmt: skip
        rows: dict[str, list[dict]] = {"nanogpt": [], "ours": [], "ours_no_document_mask": []}
        for r in range(rounds):
            jobs = ["nanogpt", "ours", "ours_no_document_mask"][0 if nanogpt else 1 :]
            for job in jobs if r % 2 == 0 else reversed(jobs):
                out = tmp / f"{job}-{r}"
                if job == "nanogpt":
                    res = run_nanogpt(nanogpt_cmd(nanogpt, out, steps, evals), tmp / "nano", env)
                else:
                    cmd = ours_cmd(data, out, steps, evals, document_mask=job == "ours")
                    res = run_ours(cmd, out, env)
                rows[job].append(res)
                print(f"round {r} {job:22s} {res['tokens_per_s']:7.0f} tok/s (median step "
                      f"{res['median_step_ms']:.1f} ms), val loss {res['val_loss']:.4f}, "
                      f"load {res['load_avg']:.2f}", flush=True)  # fmt: skip
                shutil.rmtree(out, ignore_errors=True)
            result = build_result(rows, setup, alone, nanogpt, args.quick, r + 1)
            (RESULTS / "nanogpt.json").write_text(json.dumps(result, indent=2) + "\n")  # after every round
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(result.get("headline", "nanoGPT row skipped"))
    print(f"wrote {RESULTS / 'nanogpt.json'}")
    return 0


def build_result(
    rows: dict[str, list[dict]], setup: dict, alone: dict, nanogpt: Path | None, quick: bool, done: int
) -> dict:
    """The results file's content after ``done`` rounds: each row, the ratios within rounds, a headline."""
    result: dict = {
        "quick": quick,
        "setup": {**setup, "rounds_completed": done},
        "ours": summary(rows["ours"]),
        "ours_no_document_mask": summary(rows["ours_no_document_mask"]),
        "model_alone": alone,
        "reproduce": "NANOGPT_DIR=/path/to/nanoGPT .venv/bin/python -m bench.bench_nanogpt"
        + (" --quick" if quick else ""),
        "note": "2 shared CPU cores; ratios are taken within a round, load_avg is the 1-minute load during each run",
    }
    if nanogpt is None:
        result["nanogpt"] = {"skipped": "no nanoGPT checkout (--nanogpt-dir or NANOGPT_DIR)"}
        return result
    result["nanogpt"] = {**summary(rows["nanogpt"]), "checkout": str(nanogpt)}
    for job in ("ours", "ours_no_document_mask"):
        ratios = [o["tokens_per_s"] / n["tokens_per_s"] for o, n in zip(rows[job], rows["nanogpt"])]
        result[job]["ratio_vs_nanogpt_per_round"] = [round(x, 3) for x in ratios]
        result[job]["ratio_vs_nanogpt"] = round(statistics.median(ratios), 3)
    o, n = result["ours"], result["nanogpt"]
    result["headline"] = (
        f"lm_train {o['tokens_per_s_median_of_rounds']:,} tok/s vs nanoGPT "
        f"{n['tokens_per_s_median_of_rounds']:,} ({o['ratio_vs_nanogpt']:.2f}x; without document masks "
        f"{result['ours_no_document_mask']['ratio_vs_nanogpt']:.2f}x), val loss after {setup['steps']} steps "
        f"{statistics.median(o['val_loss']):.3f} vs {statistics.median(n['val_loss']):.3f}"
    )
    return result


if __name__ == "__main__":
    raise SystemExit(main())

"""Trainer benchmark: our overhead against a bare PyTorch loop, and loss after a token budget.

    python -m bench.bench_train [--quick] [--data DIR] [--budget-tokens N]

1. CPU tokens/s of a small GPT (4 layers, 4 heads, 128 dims, sequence 64, batch 12)
   trained by ``lm_train.train`` (one process: real loader over a synthetic dataset,
   AdamW groups, schedule, clipping, metrics) against a minimal loop training the same
   model on in-memory random tokens (the ceiling for our overheads). Rows holding one
   document each isolate the trainer's overhead; packed rows with document masking
   show what masking costs. Runs alternate to spread out the noise of a shared machine.
2. Validation loss and bits per byte after a fixed token budget on the sample corpus:
   ``--data DIR`` (a dataset made by ``pipelines.prepare``); without it, a fallback
   dataset is tokenized by ``lm_train.testing`` from the same sample files.

A plain loop around our own model shows our overheads, not how fast the model is: the
comparison with another implementation on identical work is ``bench.bench_nanogpt``.

Writes ``bench/results/train.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lm_train.config import TrainConfig
from lm_train.data import write_synthetic_dataset
from lm_train.metrics import read_metrics
from lm_train.models import build_model
from lm_train.optim import build_optimizer
from lm_train.train import main as train_main

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = ["model=gpt", "n_layer=4", "n_head=4", "d_model=128", "seq_len=64", "batch_size=12"]
VOCAB = 4096


def plain_loop_tokens_per_s(steps: int, warmup: int = 5) -> float:
    """The same model and optimizer on random in-memory tokens: forward, loss, backward, step."""
    cfg = TrainConfig(model="gpt", n_layer=4, n_head=4, d_model=128, seq_len=64, batch_size=12)
    torch.manual_seed(0)
    model = build_model(cfg, VOCAB)
    opt = build_optimizer(model, cfg)
    data = torch.randint(0, VOCAB, (steps + warmup, 12, 65))
    for i in range(steps + warmup):
        if i == warmup:
            started = time.perf_counter()
        x, y = data[i, :, :-1], data[i, :, 1:]
        logits = model.logits(model(x))
        loss = F.cross_entropy(logits.view(-1, VOCAB), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * 12 * 64 / (time.perf_counter() - started)


def trainer_run(data: str, out: str, steps: int, extra: list[str]) -> dict:
    """Train with lm_train.train in this process; steady-state figures from metrics.jsonl."""
    log_every = max(steps // 5, 1)
    args = ["--data", data, "--out", out, *MODEL, f"max_steps={steps}", f"log_every={log_every}"]
    args += ["eval_every=0", "ckpt_every=0", "tensorboard=false", "warmup_steps=10", *extra]
    with contextlib.redirect_stdout(io.StringIO()):
        if train_main(args) != 0:
            raise RuntimeError(f"training failed: {args}")
    recs = [r for r in read_metrics(f"{out}/metrics.jsonl") if r["kind"] == "train"][1:]  # skip start-up
    return {
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in recs),
        "data_wait_frac": statistics.median(r["data_wait_frac"] for r in recs),
        "mfu": statistics.median(r["mfu"] for r in recs),
    }


def throughput(tmp: str, steps: int, repeats: int) -> dict:
    single = f"{tmp}/single-doc"
    packed = f"{tmp}/packed"
    # Documents of exactly seq_len + 1 tokens, best-fit packed: one document per row.
    write_synthetic_dataset(single, num_docs=4000, mean_len=65, sigma=0.0, vocab_size=VOCAB)
    write_synthetic_dataset(packed, num_docs=4000, mean_len=60, sigma=1.0, vocab_size=VOCAB)
    plain, ours, masked = [], [], []
    for r in range(repeats):
        plain.append(plain_loop_tokens_per_s(steps))
        ours.append(trainer_run(single, f"{tmp}/run-single-{r}", steps, ["packing=best_fit"]))
        masked.append(trainer_run(packed, f"{tmp}/run-packed-{r}", steps, ["packing=concat"]))
    best_plain = max(plain)
    best_ours = max(ours, key=lambda x: x["tokens_per_s"])
    best_masked = max(masked, key=lambda x: x["tokens_per_s"])
    return {
        "model": "gpt 4 layers, 4 heads, d_model 128, seq 64, batch 12, vocab 4096",
        "threads": torch.get_num_threads(),
        "steps_per_run": steps,
        "plain_loop_tokens_per_s": [round(x) for x in plain],
        "trainer_tokens_per_s": [round(x["tokens_per_s"]) for x in ours],
        "trainer_packed_masked_tokens_per_s": [round(x["tokens_per_s"]) for x in masked],
        "ratio_best_trainer_vs_plain": best_ours["tokens_per_s"] / best_plain,
        "ratio_best_packed_masked_vs_plain": best_masked["tokens_per_s"] / best_plain,
        "trainer_data_wait_frac": best_ours["data_wait_frac"],
        "trainer_packed_data_wait_frac": best_masked["data_wait_frac"],
        "trainer_mfu_vs_measured_matmul": best_ours["mfu"],
        "goal": "trainer >= 95% of plain loop, data wait < 1%",
    }


def budget_loss(tmp: str, data: str | None, budget_tokens: int) -> dict:
    source = "pipeline dataset (--data)"
    if not data or not os.path.exists(os.path.join(data, "manifest.json")):
        from lm_train.testing import sample_texts, write_text_dataset

        print(
            "bench_train: no --data DIR with a manifest.json; using a fallback dataset tokenized by lm_train.testing"
        )
        data = str(
            write_text_dataset(f"{tmp}/sample", sample_texts(200, 300, 4000), vocab_size=2048, val_every=10)
        )
        source = "fallback: lm_train.testing byte-level BPE (2048) on 200 KJV + 300 fortunes-zh documents"
    tokens_per_step = 12 * 64
    steps = max(budget_tokens // tokens_per_step, 1)
    out = f"{tmp}/budget"
    args = ["--data", data, "--out", out, *MODEL, f"max_steps={steps}", f"log_every={max(steps // 10, 1)}"]
    args += [
        "eval_every=0",
        "eval_steps=50",
        "ckpt_every=0",
        "tensorboard=false",
        "lr=3e-3",
        "warmup_steps=50",
    ]
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        if train_main(args) != 0:
            raise RuntimeError("budget run failed")
    final = [r for r in read_metrics(f"{out}/metrics.jsonl") if r["kind"] == "eval"][-1]
    return {
        "dataset": source,
        "budget_tokens": steps * tokens_per_step,
        "steps": steps,
        "val_loss": final["val_loss"],
        "val_ppl": final["val_ppl"],
        "val_bpb": final["val_bpb"],
        "val_tokens": final["val_tokens"],
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--data", help="a tokenized sample-corpus dataset (pipelines.prepare output)")
    ap.add_argument("--budget-tokens", type=int, default=0, help="default: 1M (quick: 100k)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: least disturbed by other jobs)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    steps, repeats = (20, 1) if args.quick else (40, 3)
    budget = args.budget_tokens or (100_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "throughput": throughput(tmp, steps, repeats),
            "budget": budget_loss(tmp, args.data, budget),
        }
    result["quick"] = args.quick
    result["note"] = "CPU shared with other jobs while measuring; figures are noisy"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train.json").write_text(json.dumps(result, indent=2) + "\n")
    t, b = result["throughput"], result["budget"]
    print(f"plain loop tokens/s: {t['plain_loop_tokens_per_s']}")
    print(f"trainer tokens/s (one doc per row): {t['trainer_tokens_per_s']}")
    print(f"trainer tokens/s (packed, document mask): {t['trainer_packed_masked_tokens_per_s']}")
    print(
        f"best trainer / best plain = {100 * t['ratio_best_trainer_vs_plain']:.1f}% "
        f"(packed+masked {100 * t['ratio_best_packed_masked_vs_plain']:.1f}%), "
        f"data wait {100 * t['trainer_data_wait_frac']:.2f}%  (goal >= 95%, < 1%)"
    )
    print(
        f"val loss after {b['budget_tokens']:,} tokens: {b['val_loss']:.4f} (bpb {b['val_bpb']:.4f}) on {b['dataset']}"
    )
    print(f"wrote {RESULTS / 'train.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

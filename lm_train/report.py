"""Plot a training run: ``python -m lm_train.report RUNDIR``.

Reads ``RUNDIR/metrics.jsonl`` (and ``run.json``, ``config.yaml``) and writes
``RUNDIR/loss.png`` (train and validation loss, validation bits per byte),
``RUNDIR/throughput.png`` (tokens/s, MFU, data-wait fraction, learning rate) and a small
``RUNDIR/report.html`` with the headline numbers and both figures.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
from statistics import median
from typing import Any

from lm_train.metrics import read_metrics


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Headline numbers: last losses, best validation, median throughput after the first interval."""
    train = [r for r in records if r.get("kind", "train") == "train"]
    evals = [r for r in records if r.get("kind") == "eval" and r.get("val_loss") is not None]
    steady = train[1:] or train  # the first interval includes start-up
    out: dict[str, Any] = {
        "steps": train[-1]["step"] if train else 0,
        "tokens": train[-1]["tokens"] if train else 0,
    }
    if train:
        out.update(
            final_loss=train[-1]["loss"],
            first_loss=train[0]["loss"],
            median_tokens_per_s=median(r["tokens_per_s"] for r in steady),
            median_mfu=median(r["mfu"] for r in steady),
            median_data_wait_frac=median(r["data_wait_frac"] for r in steady),
        )
    if evals:
        best = min(evals, key=lambda r: r["val_loss"])
        out.update(
            final_val_loss=evals[-1]["val_loss"],
            final_val_bpb=evals[-1]["val_bpb"],
            best_val_loss=best["val_loss"],
            best_val_step=best["step"],
        )
    return out


def plot(records: list[dict[str, Any]], rundir: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in records if r.get("kind", "train") == "train"]
    evals = [r for r in records if r.get("kind") == "eval" and r.get("val_loss") is not None]
    steps = [r["step"] for r in train]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(steps, [r["loss"] for r in train], label="train loss")
    if evals:
        ax1.plot([r["step"] for r in evals], [r["val_loss"] for r in evals], "o-", label="validation loss")
        ax2.plot([r["step"] for r in evals], [r["val_bpb"] for r in evals], "o-", color="C2")
    ax1.set(xlabel="step", ylabel="loss (nats/token)", title="loss")
    ax1.legend()
    ax2.set(xlabel="step", ylabel="bits per byte", title="validation bits per byte")
    fig.tight_layout()
    loss_png = os.path.join(rundir, "loss.png")
    fig.savefig(loss_png, dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    series = [
        ("tokens_per_s", "tokens/s", 1.0),
        ("mfu", "MFU (%)", 100.0),
        ("data_wait_frac", "data wait (%)", 100.0),
        ("lr", "learning rate", 1.0),
    ]
    for ax, (key, label, scale) in zip(axes.flat, series):
        ax.plot(steps, [(r.get(key) or 0.0) * scale for r in train])
        ax.set(xlabel="step", ylabel=label, title=label)
    fig.tight_layout()
    thr_png = os.path.join(rundir, "throughput.png")
    fig.savefig(thr_png, dpi=100)
    plt.close(fig)
    return [loss_png, thr_png]


def render_html(summary: dict[str, Any], run: dict[str, Any], config_text: str) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(f'{v:.4g}' if isinstance(v, float) else str(v))}</td></tr>"
        for k, v in {
            **summary,
            **{k: run[k] for k in ("num_params", "world_size", "device_name") if k in run},
        }.items()
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>lmforge training run</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}th{{text-align:left;padding-right:2em}}</style>
</head><body>
<h1>Training run</h1>
<p>dataset {html.escape(str(run.get("data", "?")))} (fingerprint <code>{html.escape(str(run.get("dataset_fingerprint", "?")))}</code>)</p>
<table>{rows}</table>
<h2>Loss</h2><img src="loss.png" alt="loss curves">
<h2>Throughput</h2><img src="throughput.png" alt="throughput curves">
<h2>Configuration</h2><pre>{html.escape(config_text)}</pre>
</body></html>
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lm_train.report", description=__doc__)
    ap.add_argument("rundir")
    args = ap.parse_args(argv)
    metrics = os.path.join(args.rundir, "metrics.jsonl")
    if not os.path.exists(metrics):
        print(f"lm_train.report: error: {metrics} does not exist", file=sys.stderr)
        return 1
    records = read_metrics(metrics)
    summary = summarize(records)
    plot(records, args.rundir)
    run_path, cfg_path = os.path.join(args.rundir, "run.json"), os.path.join(args.rundir, "config.yaml")
    run = json.load(open(run_path, encoding="utf-8")) if os.path.exists(run_path) else {}  # noqa: SIM115
    config_text = open(cfg_path, encoding="utf-8").read() if os.path.exists(cfg_path) else ""  # noqa: SIM115
    with open(os.path.join(args.rundir, "report.html"), "w", encoding="utf-8") as f:
        f.write(render_html(summary, run, config_text))
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.rundir}/loss.png, throughput.png, report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())

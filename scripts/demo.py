"""``make demo``: the whole product on the bundled sample, end to end, with real commands.

Runs exactly what a user would type (each step is printed before it runs):
prepare (collect → clean → dedup → tokenize → shard, one Beam pipeline), verify, the
dataset report, a short 2-process ``torchrun`` training run, generation from English and
Chinese prompts, and the training report. Everything lands in ``runs/demo/`` (wiped at
the start so the demo always shows a fresh run); override with ``DEMO_DIR``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TORCHRUN = [PY, "-m", "torch.distributed.run"]


def step(title: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    print(f"\n=== {title}\n$ {shlex.join(str(a) for a in argv)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(argv, cwd=ROOT, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise SystemExit(f"demo: step '{title}' failed with exit code {result.returncode}")
    print(f"=== {title}: done in {time.monotonic() - started:.1f}s", flush=True)


def main() -> None:
    demo = Path(os.environ.get("DEMO_DIR", ROOT / "runs" / "demo"))
    shutil.rmtree(demo, ignore_errors=True)
    data, run = demo / "dataset", demo / "train"
    nproc = os.environ.get("DEMO_NPROC", "2")
    started = time.monotonic()

    step(
        "prepare: collect, clean, dedup, tokenize, shard (Apache Beam)",
        [PY, "-m", "pipelines.prepare", "--input=data/sample/raw", f"--output={data}", "--keep-dropped"],
    )
    step("verify the dataset", [PY, "-m", "pipelines.verify", str(data)])
    step("dataset report", [PY, "-m", "pipelines.report", str(data)])
    step(
        f"train a tiny GPT with torchrun ({nproc} processes, CPU/gloo)",
        [
            *TORCHRUN,
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "lm_train.train",
            f"--data={data}",
            f"--out={run}",
            "--config=lm_train/configs/tiny.yaml",
        ],
        env={"OMP_NUM_THREADS": "1"},
    )
    for prompt in ("In the beginning God", "天下"):
        step(
            f"generate from {prompt!r}",
            [
                PY,
                "-m",
                "lm_train.generate",
                f"--checkpoint={run}",
                f"--prompt={prompt}",
                "--max-new-tokens=60",
                "--temperature=0.8",
                "--top-k=40",
            ],
        )
    step("training report", [PY, "-m", "lm_train.report", str(run)])

    print(f"\nDemo finished in {time.monotonic() - started:.0f}s.")
    print(f"  dataset:         {data}  (manifest.json, stats.json, shards/)")
    print(f"  dataset report:  {data / 'report.html'}")
    print(f"  training run:    {run}  (metrics.jsonl, checkpoints)")
    print(f"  training report: {run / 'report.html'}")


if __name__ == "__main__":
    main()

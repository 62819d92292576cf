"""Train a language model on an lmforge token dataset with DDP.

    torchrun --nproc-per-node=N -m lm_train.train --data DIR --out RUNDIR \\
        [--config FILE.yaml] [--resume auto] [--init-from CKPT] [key=value ...]

One process per device: NCCL on GPUs, gloo on CPU. ``python -m lm_train.train ...``
without torchrun runs a single process. Options and ``key=value`` overrides may come in
any order; ``data=DIR`` / ``out=RUNDIR`` work as overrides too. ``--print-config`` prints
the effective config (defaults, then --config, then overrides) and exits.

Multi-node: start the same command on every node with a shared rendezvous, e.g. on each
of 2 nodes with 8 GPUs::

    torchrun --nnodes=2 --nproc-per-node=8 --rdzv-backend=c10d \\
        --rdzv-endpoint=HOST0:29500 --rdzv-id=myjob --max-restarts=3 \\
        -m lm_train.train --data s3://bucket/dataset --out /shared/runs/r1 --resume auto

RUNDIR is a local path on storage every node sees, or any fsspec URL (s3://, gs://;
file:// is read as the local path). For a URL every file goes through fsspec:
checkpoints and run files directly, metrics.jsonl and tensorboard/ through a local
staging copy that rank 0 uploads at every checkpoint, every evaluation, every minute
and at the end. With ``--max-restarts`` and ``--resume auto``, a crashed or preempted
worker group restarts from the newest checkpoint; on CPU the resumed run reproduces
the uninterrupted loss sequence exactly.

Batch: every optimizer step consumes ``batch_size × grad_accum × world_size`` samples of
``seq_len`` tokens; the loss is the mean over the *global* batch's predicted tokens (token
sums and counts added over micro-steps and ranks), so world size 2 × accumulation 1
trains like world size 1 × accumulation 2. Elastic resume: a checkpoint may be resumed
with any batch_size, grad_accum and world size whose product is the same global batch;
another product is refused, naming both. Gradients of all but the last micro-step stay
local (``no_sync``).

Run directory: ``config.yaml`` (effective config), ``run.json`` (dataset fingerprint and
version, tokenizer, world size, device, model size), ``tokenizer.json`` (copy, for
generation), ``metrics.jsonl``, ``tensorboard/`` (``tensorboard --logdir RUNDIR/tensorboard``),
``checkpoints/step-*.pt`` (each with ``step-*.pt.json``: its size and sha256, checked on
load). Temporary ``._tmp-*`` files a killed run left there are removed at the next start.

Test hook (fault drills): with ``LMFORGE_FAULT_KILL_STEP=k`` the rank
``LMFORGE_FAULT_KILL_RANK`` (default 1) SIGKILLs itself after finishing step k, in the
first attempt only (``TORCHELASTIC_RESTART_COUNT`` = 0).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from lm_train import cli
from lm_train.config import load_config, parse_overrides
from lmcore.config import ConfigError

__all__ = ["main", "parse_args"]


def build_parser() -> argparse.ArgumentParser:
    ap = cli.parser("python -m lm_train.train", __doc__, cli.config_keys_epilog())
    ap.add_argument("--data", help="dataset directory or URL (holds manifest.json)")
    ap.add_argument(
        "--out", help="run directory: local path or fsspec URL (checkpoints, metrics, config, tensorboard)"
    )
    ap.add_argument("--config", help="YAML file of training config keys (listed below)")
    ap.add_argument(
        "--resume",
        default="never",
        help="'auto': continue from the newest checkpoint in --out if there is one; "
        "'never': start fresh; or a checkpoint path / run directory",
    )
    ap.add_argument("--init-from", help="load model weights only (new optimizer, schedule and data order)")
    ap.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective config as YAML and exit (needs no --data/--out)",
    )
    ap.add_argument(
        "overrides", nargs="*", metavar="key=value", help="config overrides, e.g. lr=1e-3 model=lstm"
    )
    return ap


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, dict[str, Any]]:
    ap = build_parser()
    args = cli.parse_with_overrides(ap, argv)
    try:
        overrides = parse_overrides(args.overrides)
    except ConfigError as exc:
        cli.fail(ap, str(exc))
    for key in ("data", "out", "config", "resume", "init_from"):
        if key in overrides:
            value = overrides.pop(key)
            if getattr(args, key) in (None, "never"):
                setattr(args, key, str(value))
    if not args.print_config and (not args.data or not args.out):
        cli.fail(ap, "--data and --out are required")
    return args, overrides


def main(argv: Sequence[str] | None = None) -> int:
    args, overrides = parse_args(argv)
    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as exc:
        print(cli.format_error("lm_train.train", exc), file=sys.stderr)
        return 2
    if args.print_config:
        print(cfg.to_yaml(), end="")
        return 0
    from lm_train.trainer import run  # torch: only once the arguments are known to be good

    return run(args, cfg)


if __name__ == "__main__":
    sys.exit(main())

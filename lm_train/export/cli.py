"""``python -m lm_train.export``: a run as a directory ``transformers`` loads with its Auto classes.

    python -m lm_train.export --checkpoint RUN --out DIR [--format hf] [--no-verify] [--overwrite]

``--checkpoint`` is a run directory (its newest checkpoint) or a ``step-*.pt`` file. What
each run becomes (``docs/export.md``):

* ``model=gpt mlp=swiglu`` (causal LM) -> ``LlamaForCausalLM`` (the same maths exactly);
* ``model=bert mlp=swiglu`` (masked LM) -> ``EuroBertForMaskedLM`` (Llama's layer, both directions);
* anything else is refused with the reason (``mlp=gelu`` has no exact architecture; RNN and
  seq2seq runs have no standard home in ``transformers``; classification heads not yet).

The directory is built beside ``--out`` under a temporary name, loaded back with
``transformers`` and checked (token ids, logits within 1e-4, greedy ``generate`` equal to
ours on English, Chinese and emoji texts; a masked LM has no generation to compare), then renamed into place: a directory under the
real name has passed. Exit 0 exported (and verified), 1 the verification failed (nothing
left under ``--out``), 2 bad arguments or a run that cannot be exported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any

from lm_train import cli

PROG = "python -m lm_train.export"


def build_parser() -> argparse.ArgumentParser:
    doc = (__doc__ or "").split("\n\n", 1)
    ap = cli.parser(PROG, doc[0], doc[1] if len(doc) > 1 else None)
    ap.add_argument("--checkpoint", required=True, help="run directory or step-*.pt checkpoint")
    ap.add_argument("--out", required=True, help="the directory to write (local)")
    ap.add_argument("--format", default="hf", choices=["hf"], help="hf: a transformers model directory")
    ap.add_argument("--no-verify", action="store_true", help="skip loading it back with transformers")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    return ap


def validation_metrics(rundir: str) -> dict[str, Any]:
    """The run's last evaluation record (metrics.jsonl), without bookkeeping keys."""
    from lmcore import storage
    from lmcore.layout import METRICS_FILENAME

    path = storage.join(rundir, METRICS_FILENAME)
    if not storage.exists(path):
        return {}
    last: dict[str, Any] = {}
    for line in storage.read_text(path).splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("kind") == "eval":
            last = rec
    return {k: v for k, v in last.items() if k not in ("kind", "step", "tokens")}


def export_run(args: argparse.Namespace) -> dict[str, Any]:
    from lm_train.evaluate import read_trained
    from lm_train.export import hf_dir
    from lm_train.export.plan import plan_export
    from lm_train.generate import load_tokenizer, read_run_json, run_dir_of
    from lmcore import storage
    from lmcore.layout import TOKENIZER_FILENAME

    state, cfg, ckpt_path = read_trained(args.checkpoint)
    rundir = run_dir_of(ckpt_path)
    run_info = read_run_json(rundir)
    tokenizer = load_tokenizer(rundir, state)
    tokenizer_bytes = storage.read_bytes(storage.join(rundir, TOKENIZER_FILENAME))
    tok_info = run_info.get("tokenizer", {})
    plan = plan_export(state, cfg, tok_info, ckpt_path)
    out = os.path.abspath(args.out)
    if os.path.exists(out) and os.listdir(out) and not args.overwrite:
        raise FileExistsError(f"--out {out} exists and is not empty; pass --overwrite to replace it")
    staging = f"{out}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    card = hf_dir.model_card(
        {
            "name": os.path.basename(out),
            "architecture": plan.architecture,
            "auto_class": plan.auto_class,
            "run": rundir,
            "out": out,
            "data": run_info.get("data"),
            "dataset_version": run_info.get("dataset_version"),
            "dataset_fingerprint": state.get("dataset_fingerprint"),
            "objective": cfg.objective.name,
            "step": state.get("step", 0),
            "tokens": state.get("tokens", 0),
            "tokenizer_sha256": tok_info.get("sha256"),
            "vocab_size": state["vocab_size"],
            "validation": validation_metrics(rundir),
            "config": cfg.to_dict(),
        }
    )
    roles = hf_dir.special_tokens(tok_info)
    if plan.append_eos and "eos_token" in roles and tok_info.get("eos_id") is not None:
        tokenizer_bytes = hf_dir.with_eos_appended(
            tokenizer_bytes, roles["eos_token"], int(tok_info["eos_id"])
        )
    hf_dir.write_hf_dir(
        staging,
        plan.config,
        plan.tensors,
        tokenizer_bytes,
        hf_dir.tokenizer_config(roles, cfg.data.seq_len),
        plan.generation_config,
        card,
    )
    summary: dict[str, Any] = {"out": out, "architecture": plan.architecture, "verified": False}
    try:
        if not args.no_verify:
            summary["verification"] = plan.verify(staging, tokenizer).to_dict()
            summary["verified"] = True
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if os.path.exists(out):
        shutil.rmtree(out)
    os.replace(staging, out)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from lm_train.export.hf_gpt import UnsupportedExport
    from lm_train.export.verify import VerifyError
    from lm_train.trainer import user_errors

    started = time.monotonic()
    try:
        summary = export_run(args)
    except (UnsupportedExport, FileExistsError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except VerifyError as exc:
        print(f"{PROG}: error: the export does not reproduce the run: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(
            f"{PROG}: error: {exc}; install transformers and safetensors, or pass --no-verify",
            file=sys.stderr,
        )
        return 2
    except user_errors() as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    how = "verified with transformers" if summary["verified"] else "NOT verified (--no-verify)"
    print(
        f"exported {summary['architecture']} to {summary['out']} in {time.monotonic() - started:.1f}s, {how}",
        file=sys.stderr,
    )
    return 0

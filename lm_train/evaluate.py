"""Evaluate a trained run on one split of a dataset.

    python -m lm_train.evaluate --checkpoint RUN --data DIR [--split test] \\
        [--batch-size N] [--max-batches N] [--device auto]

``--checkpoint`` is a run directory (its newest checkpoint) or a ``step-*.pt`` file. The
run's objective (``objective=`` in its config) scores the split: causal LM reports
``loss``, ``perplexity`` and ``bits_per_byte``; masked LM ``loss`` and ``masked_accuracy``;
classification ``loss``, ``accuracy``, ``macro_f1``, per-class ``precision/<label>`` and
``recall/<label>`` and the ``confusion`` matrix; sequence-to-sequence (``objective=seq2seq``)
``loss`` and ``perplexity`` per target token, and ``exact_match``, ``bleu`` and ``chrf``
of the decoded targets (sacrebleu; ``bleu_tokenize`` says which BLEU tokenizer: ``zh`` for
Chinese targets, else ``13a``; see ``docs/seq2seq.md``), decoded greedily unless
``--beam-size``/``--length-penalty``/``--max-length`` say otherwise. The metrics are printed as JSON and
written to ``RUN/eval-<split>.json`` with the split, the checkpoint's step, what was
counted (``num_tokens`` / ``num_examples``) and the dataset fingerprint, so a number can
always be traced back to the data it came from.

The whole split is read once, in order (``--max-batches`` stops early, for a quick look);
the default split is ``test`` when the dataset has one, else ``validation``. A dataset
tokenized with another tokenizer than the run's is refused (its ids would mean other
text), naming both. Bad arguments exit 2 with one line; a damaged run or dataset exits 1.

Bits per byte divides the summed loss (nats) by ln 2 × the UTF-8 bytes the predicted
tokens stand for (the loader's ``token_bytes``, from each document's ``num_bytes``), so
runs with different tokenizers are comparable.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from lm_train import cli

if TYPE_CHECKING:  # torch is imported where it is used, so that --help answers at once
    import torch
    from torch import nn


def summarize(loss_sum: float, num_tokens: float, num_bytes: float) -> dict[str, float]:
    """Summed nats, predicted tokens and their bytes under the trainer's ``val_*`` record names."""
    if num_tokens <= 0:
        return {"val_loss": float("nan"), "val_ppl": float("nan"), "val_bpb": float("nan"), "val_tokens": 0}
    loss = loss_sum / num_tokens
    return {
        "val_loss": loss,
        "val_ppl": math.exp(min(loss, 80.0)),
        "val_bpb": loss_sum / (math.log(2) * num_bytes) if num_bytes > 0 else float("nan"),
        "val_tokens": int(num_tokens),
    }


# -- the command ------------------------------------------------------------------------------------
PROG = "python -m lm_train.evaluate"
MAX_VOCAB_SIZE = 2**32
SPLIT_ORDER = ("test", "validation", "train")  # the default split: the first the dataset has


class EvaluateError(ValueError):
    """Arguments that do not fit the run or the dataset: exit 2 with this line."""


def eval_filename(split: str) -> str:
    """``eval-<split>.json``: one file per split, so evaluating the test split never hides validation."""
    return f"eval-{split}.json"


def choose_split(requested: str | None, available: Sequence[str]) -> str:
    """``requested`` if the dataset has shards of it; by default test, else validation."""
    if requested is None:
        for split in SPLIT_ORDER:
            if split in available:
                return split
        raise EvaluateError("the dataset lists no shard of any split")
    if requested not in available:
        has = ", ".join(s for s in SPLIT_ORDER if s in available) or "none"
        raise EvaluateError(f"--split {requested}: the dataset has no {requested!r} shards (it has: {has})")
    return requested


def tokenizer_mismatch(run_sha: str | None, run: str, data_sha: str, data: str) -> str | None:
    """Why the dataset's token ids cannot be fed to the run's model, or None."""
    if run_sha is None or run_sha == data_sha:
        return None
    return (
        f"the dataset {data} was tokenized with tokenizer sha256 {data_sha[:16]}..., the run {run} "
        f"was trained with sha256 {run_sha[:16]}...: the token ids mean different text; evaluate on "
        "a dataset tokenized with the run's tokenizer"
    )


def eval_record(
    metrics: Mapping[str, Any], split: str, step: int, fingerprint: str, checkpoint: str
) -> dict[str, Any]:
    """What ``eval-<split>.json`` holds: the objective's flat metrics and where they come from."""
    return {
        **metrics,
        "split": split,
        "step": step,
        "dataset": fingerprint,
        "checkpoint": checkpoint,
    }


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line and exit 2 (no usage block to scroll past)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog=PROG, description=__doc__, formatter_class=cli.HelpFormatter)
    ap.add_argument(
        "--checkpoint",
        required=True,
        help="run directory (its newest checkpoint) or a checkpoint file RUN/checkpoints/step-N.pt; "
        "local path or fsspec URL",
    )
    ap.add_argument("--data", required=True, help="dataset directory or URL (holds manifest.json)")
    ap.add_argument(
        "--split",
        choices=SPLIT_ORDER,
        help="split to score (default: test if the dataset has one, else validation)",
    )
    ap.add_argument(
        "--batch-size", type=positive_int, help="sequences per forward pass (default: the run's batch_size)"
    )
    ap.add_argument(
        "--max-batches", type=positive_int, help="stop after this many batches (default: the whole split)"
    )
    ap.add_argument(
        "--device", default="auto", help="auto (cuda when available, else cpu), cpu, cuda or cuda:N"
    )
    add_decoding_arguments(ap)
    return ap


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def add_decoding_arguments(ap: argparse.ArgumentParser) -> None:
    """``--beam-size``, ``--length-penalty``, ``--max-length``: how a seq2seq run decodes."""
    ap.add_argument(
        "--beam-size", type=positive_int, help="seq2seq: beams (1: greedy; default: the run's beam_size)"
    )
    ap.add_argument(
        "--length-penalty",
        type=non_negative_float,
        help="seq2seq: GNMT length penalty alpha of beam search (default: the run's length_penalty)",
    )
    ap.add_argument(
        "--max-length",
        type=positive_int,
        help="seq2seq: most target tokens decoded (default: the run's max_decode_len or max_target_len)",
    )


def decoding_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The objective settings the decoding flags override (only those given)."""
    pairs = (
        ("beam_size", "beam_size"),
        ("length_penalty", "length_penalty"),
        ("max_length", "max_decode_len"),
    )
    return {
        f"objective.{key}": getattr(args, flag)
        for flag, key in pairs
        if getattr(args, flag, None) is not None
    }


def resolve_device(name: str) -> torch.device:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise EvaluateError(f"--device {name}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EvaluateError(f"--device {name}: no CUDA device is available")
    return device


def run_tokenizer_sha(rundir: str, state: Mapping[str, Any]) -> str | None:
    """The sha256 of the tokenizer the model was trained with (checkpoint, else run.json)."""
    from lm_train.generate import read_run_json

    sha = state.get("tokenizer_sha256")
    if isinstance(sha, str):
        return sha
    return read_run_json(rundir).get("tokenizer", {}).get("sha256")


def autocast_for(cfg: Any, device: torch.device) -> Callable[[], AbstractContextManager]:
    """The trainer's mixed precision on this device (bfloat16 on a GPU that has it, by default)."""
    import torch

    from lm_train.trainer import resolve_dtype

    dtype = resolve_dtype(cfg, device)
    if dtype == torch.float32:
        return nullcontext
    return lambda: torch.autocast(device.type, dtype=dtype)


def _vocab_size(state: Mapping[str, Any], path: str) -> int:
    """The checkpoint's vocabulary size, refused unless its embedding has that many rows
    (checked before the model is built, so a forged number allocates nothing)."""
    from lm_train.checkpoint import CheckpointError

    vocab = state["vocab_size"]
    names = [k for k in state["model"] if k == "embed.weight" or k.endswith(".embed.weight")]
    embed = state["model"][names[0]] if names else None
    rows = embed.shape[0] if getattr(embed, "ndim", 0) else None
    if not 0 < vocab <= MAX_VOCAB_SIZE or rows != vocab:
        raise CheckpointError(
            f"checkpoint {path}: vocab_size {vocab} does not match its embedding ({rows} rows); it is damaged"
        )
    return vocab


def read_trained(path: str, overrides: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], Any, str]:
    """(the checkpoint, its config with ``overrides``, the checkpoint file) of a run dir or .pt file.

    ``overrides`` are settings that do not change the network (the batch size)."""
    from lm_train.checkpoint import load_checkpoint, require, resolve_checkpoint
    from lm_train.config import TrainConfig
    from lm_train.rundir import normalize_rundir

    ckpt_path = resolve_checkpoint(normalize_rundir(path))
    state = load_checkpoint(ckpt_path)
    require(state, ckpt_path, {"model": dict, "config": dict, "vocab_size": int, "step": int})
    cfg = TrainConfig.from_dict(state["config"], f"{ckpt_path}: config")
    if overrides:
        cfg = TrainConfig.from_layers([cfg.to_dict(), overrides], f"{ckpt_path}: config")
    return state, cfg, ckpt_path


def build_trained(state: Mapping[str, Any], cfg: Any, objective: Any, ckpt_path: str) -> nn.Module:
    """The objective's network (a classification run's body with its head) with the checkpoint's
    weights, in eval mode; tensors that do not fit are refused naming the first."""
    from lm_train.checkpoint import check_model_state
    from lm_train.models import build_model

    model = objective.build_model(build_model(cfg, _vocab_size(state, ckpt_path)))
    check_model_state(state["model"], model, ckpt_path)
    model.load_state_dict(state["model"])
    model.eval()
    return model


def load_trained(
    path: str, manifest: Any, overrides: Mapping[str, Any] | None = None
) -> tuple[nn.Module, Any, Any, dict[str, Any], str]:
    """(model in eval mode, its config, its objective, the checkpoint, the run directory); the
    objective is built over ``manifest`` (the dataset scored, whose labels it reads)."""
    from lm_train.generate import run_dir_of
    from lm_train.objectives import OBJECTIVES

    state, cfg, ckpt_path = read_trained(path, overrides)
    objective = OBJECTIVES[cfg.objective.name](cfg, manifest)
    return build_trained(state, cfg, objective, ckpt_path), cfg, objective, state, run_dir_of(ckpt_path)


def evaluate_run(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """Load the run and the dataset, check they fit, score the split; (record, path written)."""
    from lmcore import storage
    from schemas import load_manifest

    device = resolve_device(args.device)
    manifest = load_manifest(args.data)
    split = choose_split(args.split, sorted({s.split for s in manifest.shards}))
    overrides = {"batch_size": args.batch_size} if args.batch_size else {}
    overrides.update(decoding_overrides(args))
    model, cfg, objective, state, rundir = load_trained(args.checkpoint, manifest, overrides)
    problem = tokenizer_mismatch(
        run_tokenizer_sha(rundir, state), rundir, manifest.tokenizer.sha256, args.data
    )
    if problem:
        raise EvaluateError(problem)
    objective.check_dataset(args.data)
    loader = objective.make_loader(args.data, split, 0, 1, 1)  # one pass over the split, in order
    batches = itertools.islice(iter(loader), args.max_batches)
    metrics = objective.evaluate(model.to(device), batches, device=device, autocast=autocast_for(cfg, device))
    record = eval_record(metrics, split, int(state["step"]), manifest.fingerprint, args.checkpoint)
    path = storage.join(rundir, eval_filename(split))
    storage.atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return record, path


def main(argv: Sequence[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    import torch

    from lm_train.trainer import user_errors

    torch.set_num_threads(min(torch.get_num_threads(), int(os.environ.get("OMP_NUM_THREADS", "4"))))
    try:
        record, path = evaluate_run(args)
    except EvaluateError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except user_errors() as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sample text from a trained run.

    python -m lm_train.generate --checkpoint RUNDIR --prompt "In the beginning" \\
        [--temperature 0.8] [--top-k 40] [--max-new-tokens 100] [--seed 0]

``--checkpoint`` is a run directory (its newest checkpoint) or a ``step-*.pt`` file. The
tokenizer is the copy of the dataset's ``tokenizer.json`` the trainer recorded in the run
directory, so generation works after the dataset has moved. Generation stops at the
end-of-document token or after ``--max-new-tokens``; the context is cropped to the
trained ``seq_len``. ``--temperature 0`` is greedy decoding.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lm_train import cli
from lm_train.config import TrainConfig
from lm_train.rundir import normalize_rundir
from lmcore import storage
from lmcore.layout import RUN_FILENAME, TOKENIZER_FILENAME

if TYPE_CHECKING:  # torch is imported where it is used, so that --help answers at once
    import torch
    from torch import nn


def run_dir_of(checkpoint_path: str) -> str:
    """``RUNDIR`` of ``RUNDIR/checkpoints/step-N.pt``."""
    return checkpoint_path.rsplit("/", 2)[0] if "/" in checkpoint_path else "."


MAX_VOCAB_SIZE = 2**32
PREDICT_OBJECTIVES = ("classify", "seq2seq")  # their runs answer inputs (lm_train.predict), not prompts


def _check_vocab(state: dict[str, Any], path: str) -> int:
    """The checkpoint's vocabulary size, refused unless its embedding has that many rows
    (checked before the model is built, so a forged number allocates nothing)."""
    from lm_train.checkpoint import CheckpointError

    vocab = state["vocab_size"]
    embed = state["model"].get("embed.weight")
    rows = getattr(embed, "shape", (None,))[0] if getattr(embed, "ndim", 0) else None
    if not 0 < vocab <= MAX_VOCAB_SIZE or rows != vocab:
        raise CheckpointError(
            f"checkpoint {path}: vocab_size {vocab} does not match its embedding ({rows} rows); it is damaged"
        )
    return vocab


def load_run(path: str) -> tuple[nn.Module, TrainConfig, dict[str, Any], str]:
    """(model in eval mode, its config, the checkpoint, the run directory) from a run dir or .pt file."""
    from lm_train.checkpoint import (
        CheckpointError,
        check_model_state,
        load_checkpoint,
        require,
        resolve_checkpoint,
    )
    from lm_train.models import build_model

    ckpt_path = resolve_checkpoint(normalize_rundir(path))
    state = load_checkpoint(ckpt_path)
    require(state, ckpt_path, {"model": dict, "config": dict, "vocab_size": int, "step": int})
    cfg = TrainConfig.from_dict(state["config"], f"{ckpt_path}: config")
    if cfg.objective.name in PREDICT_OBJECTIVES:
        raise CheckpointError(
            f"{ckpt_path} is an objective={cfg.objective.name} run, which does not continue text; "
            f"use python -m lm_train.predict --checkpoint {run_dir_of(ckpt_path)} --input IN.jsonl --output OUT.jsonl"
        )
    model = build_model(cfg, _check_vocab(state, ckpt_path))
    check_model_state(state["model"], model, ckpt_path)
    model.load_state_dict(state["model"])
    model.eval()
    return model, cfg, state, run_dir_of(ckpt_path)


def read_run_json(rundir: str) -> dict[str, Any]:
    """``RUNDIR/run.json`` ({} when there is none); a damaged one is refused, naming it."""
    from lm_train.checkpoint import CheckpointError

    path = storage.join(rundir, RUN_FILENAME)
    if not storage.exists(path):
        return {}
    try:
        info = json.loads(storage.read_text(path))
    except (ValueError, OSError) as exc:
        raise CheckpointError(
            f"{path} is damaged (not JSON: {exc}); lm_train.train rewrites it on --resume"
        ) from exc
    tok = info.get("tokenizer") if isinstance(info, dict) else None
    if (
        not isinstance(tok, dict)
        or not isinstance(tok.get("eos_id"), int | None)
        or not isinstance(tok.get("sha256"), str)
    ):
        raise CheckpointError(f"{path} is damaged (no tokenizer record with eos_id and sha256)")
    return info


def load_tokenizer(rundir: str, state: dict[str, Any] | None = None) -> Any:
    """The run's ``tokenizer.json``, refused unless it is the one the model was trained with
    (sha256 from the checkpoint, else from ``run.json``)."""
    from lm_train.checkpoint import CheckpointError
    from lm_train.tokenizer_file import check_bytes, load_tokenizer_bytes

    path = storage.join(rundir, TOKENIZER_FILENAME)
    if not storage.exists(path):
        raise CheckpointError(f"{rundir} has no tokenizer.json (was it written by lm_train.train?)")
    data = storage.read_bytes(path)
    expected = (state or {}).get("tokenizer_sha256") or read_run_json(rundir).get("tokenizer", {}).get(
        "sha256"
    )
    if isinstance(expected, str):
        check_bytes(data, path, expected)
    return load_tokenizer_bytes(data, path)


def sample_next(logits: torch.Tensor, temperature: float, top_k: int, generator: torch.Generator) -> int:
    """One token id from the last position's logits ``[vocab]``."""
    import torch

    if temperature <= 0:
        return int(logits.argmax())
    logits = logits.float() / temperature
    if 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def generate_ids(
    model: nn.Module,
    prompt_ids: list[int],
    max_new_tokens: int,
    max_context: int,
    temperature: float = 0.8,
    top_k: int = 40,
    eos_id: int | None = None,
    seed: int = 0,
) -> list[int]:
    """Autoregressive sampling (the whole context is re-run each step: simple, fine for short outputs)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    ids = list(prompt_ids)
    new: list[int] = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            context = torch.tensor([ids[-max_context:]], dtype=torch.long)
            hidden = model(context)
            token = sample_next(model.logits(hidden[:, -1])[0], temperature, top_k, generator)
            if token == eos_id:
                break
            ids.append(token)
            new.append(token)
    return new


def eos_of(rundir: str, tokenizer: Any) -> int | None:
    info = read_run_json(rundir)
    if info:
        return info["tokenizer"]["eos_id"]
    return tokenizer.token_to_id("<|endoftext|>")


def check_prompt(prompt_ids: list[int], vocab_size: int) -> str | None:
    """Why the prompt cannot be fed to the model, or None."""
    if not prompt_ids:
        return "the prompt encodes to no token"
    if max(prompt_ids) >= vocab_size:
        return (
            f"the prompt encodes to id {max(prompt_ids)}, beyond the model's {vocab_size} ids: "
            "the run's tokenizer.json is not the one it was trained with"
        )
    return None


def build_parser() -> argparse.ArgumentParser:
    ap = cli.parser("python -m lm_train.generate", __doc__)
    ap.add_argument(
        "--checkpoint",
        required=True,
        help="run directory (its newest checkpoint) or a checkpoint file RUNDIR/checkpoints/step-N.pt; "
        "local path or fsspec URL",
    )
    ap.add_argument("--prompt", required=True, help="text the sample continues (printed with it)")
    ap.add_argument(
        "--temperature", type=float, default=0.8, help="softmax temperature; 0 is greedy decoding"
    )
    ap.add_argument(
        "--top-k", type=int, default=40, help="sample among the k most likely tokens only; 0: all"
    )
    ap.add_argument(
        "--max-new-tokens",
        type=int,
        default=100,
        help="stop after this many new tokens (or earlier, at the end-of-document token)",
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the sampling RNG (same seed, same text)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from lm_train.checkpoint import CheckpointError

    torch.set_num_threads(min(torch.get_num_threads(), int(os.environ.get("OMP_NUM_THREADS", "4"))))
    try:
        model, cfg, state, rundir = load_run(args.checkpoint)
        tokenizer = load_tokenizer(rundir, state)
        eos = eos_of(rundir, tokenizer)
    except (CheckpointError, ValueError) as exc:
        print(f"lm_train.generate: error: {exc}", file=sys.stderr)
        return 1
    prompt_ids = tokenizer.encode(args.prompt, add_special_tokens=False).ids
    problem = check_prompt(prompt_ids, int(state["vocab_size"]))
    if problem:
        print(f"lm_train.generate: error: {problem}", file=sys.stderr)
        return 1
    new = generate_ids(
        model, prompt_ids, args.max_new_tokens, cfg.data.seq_len, args.temperature, args.top_k, eos, args.seed
    )
    text = tokenizer.decode(prompt_ids + new, skip_special_tokens=True)
    print(f"[{cfg.model.name}, step {state['step']}, {len(new)} new tokens]")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

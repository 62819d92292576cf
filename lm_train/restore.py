"""Starting from a checkpoint: finding it, refusing one that is not this run's, loading its state.

``--resume`` continues a run exactly (model, optimizer, schedule, data position, every
rank's RNG); ``--init-from`` takes the weights only. A checkpoint of another dataset or
config, or with a damaged entry, is one ``CheckpointError`` that says what to do instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from lm_train import checkpoint as ckpt
from lm_train.config import TrainConfig
from lm_train.distributed import all_gather_object
from lm_train.resume import BatchSplit, checkpoint_batch_split, config_differences, global_batch_mismatch

# What a checkpoint must hold to be resumed (``ckpt.require``).
RESUME_KINDS: dict[str, type | tuple[type, ...]] = {
    "model": dict,
    "optimizer": dict,
    "scheduler": dict,
    "loader": dict,
    "rng": list,
    "step": int,
    "tokens": int,
    "config": dict,
}


def find_resume(resume: str | None, out: str) -> tuple[str | None, dict[str, Any] | None]:
    """(path, state) of the checkpoint ``--resume`` names (``auto``: the newest in ``out``), or
    (None, None); a fresh start into a directory that holds checkpoints is refused."""
    path = None
    if resume == "auto":
        path = ckpt.latest_checkpoint(out)
    elif resume not in ("never", "", None):
        path = ckpt.resolve_checkpoint(resume)
    if path is None:
        if ckpt.list_checkpoints(out):
            raise ckpt.CheckpointError(
                f"{out} already holds checkpoints; pass --resume auto to continue that run, or choose another --out"
            )
        return None, None
    state = ckpt.load_checkpoint(path)
    ckpt.require(state, path, RESUME_KINDS)
    return path, state


def check_resumable(
    state: dict[str, Any], path: str, data: str, fingerprint: str, cfg: TrainConfig, split: BatchSplit
) -> None:
    """Refuse a checkpoint of another dataset, another config or another global batch."""
    if state.get("dataset_fingerprint") != fingerprint:
        raise ckpt.CheckpointError(
            f"checkpoint {path} was trained on dataset {state.get('dataset_fingerprint')}, "
            f"but {data} is {fingerprint}; use --init-from to start a new run from it"
        )
    diff = config_differences(state.get("config", {}), cfg.to_dict())
    if diff:
        raise ckpt.CheckpointError(
            f"checkpoint {path} was written with a different config: "
            + ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
        )
    mismatch = global_batch_mismatch(checkpoint_batch_split(state), split)
    if mismatch:
        raise ckpt.CheckpointError(f"checkpoint {path} cannot be resumed: {mismatch}")


def check_same_tokenizer(init: dict[str, Any], path: str, tokenizer_sha256: str, data: str) -> None:
    """Refuse weights trained with another tokenizer: the same ids would mean other tokens."""
    theirs = init.get("tokenizer_sha256")
    if theirs is not None and theirs != tokenizer_sha256:
        raise ckpt.CheckpointError(
            f"--init-from {path} was trained with tokenizer sha256 {theirs}, but {data} is tokenized with "
            f"sha256 {tokenizer_sha256}; tokenize the task data with that run's tokenizer "
            "(prepare_task --tokenizer=PRETRAIN_DATASET_DIR)"
        )


def init_weights(
    model: nn.Module, source: str, tokenizer_sha256: str | None = None, data: str = "the dataset"
) -> int | None:
    """``--init-from``: the weights only, refused when they were trained with another tokenizer,
    do not fit ``model`` or are not finite; returns the step they were saved at. ``source`` may
    also be a Hugging Face directory of an architecture the export writes (``lm_train.export``)."""
    from lm_train.export.hf_import import hf_state_dict, is_hf_dir

    if is_hf_dir(source):
        state = hf_state_dict(source, model, tokenizer_sha256, data)
        ckpt.check_model_state(state, model, source)
        model.load_state_dict(state)
        return None
    path = ckpt.resolve_checkpoint(source)
    init = ckpt.load_checkpoint(path)
    ckpt.require(init, path, {"model": dict})
    if tokenizer_sha256 is not None:
        check_same_tokenizer(init, path, tokenizer_sha256, data)
    ckpt.check_model_state(init["model"], model, path)
    model.load_state_dict(init["model"])
    return init.get("step")


def restore_model(model: nn.Module, state: dict[str, Any], path: str) -> None:
    ckpt.check_model_state(state, model, path)
    model.load_state_dict(state)


def restore_optimizer(optimizer: torch.optim.Optimizer, state: dict[str, Any], path: str) -> None:
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
        raise ckpt.CheckpointError(
            f"checkpoint {path}: the optimizer state does not fit this model ({exc})"
        ) from exc
    ckpt.check_optimizer_state(optimizer, path)


def check_counters(state: dict[str, Any], path: str) -> None:
    """The scheduler's step, the checkpoint's step and its token count must agree."""
    step = state["scheduler"].get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step != state["step"] or state["tokens"] < 0:
        raise ckpt.CheckpointError(
            f"checkpoint {path}: scheduler step {step!r}, step {state['step']!r} and tokens {state['tokens']!r} "
            "do not agree; it is damaged"
        )


def restore_rng(states: list[dict[str, Any]], rank: int, seed: int, step: int, path: str) -> None:
    """Each rank continues its own RNG stream; a rank the checkpoint did not have gets a fresh one."""
    if rank >= len(states):
        torch.manual_seed(seed + 7919 * rank + 104729 * step)
        return
    try:
        ckpt.restore_rng(states[rank])
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError, AttributeError) as exc:
        raise ckpt.CheckpointError(
            f"checkpoint {path}: the RNG state of rank {rank} is damaged "
            f"({type(exc).__name__}: {exc}); resume from another checkpoint, or --init-from for the weights"
        ) from exc


class RankRNG:
    """The RNG streams of every rank as one checkpoint part: saving gathers them (a collective),
    loading gives each rank its own (``restore_rng``)."""

    def __init__(self, rank: int, seed: int, step: Callable[[], int]) -> None:
        self.rank, self.seed, self.step = rank, seed, step

    def state_dict(self) -> list[dict[str, Any]]:
        return all_gather_object(ckpt.capture_rng())

    def load_state_dict(self, states: list[dict[str, Any]]) -> None:
        self.load(states, "the checkpoint")

    def load(self, states: list[dict[str, Any]], path: str) -> None:
        restore_rng(states, self.rank, self.seed, self.step(), path)


def pretrained_embedding(
    source: str, tokenizer_sha256: str | None, data: str, shape: tuple[int, int]
) -> tuple[torch.Tensor, int | None]:
    """``--init-from`` for a seq2seq run: the token embedding (``embed.weight``, or a classify
    run's ``body.embed.weight``) of any trained run, and the step it was saved at; refused
    for another tokenizer, another vocabulary size or another ``d_model``, each named."""
    path = ckpt.resolve_checkpoint(source)
    init = ckpt.load_checkpoint(path)
    ckpt.require(init, path, {"model": dict})
    if tokenizer_sha256 is not None:
        check_same_tokenizer(init, path, tokenizer_sha256, data)
    tensors = init["model"]
    names = (
        ["embed.weight"]
        if "embed.weight" in tensors
        else sorted(k for k in tensors if k.endswith(".embed.weight"))
    )
    if len(names) != 1 or not isinstance(tensors[names[0]], torch.Tensor) or tensors[names[0]].ndim != 2:
        raise ckpt.CheckpointError(f"--init-from {path}: no token embedding (embed.weight) in its model")
    weight = tensors[names[0]]
    rows, width = weight.shape
    if rows != shape[0]:
        raise ckpt.CheckpointError(
            f"--init-from {path}: its embedding has {rows:,} token ids, {data}'s tokenizer {shape[0]:,}; "
            "tokenize the pairs with that run's tokenizer (prepare_task --tokenizer=PRETRAIN_DATASET_DIR)"
        )
    if width != shape[1]:
        raise ckpt.CheckpointError(
            f"--init-from {path}: its embedding is {width} wide (d_model={width}), this model's d_model is "
            f"{shape[1]}; set d_model={width}"
        )
    ckpt.check_finite({names[0]: weight}, "model tensor", path)
    return weight, init.get("step")

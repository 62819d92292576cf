"""``--init-from`` a Hugging Face model directory: the inverse of the export, for the same architectures.

A directory with ``config.json`` and ``model.safetensors`` whose architecture is one the export
writes (``LlamaForCausalLM``, ``EuroBertForMaskedLM`` and their sequence classifiers, whose
body is read and whose label head is left to the new task) and whose maths ours computes (SiLU-gated
MLP, no biases, one key/value head per query head, the model's RoPE base) is read back under our
names: an exported model continues training here, and so does one of the same architecture
made elsewhere. Its ``tokenizer.json`` must be the dataset's, byte for byte (same sha256), or
the same ids would mean other tokens.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from lm_train.checkpoint import CheckpointError
from lm_train.export.hf_gpt import gpt_state_dict
from schemas import sha256_bytes

# the sequence classifiers are read as bodies: their label head is the task's, not the run's
ARCHITECTURES = (
    "LlamaForCausalLM",
    "EuroBertForMaskedLM",
    "LlamaForSequenceClassification",
    "EuroBertForSequenceClassification",
)


def is_hf_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json")) and os.path.isfile(
        os.path.join(path, "model.safetensors")
    )


def refusal(config: dict[str, Any], model: nn.Module) -> str | None:
    """Why ``config`` does not describe ``model``'s maths (None when it does)."""
    arch = (config.get("architectures") or ["?"])[0]
    if arch not in ARCHITECTURES:
        return f"architecture {arch} is not one lmforge reads ({', '.join(ARCHITECTURES)})"
    checks = {
        "hidden_act": (config.get("hidden_act"), "silu"),
        "attention_bias": (bool(config.get("attention_bias")), False),
        "mlp_bias": (bool(config.get("mlp_bias")), False),
        "num_key_value_heads": (
            config.get("num_key_value_heads", config.get("num_attention_heads")),
            config.get("num_attention_heads"),
        ),
        "num_attention_heads": (config.get("num_attention_heads"), getattr(model, "n_head", None)),
        "model.mlp": (getattr(model, "mlp", None), "swiglu"),
    }
    theta = (config.get("rope_parameters") or {}).get("rope_theta", config.get("rope_theta"))
    checks["rope_theta"] = (
        float(theta) if theta is not None else None,
        float(getattr(model, "rope_theta", 0.0)),
    )
    for key, (found, wanted) in checks.items():
        if found != wanted:
            return f"{key} is {found!r}, this model needs {wanted!r}"
    return None


def without_post_processor(tokenizer_json: bytes) -> Any:
    spec = json.loads(tokenizer_json)
    spec.pop("post_processor", None)
    return spec


def same_but_post_processor(theirs: bytes | None, data: str) -> bool:
    """``theirs`` is the dataset's tokenizer but for the post-processor (a classifier export's,
    which appends eos when special tokens are added: ids without special tokens are the same)."""
    from lmcore import storage
    from schemas import load_manifest

    if theirs is None:
        return False
    try:
        manifest = load_manifest(data)
        ours = storage.read_bytes(manifest.path_of(manifest.tokenizer.file))
        return without_post_processor(theirs) == without_post_processor(ours)
    except (OSError, ValueError):
        return False


def hf_state_dict(path: str, model: nn.Module, tokenizer_sha256: str | None, data: str) -> dict[str, Tensor]:
    """The directory's weights under our GPT/BERT names, refused (``CheckpointError``, one line for the trainer) when its
    architecture or tokenizer is not ``model``'s."""
    from safetensors.torch import load_file

    config = json.loads(Path(path, "config.json").read_text(encoding="utf-8"))
    problem = refusal(config, model)
    if problem:
        raise CheckpointError(f"--init-from {path}: {problem}")
    tok_path = os.path.join(path, "tokenizer.json")
    if tokenizer_sha256 is not None:
        theirs_tok = Path(tok_path).read_bytes() if os.path.isfile(tok_path) else None
        found = sha256_bytes(theirs_tok) if theirs_tok is not None else None
        if found != tokenizer_sha256 and not same_but_post_processor(theirs_tok, data):
            raise CheckpointError(
                f"--init-from {path}: its tokenizer.json (sha256 {found}) is not {data}'s ({tokenizer_sha256}); "
                "tokenize the data with that tokenizer"
            )
    theirs = load_file(os.path.join(path, "model.safetensors"))
    tied = bool(config.get("tie_word_embeddings", True)) or "lm_head.weight" not in theirs
    try:
        return gpt_state_dict(theirs, int(config["num_hidden_layers"]), tied)
    except KeyError as exc:
        raise CheckpointError(f"--init-from {path}: model.safetensors has no tensor {exc}") from None

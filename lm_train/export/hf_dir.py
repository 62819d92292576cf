"""Writing a Hugging Face model directory: config, safetensors weights, tokenizer files, card.

Every file is written to a temporary name and renamed (``lmcore.storage.atomic_write_bytes``),
``config.json`` last, so a directory that has one is complete. The tokenizer is our own
``tokenizer.json`` byte for byte (``PreTrainedTokenizerFast`` reads it as is), with
``tokenizer_config.json`` naming its special tokens; documents were encoded without added
tokens and ended with ``<|endoftext|>``, so ``add_bos_token``/``add_eos_token`` are off. A
classifier read each text followed by ``<|endoftext|>``: its export's ``tokenizer.json`` gains
a post-processor that appends it when special tokens are added (``tok(text)``, what
``pipeline("text-classification")`` calls), and is otherwise ours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from lmcore import storage

CARD_FILENAME = "README.md"
WEIGHTS_FILENAME = "model.safetensors"
SPECIAL_ROLES = {"<|endoftext|>": "eos_token", "<|pad|>": "pad_token", "<|mask|>": "mask_token"}


def special_tokens(tokenizer_info: Mapping[str, Any]) -> dict[str, str]:
    """``eos_token``/``pad_token``/``mask_token`` -> token text, from the manifest's tokenizer record."""
    roles = {}
    for text in tokenizer_info.get("special_tokens", {}):
        if text in SPECIAL_ROLES:
            roles[SPECIAL_ROLES[text]] = text
    return roles


def with_eos_appended(tokenizer_bytes: bytes, eos_token: str, eos_id: int) -> bytes:
    """Our tokenizer.json whose ``tok(text)`` ends with eos (``add_special_tokens=False`` unchanged)."""
    from tokenizers import Tokenizer, processors

    tok = Tokenizer.from_str(tokenizer_bytes.decode("utf-8"))
    eos = processors.TemplateProcessing(
        single=f"$A {eos_token}", pair=f"$A {eos_token} $B {eos_token}", special_tokens=[(eos_token, eos_id)]
    )
    tok.post_processor = eos if tok.post_processor is None else processors.Sequence([tok.post_processor, eos])
    return tok.to_str().encode("utf-8")


def tokenizer_config(roles: Mapping[str, str], max_length: int) -> dict[str, Any]:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        **roles,
    }


def generation_config(special: Mapping[str, int | None], max_length: int) -> dict[str, Any]:
    return {
        "eos_token_id": special.get("eos_token_id"),
        "pad_token_id": special.get("pad_token_id"),
        "do_sample": False,
        "max_length": max_length,
    }


def model_card(info: Mapping[str, Any]) -> str:
    """A short README: what the model is, what it was trained on, how far, how well, how to load it."""
    lines = [
        f"# {info['name']}",
        "",
        f"A {info['architecture']} exported by lmforge (`python -m lm_train.export`) from `{info['run']}`.",
        "Load it with `transformers` and no custom code:",
        "",
        "```python",
        f"from transformers import AutoTokenizer, {info['auto_class']}",
        f'tok = AutoTokenizer.from_pretrained("{info["out"]}")',
        f'model = {info["auto_class"]}.from_pretrained("{info["out"]}")',
        "```",
        "",
        "## Training",
        "",
        f"- dataset: `{info.get('data')}`, version {info.get('dataset_version')}, fingerprint `{info.get('dataset_fingerprint')}`",
        f"- objective: {info.get('objective')}; step {info.get('step'):,}, {info.get('tokens'):,} tokens seen",
        f"- tokenizer sha256 `{info.get('tokenizer_sha256')}` ({info.get('vocab_size'):,} ids)",
        "",
        "## Validation",
        "",
    ]
    metrics = info.get("validation") or {}
    lines += [f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}" for k, v in metrics.items()] or [
        "- none recorded"
    ]
    lines += ["", "## Config", "", "```json", json.dumps(info.get("config", {}), indent=2), "```", ""]
    return "\n".join(lines)


def write_json(path: str, obj: Any) -> None:
    storage.atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode())


def write_weights(path: str, tensors: Mapping[str, Tensor]) -> None:
    from safetensors.torch import save

    storage.atomic_write_bytes(path, save(dict(tensors), metadata={"format": "pt"}))


def write_hf_dir(
    out: str,
    config: Mapping[str, Any],
    tensors: Mapping[str, Tensor],
    tokenizer_bytes: bytes,
    tok_config: Mapping[str, Any],
    gen_config: Mapping[str, Any] | None,
    card: str,
) -> None:
    """The whole directory; ``config.json`` last."""
    storage.makedirs(out)
    write_weights(storage.join(out, WEIGHTS_FILENAME), tensors)
    storage.atomic_write_bytes(storage.join(out, "tokenizer.json"), tokenizer_bytes)
    write_json(storage.join(out, "tokenizer_config.json"), dict(tok_config))
    roles = {k: v for k, v in tok_config.items() if k.endswith("_token") and isinstance(v, str)}
    write_json(storage.join(out, "special_tokens_map.json"), roles)
    if gen_config is not None:
        write_json(storage.join(out, "generation_config.json"), dict(gen_config))
    storage.atomic_write_bytes(storage.join(out, CARD_FILENAME), card.encode())
    write_json(storage.join(out, "config.json"), dict(config))

"""Our GPT as a Hugging Face ``LlamaForCausalLM`` (and our BERT as ``EuroBertForMaskedLM``): the
same maths, weights renamed and split.

A ``model=gpt`` block is pre-norm RMSNorm → attention with rotary embeddings (rotate-half
layout, the one Llama uses) → RMSNorm → MLP, no biases, a final RMSNorm and a head that may
share the embedding. With ``mlp=swiglu`` that is exactly Llama's decoder layer, so the
export is a renaming plus one split (our fused ``qkv`` into ``q_proj``/``k_proj``/``v_proj``).
GPT-2's ungated GELU MLP (``mlp=gelu``, the default) has no architecture in ``transformers``
with RMSNorm and rotary embeddings, so such a run is refused rather than exported approximately.

``nn.RMSNorm`` with no ``eps`` uses the dtype's machine epsilon (float32: 2⁻²³), which is
what ``rms_norm_eps`` is set to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


class UnsupportedExport(ValueError):
    """A run whose model has no exact ``transformers`` architecture; the message says why."""


def check_exportable(model_cfg: Any, target: str = "LlamaForCausalLM") -> None:
    """Refuse a model with no exact ``transformers`` architecture (dropout is off at inference and
    changes nothing exported)."""
    if getattr(model_cfg, "mlp", "gelu") != "swiglu":
        raise UnsupportedExport(
            f"model={model_cfg.name} with mlp=gelu (GPT-2's ungated MLP) has no exact transformers architecture "
            f"with RMSNorm and rotary embeddings; train with model.mlp=swiglu, which exports as {target}"
        )


def llama_config(
    model_cfg: Any, vocab_size: int, max_seq_len: int, d_ff: int, special: Mapping[str, int | None]
) -> dict:
    """``config.json`` of the equivalent ``LlamaForCausalLM``."""
    heads = model_cfg.n_head
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": model_cfg.d_model,
        "intermediate_size": d_ff,
        "num_hidden_layers": model_cfg.n_layer,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "head_dim": model_cfg.d_model // heads,
        "hidden_act": "silu",
        "max_position_embeddings": max_seq_len,
        "rms_norm_eps": FLOAT32_EPS,
        "rope_theta": float(model_cfg.rope_theta),
        "rope_parameters": {"rope_type": "default", "rope_theta": float(model_cfg.rope_theta)},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": bool(model_cfg.tie_embeddings),
        "initializer_range": 0.02,
        "use_cache": True,
        "torch_dtype": "float32",
        "bos_token_id": special.get("bos_token_id"),
        "eos_token_id": special.get("eos_token_id"),
        "pad_token_id": special.get("pad_token_id"),
    }


def eurobert_config(
    model_cfg: Any, vocab_size: int, max_seq_len: int, d_ff: int, special: Mapping[str, int | None]
) -> dict:
    """``config.json`` of the equivalent ``EuroBertForMaskedLM``: our bert is Llama's layer with
    attention in both directions, which is what EuroBERT is."""
    config = llama_config(model_cfg, vocab_size, max_seq_len, d_ff, special)
    config.update(
        architectures=["EuroBertForMaskedLM"],
        model_type="eurobert",
        mask_token_id=special.get("mask_token_id"),
        classifier_pooling="bos",
    )
    config.pop("use_cache", None)
    if config["mask_token_id"] is None:  # a classifier's tokenizer may have no mask token
        config.pop("mask_token_id")
    return config


def llama_state_dict(ours: Mapping[str, Tensor], n_layer: int, d_model: int, tied: bool) -> dict[str, Tensor]:
    """Our GPT's weights under Llama's names (contiguous copies, as safetensors wants)."""
    out: dict[str, Tensor] = {"model.embed_tokens.weight": ours["embed.weight"]}
    for i in range(n_layer):
        p, q = f"blocks.{i}.", f"model.layers.{i}."
        qkv = ours[p + "attn.qkv.weight"]
        out[q + "self_attn.q_proj.weight"] = qkv[:d_model]
        out[q + "self_attn.k_proj.weight"] = qkv[d_model : 2 * d_model]
        out[q + "self_attn.v_proj.weight"] = qkv[2 * d_model :]
        out[q + "self_attn.o_proj.weight"] = ours[p + "attn.proj.weight"]
        out[q + "mlp.gate_proj.weight"] = ours[p + "mlp.gate.weight"]
        out[q + "mlp.up_proj.weight"] = ours[p + "mlp.up.weight"]
        out[q + "mlp.down_proj.weight"] = ours[p + "mlp.down.weight"]
        out[q + "input_layernorm.weight"] = ours[p + "norm1.weight"]
        out[q + "post_attention_layernorm.weight"] = ours[p + "norm2.weight"]
    out["model.norm.weight"] = ours["norm.weight"]
    if not tied:
        out["lm_head.weight"] = ours["head.weight"]
    return {k: v.detach().to(torch.float32).contiguous().clone() for k, v in out.items()}


def gpt_state_dict(theirs: Mapping[str, Tensor], n_layer: int, tied: bool) -> dict[str, Tensor]:
    """The inverse: a Llama state dict under our GPT's names (``--init-from`` an HF directory)."""
    out: dict[str, Tensor] = {"embed.weight": theirs["model.embed_tokens.weight"]}
    for i in range(n_layer):
        p, q = f"blocks.{i}.", f"model.layers.{i}."
        out[p + "attn.qkv.weight"] = torch.cat(
            [theirs[q + f"self_attn.{n}_proj.weight"] for n in ("q", "k", "v")], dim=0
        )
        out[p + "attn.proj.weight"] = theirs[q + "self_attn.o_proj.weight"]
        out[p + "mlp.gate.weight"] = theirs[q + "mlp.gate_proj.weight"]
        out[p + "mlp.up.weight"] = theirs[q + "mlp.up_proj.weight"]
        out[p + "mlp.down.weight"] = theirs[q + "mlp.down_proj.weight"]
        out[p + "norm1.weight"] = theirs[q + "input_layernorm.weight"]
        out[p + "norm2.weight"] = theirs[q + "post_attention_layernorm.weight"]
    out["norm.weight"] = theirs["model.norm.weight"]
    out["head.weight"] = out["embed.weight"] if tied else theirs["lm_head.weight"]
    return out

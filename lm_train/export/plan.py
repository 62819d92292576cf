"""What a run exports as: the ``transformers`` architecture, its config and weights, and its check.

One function per kind of run; ``plan_export`` picks it by the run's model and objective and
refuses, naming why, a run that has no exact home in ``transformers``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from lm_train.export import verify as check
from lm_train.export.hf_dir import generation_config
from lm_train.export.hf_gpt import (
    UnsupportedExport,
    check_exportable,
    eurobert_config,
    llama_config,
    llama_state_dict,
)


@dataclass
class ExportPlan:
    architecture: str
    auto_class: str
    config: dict[str, Any]
    tensors: dict[str, Tensor]
    generation_config: dict[str, Any] | None
    verify: Callable[[str, Any], check.Verification]


def special_ids(tok_info: Mapping[str, Any]) -> dict[str, int | None]:
    specials = tok_info.get("special_tokens", {})
    return {
        "eos_token_id": tok_info.get("eos_id"),
        "pad_token_id": tok_info.get("pad_id"),
        "bos_token_id": None,
        "mask_token_id": specials.get("<|mask|>"),
    }


def build_body(state: Mapping[str, Any], cfg: Any, ckpt_path: str) -> nn.Module:
    from lm_train.checkpoint import check_model_state
    from lm_train.models import build_model

    model = build_model(cfg, state["vocab_size"])
    check_model_state(state["model"], model, ckpt_path)
    model.load_state_dict(state["model"])
    return model.eval()


def llama_family(
    state: Mapping[str, Any], cfg: Any, tok_info: Mapping[str, Any], ckpt_path: str, target: str
) -> tuple[nn.Module, dict[str, int | None], dict[str, Any], dict[str, Tensor]]:
    """(our model, special ids, the config.json, the renamed weights) of a gpt or bert run."""
    check_exportable(cfg.model, target)
    model = build_body(state, cfg, ckpt_path)
    ids = special_ids(tok_info)
    make_config = eurobert_config if target.startswith("EuroBert") else llama_config
    config = make_config(cfg.model, state["vocab_size"], cfg.data.seq_len, model.d_ff, ids)
    tensors = llama_state_dict(
        model.state_dict(), cfg.model.n_layer, cfg.model.d_model, cfg.model.tie_embeddings
    )
    return model, ids, config, tensors


def causal_gpt(state: Mapping[str, Any], cfg: Any, tok_info: Mapping[str, Any], ckpt_path: str) -> ExportPlan:
    model, ids, config, tensors = llama_family(state, cfg, tok_info, ckpt_path, "LlamaForCausalLM")

    def ours(x: Tensor) -> Tensor:
        return model.logits(model(x))

    def verify(directory: str, tokenizer: Any) -> check.Verification:
        report, hf, rows = check.load_and_compare(
            directory, tokenizer, "AutoModelForCausalLM", ours, lambda ids: check.fit(ids, cfg.data.seq_len)
        )
        check.verify_greedy(ours, hf, rows, ids["eos_token_id"], ids["pad_token_id"], report)
        return report

    gen = generation_config(ids, cfg.data.seq_len)
    return ExportPlan("LlamaForCausalLM", "AutoModelForCausalLM", config, tensors, gen, verify)


def masked_bert(
    state: Mapping[str, Any], cfg: Any, tok_info: Mapping[str, Any], ckpt_path: str
) -> ExportPlan:
    model, _, config, tensors = llama_family(state, cfg, tok_info, ckpt_path, "EuroBertForMaskedLM")

    def ours(x: Tensor) -> Tensor:
        return model.logits(model(x))

    def verify(directory: str, tokenizer: Any) -> check.Verification:
        report, _, _ = check.load_and_compare(
            directory, tokenizer, "AutoModelForMaskedLM", ours, lambda ids: check.fit(ids, cfg.data.seq_len)
        )
        report.notes.append("masked LM: logits compared at every position, no generation")
        return report

    return ExportPlan("EuroBertForMaskedLM", "AutoModelForMaskedLM", config, tensors, None, verify)


def classify_gpt(
    state: Mapping[str, Any], cfg: Any, tok_info: Mapping[str, Any], ckpt_path: str
) -> ExportPlan:
    """A gpt classifier pooled at its last token, with a head without bias: Llama's own
    sequence-classification model (``score`` on the last non-padding token, the text's eos)."""
    from lm_train.checkpoint import check_model_state
    from lm_train.models import build_model
    from lm_train.objectives.heads import Classifier, resolve_pool
    from lm_train.predict import run_labels

    check_exportable(cfg.model, "LlamaForSequenceClassification")
    if resolve_pool(cfg.objective.pool, cfg.model.name) != "last":
        raise UnsupportedExport(
            f"objective.pool={cfg.objective.pool} has no transformers counterpart for a causal model; "
            "LlamaForSequenceClassification reads the last token (pool=last)"
        )
    if cfg.objective.head_bias:
        raise UnsupportedExport(
            "the label head has a bias, LlamaForSequenceClassification's has none; "
            "fine-tune with objective.head_bias=false to export it"
        )
    labels = run_labels(dict(state), ckpt_path)
    model = Classifier(build_model(cfg, state["vocab_size"]), len(labels), "last", 0.0, bias=False)
    check_model_state(state["model"], model, ckpt_path)
    model.load_state_dict(state["model"])
    model.eval()
    ids = special_ids(tok_info)
    config = llama_config(cfg.model, state["vocab_size"], cfg.data.seq_len, model.body.d_ff, ids)
    config.update(
        architectures=["LlamaForSequenceClassification"],
        num_labels=len(labels),
        id2label={str(i): name for i, name in enumerate(labels)},
        label2id={name: i for i, name in enumerate(labels)},
    )
    tensors = llama_state_dict(
        model.body.state_dict(), cfg.model.n_layer, cfg.model.d_model, cfg.model.tie_embeddings
    )
    tensors.pop("lm_head.weight", None)
    tensors["score.weight"] = model.task_head.weight.detach().float().contiguous().clone()
    eos = ids["eos_token_id"]

    def ours(x: Tensor) -> Tensor:
        n = x.shape[1]
        positions = torch.arange(n).expand_as(x)
        return model(x, positions, torch.zeros_like(x), torch.tensor([n]))

    def verify(directory: str, tokenizer: Any) -> check.Verification:
        def examples(ids: list[list[int]]) -> list[list[int]]:  # as prepare_task encodes a text
            return [row[: cfg.data.seq_len - 1] + ([eos] if eos is not None else []) for row in ids]

        report, _, _ = check.load_and_compare(
            directory, tokenizer, "AutoModelForSequenceClassification", ours, examples
        )
        report.notes.append(
            "classifier: label logits of each text (its tokens, then eos, as prepare_task encodes it)"
        )
        return report

    return ExportPlan(
        "LlamaForSequenceClassification", "AutoModelForSequenceClassification", config, tensors, None, verify
    )


def plan_export(
    state: Mapping[str, Any], cfg: Any, tok_info: Mapping[str, Any], ckpt_path: str
) -> ExportPlan:
    model, objective = cfg.model.name, cfg.objective.name
    if model == "gpt" and objective == "causal_lm":
        return causal_gpt(state, cfg, tok_info, ckpt_path)
    if model == "bert" and objective == "masked_lm":
        return masked_bert(state, cfg, tok_info, ckpt_path)
    if model == "gpt" and objective == "classify":
        return classify_gpt(state, cfg, tok_info, ckpt_path)
    if model in ("rnn", "lstm", "gru", "seq2seq"):
        raise UnsupportedExport(
            f"model={model} has no standard architecture in transformers to export to; "
            "lm_train.generate, predict and evaluate run it, and lm_train.embeddings exports its embeddings"
        )
    raise UnsupportedExport(f"model={model} with objective={objective} cannot be exported yet")

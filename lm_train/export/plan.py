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
    append_eos: bool = False  # classifiers: the exported tokenizer ends ``tok(text)`` with eos


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


def load_classifier_model(
    state: Mapping[str, Any], cfg: Any, ckpt_path: str, pool: str
) -> tuple[Any, list[str]]:
    """The run's classifier (body + task head), as trained, in eval mode, and its labels."""
    from lm_train.checkpoint import check_model_state
    from lm_train.models import build_model
    from lm_train.objectives.heads import Classifier
    from lm_train.predict import run_labels

    labels = run_labels(dict(state), ckpt_path)
    obj = cfg.objective
    model = Classifier(build_model(cfg, state["vocab_size"]), len(labels), pool, 0.0, obj.head_bias, obj.head)
    check_model_state(state["model"], model, ckpt_path)
    model.load_state_dict(state["model"])
    return model.eval(), labels


def with_labels(config: dict[str, Any], architecture: str, labels: list[str]) -> dict[str, Any]:
    config.update(
        architectures=[architecture],
        num_labels=len(labels),
        id2label={str(i): name for i, name in enumerate(labels)},
        label2id={name: i for i, name in enumerate(labels)},
    )
    return config


def body_tensors(model: Any, cfg: Any) -> dict[str, Tensor]:
    """The classifier body's weights under Llama's names, without the unused vocabulary head."""
    tensors = llama_state_dict(
        model.body.state_dict(), cfg.model.n_layer, cfg.model.d_model, cfg.model.tie_embeddings
    )
    tensors.pop("lm_head.weight", None)
    return tensors


def weight(t: Tensor) -> Tensor:
    return t.detach().float().contiguous().clone()


def classify_plan(
    architecture: str, model: Any, config: dict, tensors: dict, eos: int | None, seq_len: int
) -> ExportPlan:
    """Label logits of each probe text (its tokens, then eos, as prepare_task encodes a text)."""

    def ours(x: Tensor) -> Tensor:
        n = x.shape[1]
        return model(x, torch.arange(n).expand_as(x), torch.zeros_like(x), torch.tensor([n]))

    def verify(directory: str, tokenizer: Any) -> check.Verification:
        def examples(ids: list[list[int]]) -> list[list[int]]:
            return [row[: seq_len - 1] + ([eos] if eos is not None else []) for row in ids]

        report, _, rows = check.load_and_compare(
            directory, tokenizer, "AutoModelForSequenceClassification", ours, examples
        )
        check.verify_default_encoding(directory, rows)
        report.notes.append(
            "classifier: label logits of each text (its tokens, then eos, as prepare_task encodes it); "
            "AutoTokenizer's default call appends that eos"
        )
        return report

    return ExportPlan(
        architecture, "AutoModelForSequenceClassification", config, tensors, None, verify, append_eos=True
    )


def classify_gpt(
    state: Mapping[str, Any], cfg: Any, tok_info: Mapping[str, Any], ckpt_path: str
) -> ExportPlan:
    """A gpt classifier pooled at its last token, with one linear head without bias: Llama's own
    sequence-classification model (``score`` on the last non-padding token, the text's eos)."""
    from lm_train.objectives.heads import resolve_pool

    check_exportable(cfg.model, "LlamaForSequenceClassification")
    obj = cfg.objective
    if resolve_pool(obj.pool, cfg.model.name) != "last":
        raise UnsupportedExport(
            f"objective.pool={obj.pool} has no transformers counterpart for a causal model; "
            "LlamaForSequenceClassification reads the last token (pool=last)"
        )
    if obj.head != "linear" or obj.head_bias:
        raise UnsupportedExport(
            "LlamaForSequenceClassification's head is one linear layer without bias; "
            "fine-tune with objective.head=linear objective.head_bias=false to export it"
        )
    model, labels = load_classifier_model(state, cfg, ckpt_path, "last")
    ids = special_ids(tok_info)
    config = llama_config(cfg.model, state["vocab_size"], cfg.data.seq_len, model.body.d_ff, ids)
    with_labels(config, "LlamaForSequenceClassification", labels)
    tensors = body_tensors(model, cfg)
    tensors["score.weight"] = weight(model.task_head.weight)
    return classify_plan(
        "LlamaForSequenceClassification", model, config, tensors, ids["eos_token_id"], cfg.data.seq_len
    )


EUROBERT_POOLING = {"first": "bos", "mean": "mean"}  # our pool -> EuroBERT's classifier_pooling


def classify_bert(
    state: Mapping[str, Any], cfg: Any, tok_info: Mapping[str, Any], ckpt_path: str
) -> ExportPlan:
    """A bert classifier with the dense + GELU head, pooled at the first token or the mean:
    ``EuroBertForSequenceClassification`` (``dense`` → GELU → ``classifier``, both with bias)."""
    from lm_train.objectives.heads import resolve_pool

    check_exportable(cfg.model, "EuroBertForSequenceClassification")
    obj = cfg.objective
    pool = resolve_pool(obj.pool, cfg.model.name)
    if pool not in EUROBERT_POOLING:
        raise UnsupportedExport(
            f"objective.pool={obj.pool} has no EuroBERT counterpart; "
            "EuroBertForSequenceClassification pools the first token (pool=first) or the mean (pool=mean)"
        )
    if obj.head != "dense_gelu" or not obj.head_bias:
        raise UnsupportedExport(
            "EuroBertForSequenceClassification's head is a dense layer, GELU, then the label layer, "
            "both with bias; fine-tune with objective.head=dense_gelu objective.head_bias=true to export it"
        )
    model, labels = load_classifier_model(state, cfg, ckpt_path, pool)
    ids = special_ids(tok_info)
    config = eurobert_config(cfg.model, state["vocab_size"], cfg.data.seq_len, model.body.d_ff, ids)
    with_labels(config, "EuroBertForSequenceClassification", labels)
    config["classifier_pooling"] = EUROBERT_POOLING[pool]
    tensors = body_tensors(model, cfg)
    head = model.task_head
    tensors.update(
        {
            "dense.weight": weight(head.dense.weight),
            "dense.bias": weight(head.dense.bias),
            "classifier.weight": weight(head.out.weight),
            "classifier.bias": weight(head.out.bias),
        }
    )
    return classify_plan(
        "EuroBertForSequenceClassification", model, config, tensors, ids["eos_token_id"], cfg.data.seq_len
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
    if model == "bert" and objective == "classify":
        return classify_bert(state, cfg, tok_info, ckpt_path)
    if model in ("rnn", "lstm", "gru", "seq2seq"):
        raise UnsupportedExport(
            f"model={model} has no standard architecture in transformers to export to; "
            "lm_train.generate, predict and evaluate run it, and lm_train.embeddings exports its embeddings"
        )
    raise UnsupportedExport(f"model={model} with objective={objective} cannot be exported yet")

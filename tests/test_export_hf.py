"""``python -m lm_train.export``: GPT and BERT runs load in transformers and compute what ours compute."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from lm_train.export.cli import main as export_main
from lm_train.models import build_model
from lm_train.testing import TINY_TRAIN_ARGS, sample_texts, write_text_dataset
from lm_train.train import main as train_main

transformers = pytest.importorskip("transformers")

torch.set_num_threads(1)
TINY = [*TINY_TRAIN_ARGS, "n_layer=2", "max_steps=6", "eval_every=6"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    return str(write_text_dataset(out, sample_texts(n_en=16, n_zh=16, max_chars=800), vocab_size=300))


@pytest.fixture(scope="module")
def swiglu_run(dataset, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run"))
    assert train_main(["--data", dataset, "--out", out, *TINY, "mlp=swiglu"]) == 0
    return out


@pytest.fixture(scope="module")
def exported(swiglu_run, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("hf") / "model")
    assert export_main(["--checkpoint", swiglu_run, "--out", out]) == 0
    return out


def test_the_export_is_a_standard_llama_directory(exported):
    names = set(os.listdir(exported))
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "README.md",
    } <= names
    assert "generation_config.json" in names and not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    config = json.loads(Path(exported, "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["num_hidden_layers"] == 2
    card = Path(exported, "README.md").read_text()
    assert "fingerprint" in card and "tokens seen" in card and "val_loss" in card
    assert ", version " in card and '"mlp": "swiglu"' in card and "AutoModelForCausalLM" in card


def test_auto_classes_load_it_with_equal_logits_and_ids(exported, swiglu_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lm_train.generate import load_run, load_tokenizer

    ours, _, state, rundir = load_run(swiglu_run)
    tok = load_tokenizer(rundir, state)
    hf_tok = AutoTokenizer.from_pretrained(exported)
    hf = AutoModelForCausalLM.from_pretrained(exported).eval()
    for text in ("In the beginning was the Word", "天地玄黄，宇宙洪荒", "emoji 🙂 and <|endoftext|>"):
        ids = tok.encode(text).ids
        assert hf_tok(text, add_special_tokens=False)["input_ids"] == ids
        x = torch.tensor([ids])
        with torch.no_grad():
            assert torch.allclose(ours.logits(ours(x)), hf(x).logits, atol=1e-4)


def test_a_gelu_gpt_is_refused_naming_the_fix(dataset, tmp_path, capsys):
    run = str(tmp_path / "gelu")
    assert train_main(["--data", dataset, "--out", run, *TINY, "max_steps=2"]) == 0
    capsys.readouterr()
    assert export_main(["--checkpoint", run, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "mlp=swiglu" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_an_existing_out_is_not_overwritten_without_asking(swiglu_run, exported, capsys):
    assert export_main(["--checkpoint", swiglu_run, "--out", exported]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_a_bert_run_exports_as_eurobert_with_equal_masked_lm_logits(tmp_path, capsys):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    import lm_train.testing
    from lm_train.generate import load_run, load_tokenizer
    from lm_train.objectives.masked_lm import MASK_TOKEN

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lm_train.testing, "SPECIALS", [*lm_train.testing.SPECIALS, MASK_TOKEN])
        data = str(write_text_dataset(tmp_path / "ds", sample_texts(n_en=16, n_zh=16, max_chars=800), 300))
    run, out = str(tmp_path / "bert"), str(tmp_path / "hf")
    args = ["model=bert", "objective=masked_lm", "mlp=swiglu", *TINY]
    assert train_main(["--data", data, "--out", run, *args]) == 0
    assert export_main(["--checkpoint", run, "--out", out]) == 0
    config = json.loads(Path(out, "config.json").read_text())
    assert config["architectures"] == ["EuroBertForMaskedLM"] and config["mask_token_id"] is not None
    ours, _, state, rundir = load_run(run)
    tok = load_tokenizer(rundir, state)
    hf_tok, hf = AutoTokenizer.from_pretrained(out), AutoModelForMaskedLM.from_pretrained(out).eval()
    assert hf_tok.mask_token == MASK_TOKEN
    text = f"In the beginning {MASK_TOKEN} created 天地"
    ids = tok.encode(text).ids
    assert hf_tok(text, add_special_tokens=False)["input_ids"] == ids
    with torch.no_grad():
        x = torch.tensor([ids])
        assert torch.allclose(ours.logits(ours(x)), hf(x).logits, atol=1e-4)


def test_init_from_an_exported_directory_gives_the_same_logits_and_trains(
    exported, swiglu_run, dataset, tmp_path
):
    from lm_train.generate import load_run
    from lm_train.restore import init_weights
    from schemas import load_manifest

    ours, cfg, _, _ = load_run(swiglu_run)
    fresh = build_model(cfg, ours.vocab_size).eval()
    sha = load_manifest(dataset).tokenizer.sha256
    assert init_weights(fresh, exported, sha, dataset) is None
    x = torch.tensor([[5, 17, 40, 2, 99, 7]])
    with torch.no_grad():
        assert torch.allclose(fresh.logits(fresh(x)), ours.logits(ours(x)), atol=1e-6)
    run = str(tmp_path / "continued")
    assert train_main(["--data", dataset, "--out", run, *TINY, "mlp=swiglu", f"--init-from={exported}"]) == 0


def test_init_from_refuses_a_directory_of_another_architecture_or_tokenizer(
    exported, dataset, tmp_path, capsys
):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(exported, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "architectures": ["MistralForCausalLM"]}))
    run = str(tmp_path / "r")
    assert train_main(["--data", dataset, "--out", run, *TINY, "mlp=swiglu", f"--init-from={other}"]) != 0
    assert "MistralForCausalLM is not one lmforge reads" in capsys.readouterr().err
    (other / "config.json").write_text(json.dumps(config))
    (other / "tokenizer.json").write_text(
        (other / "tokenizer.json").read_text().replace("<|pad|>", "<|PAD|>")
    )
    assert (
        train_main(["--data", dataset, "--out", run + "2", *TINY, "mlp=swiglu", f"--init-from={other}"]) != 0
    )
    assert "tokenize the data with that tokenizer" in capsys.readouterr().err


def test_a_gpt_classifier_exports_as_llama_sequence_classification_with_its_labels(tmp_path, capsys):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from lm_train.predict import load_classifier
    from lm_train.testing import keyword_task, write_task_dataset

    data = str(write_task_dataset(tmp_path / "task", keyword_task(60), ["no", "yes"], vocab_size=300))
    run, out = str(tmp_path / "clf"), str(tmp_path / "hf")
    args = ["objective=classify", "mlp=swiglu", "head_bias=false", *TINY]
    assert train_main(["--data", data, "--out", run, *args]) == 0
    assert export_main(["--checkpoint", run, "--out", out]) == 0
    config = json.loads(Path(out, "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"]
    assert config["id2label"] == {"0": "no", "1": "yes"}
    clf = load_classifier(run, "text")
    hf_tok, hf = (
        AutoTokenizer.from_pretrained(out),
        AutoModelForSequenceClassification.from_pretrained(out).eval(),
    )
    ids = hf_tok("the cat sat on a zebra", add_special_tokens=False)["input_ids"] + [clf.eos_id]
    x = torch.tensor([ids])
    with torch.no_grad():
        ours = clf.model(x, torch.arange(len(ids))[None], torch.zeros_like(x), torch.tensor([len(ids)]))
        assert torch.allclose(ours, hf(x).logits, atol=1e-4)
    with_bias = str(tmp_path / "clf-bias")
    assert train_main(["--data", data, "--out", with_bias, "objective=classify", "mlp=swiglu", *TINY]) == 0
    capsys.readouterr()
    assert export_main(["--checkpoint", with_bias, "--out", str(tmp_path / "x")]) == 2
    assert "objective.head_bias=false" in capsys.readouterr().err


@pytest.fixture(scope="module")
def task_data(tmp_path_factory):
    from lm_train.testing import keyword_task, write_task_dataset

    out = tmp_path_factory.mktemp("task")
    return str(write_task_dataset(out, keyword_task(60), ["no", "yes"], vocab_size=300))


@pytest.mark.parametrize("pool", ["first", "mean"])
def test_a_bert_classifier_with_the_dense_gelu_head_exports_as_eurobert_sequence_classification(
    task_data, tmp_path, pool
):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from lm_train.predict import load_classifier

    run, out = str(tmp_path / "clf"), str(tmp_path / "hf")
    args = ["model=bert", "objective=classify", "mlp=swiglu", "head=dense_gelu", f"pool={pool}", *TINY]
    assert train_main(["--data", task_data, "--out", run, *args]) == 0
    assert export_main(["--checkpoint", run, "--out", out]) == 0
    config = json.loads(Path(out, "config.json").read_text())
    assert config["architectures"] == ["EuroBertForSequenceClassification"]
    assert config["id2label"] == {"0": "no", "1": "yes"}
    assert config["classifier_pooling"] == {"first": "bos", "mean": "mean"}[pool]
    clf = load_classifier(run, "text")
    hf_tok = AutoTokenizer.from_pretrained(out)
    hf = AutoModelForSequenceClassification.from_pretrained(out).eval()
    for text in ("the cat sat on a zebra", "斑马在草原上 🦓"):
        ids = hf_tok(text, add_special_tokens=False)["input_ids"] + [clf.eos_id]
        x = torch.tensor([ids])
        with torch.no_grad():
            ours = clf.model(x, torch.arange(len(ids))[None], torch.zeros_like(x), torch.tensor([len(ids)]))
            assert torch.allclose(ours, hf(x).logits, atol=1e-4)
    # pipeline("text-classification") tokenizes with special tokens: the text, then eos, as we read it
    from transformers import pipeline

    text = "the quick zebra"
    ids = hf_tok(text)["input_ids"]
    assert ids[-1] == clf.eos_id and ids[:-1] == hf_tok(text, add_special_tokens=False)["input_ids"]
    best = pipeline("text-classification", model=out, device="cpu")(text)[0]
    x = torch.tensor([ids])
    with torch.no_grad():
        probs = clf.model(
            x, torch.arange(len(ids))[None], torch.zeros_like(x), torch.tensor([len(ids)])
        ).softmax(-1)[0]
    assert best["label"] == ["no", "yes"][int(probs.argmax())] and best["score"] == pytest.approx(
        float(probs.max()), abs=1e-5
    )
    # the exported classifier's body starts a new fine-tuning run (its label head is the new task's)
    again = str(tmp_path / "again")
    assert train_main(["--data", task_data, "--out", again, *args, f"--init-from={out}"]) == 0


def test_a_bert_classifier_with_a_linear_head_is_refused_naming_the_fix(task_data, tmp_path, capsys):
    run = str(tmp_path / "clf")
    args = ["model=bert", "objective=classify", "mlp=swiglu", *TINY, "max_steps=2"]
    assert train_main(["--data", task_data, "--out", run, *args]) == 0
    capsys.readouterr()
    assert export_main(["--checkpoint", run, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "objective.head=dense_gelu" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


PARITY_TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "天地玄黄，宇宙洪荒。日月盈昃，辰宿列张。",
    "繁體中文與简体中文混排：「引號」、全角！？",
    "emoji 🙂🚀 family 👨‍👩‍👧 flags 🇨🇳🇬🇧 skin 👍🏽",
    "special tokens <|endoftext|> and <|pad|> inside text<|endoftext|>",
    "  leading spaces, tabs\tand\r\nCRLF newlines\n\n\n",
    "combining: e\u0301 vs \u00e9; zero\u200bwidth; nbsp\u00a0here",
    "",
]


def test_auto_tokenizer_encodes_and_decodes_exactly_as_ours(exported, swiglu_run):
    """With its default arguments (special tokens added, batches), as a user would call it."""
    from transformers import AutoTokenizer

    from lm_train.generate import load_run, load_tokenizer

    _, _, state, rundir = load_run(swiglu_run)
    tok = load_tokenizer(rundir, state)
    hf_tok = AutoTokenizer.from_pretrained(exported)
    ours = [e.ids for e in tok.encode_batch(PARITY_TEXTS)]
    assert hf_tok(PARITY_TEXTS)["input_ids"] == ours
    assert [hf_tok.encode(t) for t in PARITY_TEXTS] == ours
    special = ours[4]
    eos = tok.token_to_id("<|endoftext|>")
    assert special.count(eos) == 2 and tok.token_to_id("<|pad|>") in special
    assert (hf_tok.eos_token_id, hf_tok.pad_token_id) == (eos, tok.token_to_id("<|pad|>"))
    for ids in ours:
        assert hf_tok.decode(ids) == tok.decode(ids, skip_special_tokens=False)
        assert hf_tok.decode(ids, skip_special_tokens=True) == tok.decode(ids, skip_special_tokens=True)


def test_a_recurrent_run_is_refused_in_one_line_naming_where_it_runs(dataset, tmp_path, capsys):
    run = str(tmp_path / "gru")
    args = [*TINY, "model=gru", "max_steps=2"]
    assert train_main(["--data", dataset, "--out", run, *args]) == 0
    capsys.readouterr()
    assert export_main(["--checkpoint", run, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "model=gru has no standard architecture in transformers" in err and len(err.splitlines()) == 1
    assert "lm_train.embeddings" in err and not (tmp_path / "x").exists()


def test_transformers_pipelines_run_the_export_as_users_call_them(exported, swiglu_run):
    """``pipeline("text-generation")`` is how lm-evaluation-harness-style tools and users start."""
    from transformers import pipeline

    from lm_train.export.verify import greedy_ours
    from lm_train.generate import load_run, load_tokenizer

    ours, _, state, rundir = load_run(swiglu_run)
    tok = load_tokenizer(rundir, state)
    generate = pipeline("text-generation", model=exported, device="cpu")
    prompt = "In the beginning"
    out = generate(prompt, max_new_tokens=6, do_sample=False, return_full_text=False)[0]["generated_text"]
    eos = tok.token_to_id("<|endoftext|>")
    with torch.no_grad():
        mine = greedy_ours(lambda x: ours.logits(ours(x)), tok.encode(prompt).ids, 6, eos)
    assert out == tok.decode(mine)

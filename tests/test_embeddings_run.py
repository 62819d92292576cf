"""A tiny trained GPT run: its input token embedding exported with one readable, unique key per
id, evaluated through the words' pieces, and shown in the training report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lm_train import report
from lm_train.embeddings import cli
from lm_train.embeddings.export import load_native, load_text
from lm_train.embeddings.source import embedding_parameter_name, find_tensor, load_embeddings
from lm_train.testing import TINY_TRAIN_ARGS, sample_texts, write_text_dataset
from lm_train.train import main as train_main

torch.set_num_threads(1)
TINY = list(TINY_TRAIN_ARGS)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = str(
        write_text_dataset(
            tmp_path_factory.mktemp("ds"), sample_texts(n_en=16, n_zh=16, max_chars=800), vocab_size=300
        )
    )
    out = str(tmp_path_factory.mktemp("run"))
    assert train_main(["--data", data, "--out", out, *TINY, "max_steps=4", "eval_every=4"]) == 0
    return out


def test_the_embedding_of_a_model_is_found_by_its_rule():
    from lm_train.config import TrainConfig

    cfg = TrainConfig.from_layers([{"n_layer": 1, "n_head": 2, "d_model": 16, "seq_len": 8}], "test")
    assert embedding_parameter_name(cfg, 50) == "embed.weight"
    tensors = {"body.embed.weight": 1, "head.weight": 2}
    assert find_tensor(tensors, "embed.weight", "x.pt") == ("body.embed.weight", 1)  # a classifier's body


@pytest.mark.slow
def test_a_gpt_run_exports_vocab_size_vectors_of_d_model_with_readable_unique_keys(run, capsys):
    assert cli.main(["--checkpoint", run, "--export"]) == 0
    assert "300 vectors of dimension 32" in capsys.readouterr().out
    kv = load_native(f"{run}/embeddings/vectors.kv")
    text = load_text(f"{run}/embeddings/vectors.txt")
    assert (len(kv), kv.vector_size) == (300, 32)
    assert text.index_to_key == kv.index_to_key and np.array_equal(text.vectors, kv.vectors)
    keys = kv.index_to_key
    assert len(set(keys)) == 300 and not any(c.isspace() for k in keys for c in k)
    assert keys[:2] == ["<|endoftext|>", "<|pad|>"] and "▁the" in keys and "的" in keys
    state = torch.load(f"{run}/checkpoints/step-00000004.pt", weights_only=True)
    assert np.array_equal(kv.vectors, state["model"]["embed.weight"].numpy())  # row i is token id i
    meta = json.loads(Path(f"{run}/embeddings/embeddings.json").read_text(encoding="utf-8"))
    assert (meta["kind"], meta["tensor"], meta["step"], meta["vocab_size"], meta["dim"]) == (
        "tokens",
        "embed.weight",
        4,
        300,
        32,
    )
    assert meta["special_tokens"] == {"<|endoftext|>": 0, "<|pad|>": 1}


@pytest.mark.slow
def test_a_token_run_is_evaluated_through_pieces_and_reported(run, capsys):
    assert cli.main(["--checkpoint", run, "--evaluate", "--report", "--samples", "0"]) == 0
    metrics = json.loads(Path(f"{run}/eval-embeddings.json").read_text())
    for key in ("wordsim353_spearman", "simlex999_spearman", "analogy_accuracy", "coverage"):
        assert isinstance(metrics[key], float), key
    assert metrics["coverage"] == 1.0  # every word has pieces
    assert 0.0 <= metrics["single_token_coverage"] < 0.5  # a 300-token vocabulary holds few whole words
    assert set(metrics["piece_baseline"]) >= {"wordsim353_spearman", "analogy_accuracy"}
    page = Path(f"{run}/report.html").read_text(encoding="utf-8")
    assert 'id="plot-embeddings-pca"' in page and "token embeddings: WordSim-353 Spearman" in page
    assert "first" in re.search(
        r'<figure id="plot-embeddings-pca">.*?<figcaption>(.*?)</figcaption>', page, re.S
    ).group(1)
    assert Path(f"{run}/embeddings-pca.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the training report's evaluations table is for lm_train.evaluate's splits only
    assert ">embeddings<" not in re.search(r"<body>(.*)", page, re.S).group(1).split("Token embeddings")[0]
    # lm_train.report alone keeps the section (it reads RUN/embeddings/)
    assert report.main([run, "--samples", "0"]) == 0
    assert 'id="plot-embeddings-pca"' in Path(f"{run}/report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_neighbours_of_a_token_and_of_a_word_made_of_pieces(run, capsys):
    emb = load_embeddings(run)
    assert emb.kind == "tokens" and emb.run_dir == run and emb.word_vector is not None
    assert (
        cli.main(
            [
                "--checkpoint",
                f"{run}/checkpoints/step-00000004.pt",
                "--neighbours",
                "the",
                "hippopotamus",
                "--json",
            ]
        )
        == 0
    )
    first, second = json.loads(capsys.readouterr().out)["neighbours"]
    assert first["found_as"] == "key ▁the" and len(first["neighbours"]) == 10
    assert second["found_as"].startswith("mean of ") and "pieces" in second["found_as"]


def test_a_models_input_embedding_method_names_the_tensor(monkeypatch):
    from torch import nn

    from lm_train import models
    from lm_train.config import TrainConfig

    class Shared(nn.Module):
        """A model whose input embedding is not ``embed``."""

        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.shared = nn.Embedding(10, 4)

        def input_embedding(self):
            return self.shared

    monkeypatch.setattr(models, "build_model", lambda cfg, vocab: Shared())
    cfg = TrainConfig.from_layers([{"n_layer": 1, "n_head": 2, "d_model": 16, "seq_len": 8}], "test")
    assert embedding_parameter_name(cfg, 10) == "shared.weight"


def test_the_training_report_keeps_word_similarity_out_of_the_split_table(tmp_path, capsys):
    (tmp_path / "eval-validation.json").write_text(json.dumps({"loss": 1.0, "step": 4, "num_tokens": 10}))
    (tmp_path / "eval-embeddings.json").write_text(json.dumps({"wordsim353_spearman": 0.3, "coverage": 0.5}))
    assert [e["split"] for e in report.read_evaluations(str(tmp_path))] == ["validation"]
    part = report.embeddings_part(str(tmp_path))  # scores without an export: rows, no figure
    assert part.png is None and ("token embeddings: WordSim-353 Spearman", "0.3000") in part.rows
    (tmp_path / "embeddings").mkdir()
    (tmp_path / "embeddings" / "vectors.kv").write_bytes(b"damaged")
    part = report.embeddings_part(str(tmp_path))  # a damaged export: left out, with a warning
    assert part.png is None and "left out of the report" in capsys.readouterr().err
    assert report.embeddings_part(str(tmp_path / "nothing")) is None

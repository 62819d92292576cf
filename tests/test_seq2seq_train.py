"""objective=seq2seq in process: tiny GRU and Transformer models learn to reverse, a resumed
run repeats the uninterrupted one, --init-from takes a pretrained embedding, and evaluate
and predict work on the run."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from lm_train import evaluate, predict
from lm_train.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint
from lm_train.config import TrainConfig
from lm_train.metrics import read_metrics
from lm_train.objectives import OBJECTIVES
from lm_train.testing import copy_reverse_task, sample_texts, write_pairs_dataset, write_text_dataset
from lm_train.train import main as train_main
from lmcore.config import ConfigError
from schemas import load_manifest

torch.set_num_threads(1)
TINY = [
    "model=seq2seq",
    "objective=seq2seq",
    "n_layer=1",
    "d_model=32",
    "n_head=2",
    "seq_len=16",
    "max_target_len=16",
    "batch_size=16",
    "lr=3e-3",
    "warmup_steps=10",
    "weight_decay=0",
    "eval_steps=2",
    "peak_flops=1e11",
    "tensorboard=false",
]
LEARN = {  # what a tiny model needs to reverse 3-7 letters (about 10-20 s each on one CPU thread)
    "gru": ["cell=gru", "d_model=64", "batch_size=32", "max_steps=300"],
    "transformer": [
        "cell=transformer",
        "n_layer=2",
        "d_model=64",
        "n_head=4",
        "batch_size=32",
        "max_steps=400",
    ],
}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return str(
        write_pairs_dataset(tmp_path_factory.mktemp("rev"), copy_reverse_task(1200, "reverse"), test_every=7)
    )


def _records(run: str, kind: str) -> list[dict]:
    return [r for r in read_metrics(f"{run}/metrics.jsonl") if r["kind"] == kind]


def _jsonl(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8")]


@pytest.mark.slow
@pytest.mark.parametrize("cell", sorted(LEARN))
def test_a_tiny_model_learns_to_reverse_and_evaluate_and_predict_use_it(pairs, tmp_path, cell, capsys):
    run = str(tmp_path / cell)
    args = [
        "--data",
        pairs,
        "--out",
        run,
        *TINY,
        *LEARN[cell],
        "eval_every=100",
        "eval_steps=4",
        "log_every=50",
    ]
    assert train_main(args) == 0
    last = _records(run, "eval")[-1]
    assert last["exact_match"] >= 0.9 and last["bleu"] >= 90 and last["chrf"] >= 90
    assert last["num_examples"] == 128 and last["bleu_tokenize"] == "13a"

    assert evaluate.main(["--checkpoint", run, "--data", pairs, "--beam-size", "3"]) == 0
    record = json.loads((tmp_path / cell / "eval-test.json").read_text())
    assert record["split"] == "test" and record["exact_match"] >= 0.9
    assert record["num_examples"] == load_manifest(pairs).task.example_counts["test"]
    assert {"loss", "perplexity", "bleu", "chrf"} <= set(record)

    rows = [{"id": i, "source": s} for i, (s, _) in enumerate(copy_reverse_task(40, "reverse", seed=9))]
    rows.insert(3, {"id": "bad"})
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    capsys.readouterr()
    assert (
        predict.main(["--checkpoint", run, "--input", str(src), "--output", str(out), "--batch-size", "7"])
        == 0
    )
    got = _jsonl(out)
    assert len(got) == 41 and got[3] == {"line": 4, "error": "no 'source' field"}
    good = [g for g in got if "target" in g]
    assert [g["id"] for g in good] == list(range(40))  # in order
    right = sum(g["target"] == " ".join(r["source"].split()[::-1]) for g, r in zip(good, rows[:3] + rows[4:]))
    assert right >= 36
    assert "40 decoded, 1 bad" in capsys.readouterr().err


@pytest.mark.parametrize("cell", ["gru", "transformer"])
def test_a_resumed_run_repeats_the_uninterrupted_losses_and_metrics(pairs, tmp_path, cell):
    full, resumed = str(tmp_path / "full"), str(tmp_path / "resumed")
    args = [*TINY, f"cell={cell}", "max_steps=8", "log_every=1", "ckpt_every=4", "keep_ckpts=5"]
    args += ["eval_every=4", "dropout=0.1", "bucket_by_length=true", "beam_size=2"]
    assert train_main(["--data", pairs, "--out", full, *args]) == 0
    shutil.copytree(full, resumed)
    (tmp_path / "resumed" / "checkpoints" / "step-00000008.pt").unlink()
    assert train_main(["--data", pairs, "--out", resumed, "--resume", "auto", *args]) == 0
    losses = [r["loss"] for r in _records(resumed, "train")]
    assert len(losses) == 8 and losses == [r["loss"] for r in _records(full, "train")]  # bit for bit
    keys = ("loss", "exact_match", "bleu", "chrf")
    assert [[e[k] for k in keys] for e in _records(resumed, "eval")] == [
        [e[k] for k in keys] for e in _records(full, "eval")
    ]
    a, b = (load_checkpoint(resolve_checkpoint(r))["model"] for r in (full, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A 2-step GPT run (d_model 32) and its dataset's tokenizer."""
    root = tmp_path_factory.mktemp("pre")
    data = write_text_dataset(root / "data", sample_texts(n_en=12, n_zh=0, max_chars=500), vocab_size=300)
    run = str(root / "run")
    lm = ["seq_len=32", "batch_size=4", "n_layer=1", "n_head=2", "d_model=32", "max_steps=2"]
    assert train_main(["--data", str(data), "--out", run, *lm, "eval_every=0", "tensorboard=false"]) == 0
    return run, (data / "tokenizer.json").read_text()


def _objective_and_model(data: str, **settings):
    cfg = TrainConfig(model="seq2seq", objective="seq2seq", d_model=32, n_layer=1, **settings)
    objective = OBJECTIVES["seq2seq"](cfg, load_manifest(data))
    model = cfg.model.build(load_manifest(data).tokenizer.vocab_size, 16)
    return objective, model


def test_init_from_takes_a_pretrained_embedding_into_encoder_and_or_decoder(pretrained, tmp_path):
    run, tokenizer_json = pretrained
    data = str(write_pairs_dataset(tmp_path / "same", copy_reverse_task(30), tokenizer_json=tokenizer_json))
    sha = load_manifest(data).tokenizer.sha256
    embed = load_checkpoint(resolve_checkpoint(run))["model"]["embed.weight"]
    objective, model = _objective_and_model(data)
    assert objective.init_from(model, run, sha, data) == 2
    assert torch.equal(model.embed.weight, embed) and model.tgt_embed is model.embed
    objective, model = _objective_and_model(data, share_embeddings=False, init_embeddings="decoder")
    before = model.embed.weight.clone()
    objective.init_from(model, run, sha, data)
    assert torch.equal(model.tgt_embed.weight, embed) and torch.equal(model.embed.weight, before)
    # The trainer's --init-from goes through the same hook.
    args = ["--data", data, "--out", str(tmp_path / "ft"), "--init-from", run, *TINY, "max_steps=1"]
    assert train_main([*args, "eval_every=0"]) == 0


def test_init_from_refuses_another_width_or_tokenizer_naming_it(pretrained, tmp_path):
    run, tokenizer_json = pretrained
    data = str(write_pairs_dataset(tmp_path / "same", copy_reverse_task(30), tokenizer_json=tokenizer_json))
    cfg = TrainConfig(model="seq2seq", objective="seq2seq", d_model=16, n_layer=1)
    objective = OBJECTIVES["seq2seq"](cfg, load_manifest(data))
    model = cfg.model.build(load_manifest(data).tokenizer.vocab_size, 16)
    with pytest.raises(CheckpointError, match="set d_model=32"):
        objective.init_from(model, run, load_manifest(data).tokenizer.sha256, data)
    other = str(write_pairs_dataset(tmp_path / "other", copy_reverse_task(30)))  # its own tokenizer
    objective, model = _objective_and_model(other)
    with pytest.raises(CheckpointError, match=load_manifest(other).tokenizer.sha256):
        objective.init_from(model, run, load_manifest(other).tokenizer.sha256, other)


def test_seq2seq_refuses_a_dataset_without_pairs(tmp_path, capsys):
    text = str(write_text_dataset(tmp_path / "text", sample_texts(n_en=6, n_zh=0, max_chars=200), 280))
    with pytest.raises(ConfigError, match="task=pairs"):
        _objective_and_model(text)
    assert train_main(["--data", text, "--out", str(tmp_path / "r"), *TINY, "max_steps=1"]) == 1
    assert "paired-text task dataset" in capsys.readouterr().err


def test_the_example_config_trains_and_scores_chinese_targets_with_the_zh_tokenizer(tmp_path):
    zh = copy_reverse_task(80, "copy", alphabet="天地玄黄宇宙洪荒")
    data = str(write_pairs_dataset(tmp_path / "zh", zh, vocab_size=300, lang="zh"))
    run = str(tmp_path / "run")
    args = ["--data", data, "--out", run, "--config", "lm_train/configs/seq2seq-tiny.yaml"]
    assert train_main([*args, "max_steps=2", "eval_steps=1", "tensorboard=false", "peak_flops=1e11"]) == 0
    last = _records(run, "eval")[-1]
    assert last["bleu_tokenize"] == "zh" and 0 <= last["chrf"] <= 100


def test_generate_refuses_a_seq2seq_run_and_names_predict(pairs, tmp_path, capsys):
    from lm_train.generate import main as generate_main

    run = str(tmp_path / "s2s")
    assert train_main(["--data", pairs, "--out", run, *TINY, "max_steps=2", "eval_every=0"]) == 0
    capsys.readouterr()
    assert generate_main(["--checkpoint", run, "--prompt", "abc"]) == 1
    err = capsys.readouterr().err.strip()
    assert "objective=seq2seq" in err and "lm_train.predict" in err and len(err.splitlines()) == 1


def test_the_report_of_a_seq2seq_run_plots_bleu_and_chrf(pairs, tmp_path, capsys):
    from lm_train.report import main as report_main

    run = tmp_path / "s2s-report"
    assert train_main(["--data", pairs, "--out", str(run), *TINY, "max_steps=4", "eval_every=2"]) == 0
    assert report_main([str(run)]) == 0
    assert (run / "loss.png").exists()
    assert "BLEU" in (run / "report.html").read_text(encoding="utf-8")

"""``python -m lm_train.word2vec`` as a user meets it: planted synonyms nearest each other for
skip-gram, CBOW and GloVe, byte-identical reruns, the run directory it writes and the ones it
refuses, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lm_train import word2vec
from lm_train.word2vec import main
from pipelines.cooccur.__main__ import main as cooccur_main
from tests.test_w2v_corpus import PAIRS, planted_sentences, write_documents

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--dim", "20", "--min-count", "2", "--window", "5"]


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    return write_documents(tmp_path_factory.mktemp("w2v") / "ds", planted_sentences(per_pair=800))


@pytest.fixture(scope="module")
def skipgram_run(docs, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "sg"
    assert main(["--documents", str(docs), "--out", str(run), *SMALL, "--epochs", "30"]) == 0
    return run


def load(run: Path):
    from gensim.models import KeyedVectors

    return KeyedVectors.load(str(run / "vectors.kv"))


def assert_pairs_nearest(run: Path) -> None:
    kv = load(run)
    for a, b in PAIRS:
        assert kv.most_similar(a, topn=1)[0][0] == b, (a, kv.most_similar(a, topn=3))
        assert kv.most_similar(b, topn=1)[0][0] == a, (b, kv.most_similar(b, topn=3))


@pytest.mark.slow
def test_skipgram_puts_planted_synonyms_nearest(skipgram_run):
    assert_pairs_nearest(skipgram_run)


@pytest.mark.slow
def test_the_run_directory(skipgram_run, docs):
    names = {p.name for p in skipgram_run.iterdir()}
    assert {"embeddings.json", "vectors.kv", "vectors.txt", "eval-embeddings.json", "report.html"} <= names
    meta = json.loads((skipgram_run / "embeddings.json").read_text())
    assert meta["algorithm"] == "skipgram" and meta["trained_by"] == "lm_train.word2vec"
    assert meta["corpus"]["documents"] == 640 and meta["corpus"]["words"] > 20_000
    assert meta["vocab_size"] == len(load(skipgram_run)) and meta["words_per_second"] > 0
    assert meta["settings"]["window"] == 5 and meta["reproducible"] is True
    evaluation = json.loads((skipgram_run / "eval-embeddings.json").read_text())
    assert {"wordsim353_spearman", "simlex999_spearman", "analogy_accuracy", "coverage"} <= set(evaluation)
    header = (skipgram_run / "vectors.txt").read_text(encoding="utf-8").split("\n", 1)[0]
    assert header == f"{meta['vocab_size']} 20"
    assert "汽车" in load(skipgram_run).key_to_index  # the Chinese sentences were segmented by jieba


@pytest.mark.slow
def test_rerun_gives_byte_identical_vectors(skipgram_run, docs, tmp_path):
    again = tmp_path / "again"
    assert main(["--documents", str(docs), "--out", str(again), *SMALL, "--epochs", "30"]) == 0
    for name in ("vectors.kv", "vectors.txt"):
        assert (again / name).read_bytes() == (skipgram_run / name).read_bytes(), name


@pytest.mark.slow
def test_byte_identical_across_processes_with_other_hash_seeds(skipgram_run, docs, tmp_path):
    """Python salts str hashes per process; gensim must not see that (a stable hashfxn)."""
    out = tmp_path / "proc"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    cmd = [sys.executable, "-m", "lm_train.word2vec", "--documents", str(docs), "--out", str(out)]
    subprocess.run([*cmd, *SMALL, "--epochs", "30"], check=True, cwd=ROOT, env=env, capture_output=True)
    assert (out / "vectors.txt").read_bytes() == (skipgram_run / "vectors.txt").read_bytes()


@pytest.mark.slow
def test_cbow_puts_planted_synonyms_nearest(docs, tmp_path):
    run = tmp_path / "cbow"
    assert (
        main(["--documents", str(docs), "--out", str(run), "--algorithm", "cbow", *SMALL, "--epochs", "30"])
        == 0
    )
    assert_pairs_nearest(run)
    assert json.loads((run / "embeddings.json").read_text())["algorithm"] == "cbow"


@pytest.fixture(scope="module")
def counts(docs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("co") / "co"
    assert (
        cooccur_main(["--documents", str(docs), "--output", str(out), "--window", "5", "--min-count", "2"])
        == 0
    )
    return out


@pytest.mark.slow
def test_glove_on_given_counts_puts_planted_synonyms_nearest(counts, tmp_path, caplog):
    run = tmp_path / "glove"
    args = ["--cooccurrence", str(counts), "--out", str(run), "--algorithm", "glove", "--dim", "20"]
    args += ["--glove-vectors", "word"]  # W: words that share contexts (test_w2v_glove says why)
    assert main([*args, "--epochs", "100", "--batch-size", "1024", "--min-count", "3"]) == 0
    assert_pairs_nearest(run)
    meta = json.loads((run / "embeddings.json").read_text())
    assert meta["losses"][-1] < meta["losses"][0] and meta["settings"]["min_count"] == 2
    assert "--min-count 3 is ignored" in caplog.text
    assert not (run / "cooccurrence").exists()


@pytest.mark.slow
def test_glove_counts_with_the_beam_pipeline_in_a_subprocess(docs, counts, tmp_path):
    run = tmp_path / "glove"
    args = ["--documents", str(docs), "--out", str(run), "--algorithm", "glove", *SMALL, "--epochs", "2"]
    assert main([*args, "--beam-arg=--direct_num_workers=1"]) == 0
    for name in ("vocab.tsv", "part-00000-of-00008.arrow"):
        assert (run / "cooccurrence" / name).read_bytes() == (counts / name).read_bytes()
    assert json.loads((run / "embeddings.json").read_text())["seconds"]["cooccurrence"] > 0


def test_glove_without_the_pipelines_says_what_to_run(docs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(word2vec, "pipelines_available", lambda: False)
    run = tmp_path / "glove"
    assert main(["--documents", str(docs), "--out", str(run), "--algorithm", "glove"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "python -m pipelines.cooccur" in err and "--cooccurrence DIR" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dim", "0"], "--dim must be at least 1"),
        (["--algorithm", "glove", "--window", "25"], "--window must be 1..20"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--cooccurrence", "x"], "--cooccurrence is for --algorithm=glove"),
    ],
)
def test_bad_options_are_one_line_exit_2(docs, tmp_path, capsys, extra, message):
    assert main(["--documents", str(docs), "--out", str(tmp_path / "r"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_missing_documents_exit_2(tmp_path, capsys):
    assert main(["--documents", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "r")]) == 2
    assert "--documents is required" in capsys.readouterr().err


@pytest.mark.slow
def test_run_directory_rules(docs, tmp_path, capsys):
    other = tmp_path / "trainer-run"
    other.mkdir()
    (other / "config.yaml").write_text("x: 1\n")
    assert main(["--documents", str(docs), "--out", str(other), "--overwrite"]) == 2
    assert "not a word2vec run" in capsys.readouterr().err
    assert (other / "config.yaml").exists()

    run = tmp_path / "run"
    base = ["--documents", str(docs), "--out", str(run), *SMALL, "--epochs", "1"]
    assert main(base) == 0
    assert main(base) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    (run / "eval-embeddings.json").unlink()
    assert main([*base, "--overwrite", "--algorithm", "cbow"]) == 0
    assert json.loads((run / "embeddings.json").read_text())["algorithm"] == "cbow"
    assert (run / "eval-embeddings.json").exists()


def test_help_names_the_options_and_the_reproducibility_trade(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--algorithm", "--dim", "--window", "--min-count", "--negative", "--epochs", "--workers"):
        assert flag in out
    assert "not reproducible" in out


@pytest.mark.slow
def test_each_half_runs_without_the_other_framework(docs, tmp_path):
    """word2vec trains where Beam cannot be imported (and glove says what to run instead);
    the co-occurrence pipeline counts where torch cannot be imported."""
    from tests.test_import_isolation import _run_without

    w2v = _run_without(
        "apache_beam",
        f"""
        import sys
        from lm_train.word2vec import main
        out = sys.argv[1]
        assert main(["--documents", {str(docs)!r}, "--out", out + "/sg", "--epochs", "1", "--dim", "8"]) == 0
        assert main(["--documents", {str(docs)!r}, "--out", out + "/gl", "--algorithm", "glove"]) == 2
        assert "apache_beam" not in sys.modules and "pipelines" not in sys.modules
        print("TRAINED WITHOUT BEAM")
        """,
        tmp_path,
    )
    assert w2v.returncode == 0 and "TRAINED WITHOUT BEAM" in w2v.stdout, w2v.stderr[-3000:]
    assert "python -m pipelines.cooccur" in w2v.stderr
    cooc = _run_without(
        "torch",
        f"""
        import sys
        from pipelines.cooccur.__main__ import main
        assert main(["--documents", {str(docs)!r}, "--output", sys.argv[1] + "/co"]) == 0
        assert "torch" not in sys.modules
        print("COUNTED WITHOUT TORCH")
        """,
        tmp_path,
    )
    assert cooc.returncode == 0 and "COUNTED WITHOUT TORCH" in cooc.stdout, cooc.stderr[-3000:]


@pytest.mark.slow
def test_an_unfinished_glove_run_is_retrained_on_its_own_counts(counts, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(counts, run / "cooccurrence")  # what a GloVe run stopped while training leaves
    args = [
        "--algorithm",
        "glove",
        "--out",
        str(run),
        "--cooccurrence",
        str(run / "cooccurrence"),
        "--epochs",
        "1",
    ]
    assert main(args) == 2
    assert "unfinished word2vec run; pass --overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert (run / "cooccurrence" / "manifest.json").exists() and (run / "vectors.kv").exists()

"""Export -> KeyedVectors load round trip, the word2vec text format and gensim's native file alike,
and the command on a word-embedding run: neighbours, evaluation, report, and one-line errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from gensim.models import KeyedVectors

from lm_train.embeddings import cli
from lm_train.embeddings.export import ExportError, export_vectors, load_native, load_text
from lm_train.embeddings.neighbours import nearest
from lm_train.embeddings.report import write_report

KEYS = ["the", "cat", "kitten", "dog", "car", "▁word", "的", "<0x0A>", "naïve"]


def planted(keys=KEYS, dim=6, seed=0) -> KeyedVectors:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((len(keys), dim)).astype(np.float32)
    if "cat" in keys and "kitten" in keys:  # kitten: cat plus a little noise
        vectors[keys.index("kitten")] = vectors[keys.index("cat")] + 0.05 * rng.standard_normal(dim)
    kv = KeyedVectors(dim)
    kv.add_vectors(list(keys), vectors)
    return kv


def word_run(tmp_path, kv=None, meta=None):
    run = tmp_path / "w2v"
    export_vectors(kv if kv is not None else planted(), str(run), meta or {"algorithm": "skipgram"})
    return run


def test_text_and_native_exports_load_back_bit_for_bit(tmp_path):
    kv = planted()
    paths = export_vectors(kv, str(tmp_path / "out"), {"kind": "test"})
    for loaded in (load_native(paths["kv"]), load_text(paths["txt"]), KeyedVectors.load(paths["kv"])):
        assert loaded.index_to_key == KEYS
        assert loaded.vectors.dtype == np.float32
        assert np.array_equal(loaded.vectors, kv.vectors)
    header, *rows = (tmp_path / "out" / "vectors.txt").read_text(encoding="utf-8").splitlines()
    assert header == f"{len(KEYS)} 6" and rows[6].startswith("的 ")
    assert json.loads((tmp_path / "out" / "embeddings.json").read_text()) == {"kind": "test"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "embeddings.json",
        "vectors.kv",
        "vectors.txt",
    ]


def test_a_key_with_whitespace_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ExportError, match="whitespace"):
        export_vectors(planted(["a b", "c"]), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_neighbours_of_a_planted_word():
    answer = nearest(planted(), "cat", topn=3)
    assert answer.found_as == "key cat"
    assert answer.neighbours[0][0] == "kitten" and answer.neighbours[0][1] > 0.99
    assert len(answer.neighbours) == 3 and "cat" not in [k for k, _ in answer.neighbours]
    assert nearest(planted(), "CAT").found_as == "key cat"  # a word run's vocabulary is lowercased
    assert nearest(planted(), "zebra").found_as is None


def test_the_command_prints_neighbours_as_lines_and_as_json(tmp_path, capsys):
    run = word_run(tmp_path)
    assert cli.main(["--checkpoint", str(run), "--neighbours", "cat", "--topn", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "cat (key cat):" and "kitten" in out.splitlines()[1]
    assert cli.main(["--checkpoint", str(run), "--neighbours", "cat", "的", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    first, second = record["neighbours"]
    assert first["neighbours"][0]["key"] == "kitten" and second["found_as"] == "key 的"
    assert not (run / "eval-embeddings.json").exists()  # --neighbours alone does only that


def test_a_word_without_a_vector_exits_2_naming_it(tmp_path, capsys):
    run = word_run(tmp_path)
    assert cli.main(["--checkpoint", str(run), "--neighbours", "cat", "zebra"]) == 2
    captured = capsys.readouterr()
    assert "zebra: not in the vocabulary" in captured.out
    assert captured.err.strip() == "python -m lm_train.embeddings: error: no vector for zebra"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: p, "is no run"),
        (
            lambda p: (p / "vectors.kv").write_bytes(b"not a pickle") and p,
            "cannot be read as gensim KeyedVectors",
        ),
        (lambda p: (p / "checkpoints").mkdir() or p, "holds no checkpoint"),
        (lambda p: p / "checkpoints" / "step-00000001.pt", "does not exist"),
    ],
)
def test_a_missing_or_broken_run_is_one_line_and_exit_2(tmp_path, capsys, make, message):
    run = make(tmp_path)
    assert cli.main(["--checkpoint", str(run)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_a_damaged_checkpoint_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "step-00000002.pt").write_bytes(b"\x00garbage")
    assert cli.main(["--checkpoint", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1 and "cannot be read" in lines[0], err


def test_the_report_holds_the_pca_png_and_the_evaluation(tmp_path):
    words = [f"w{i}" for i in range(40)] + ["cat", "kitten", "tiger", "dog"]
    run = word_run(tmp_path, planted(words, dim=8))
    metrics = {
        "wordsim353_spearman": 0.5,
        "simlex999_spearman": None,
        "analogy_accuracy": 0.25,
        "coverage": 0.01,
        "items": 20896,
        "wordsim353": {"items": 353, "covered": 3, "oov": 350, "coverage": 3 / 353, "spearman": 0.5},
    }
    path = write_report(str(run), load_native(str(run / "vectors.kv")), metrics, words=30)
    page = (run / "report.html").read_text(encoding="utf-8")
    assert path.endswith("report.html")
    png = (run / "embeddings-pca.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    figure = re.search(
        r'<figure id="plot-embeddings-pca"><img alt="[^"]*" src="data:image/png;base64,([^"]+)"', page
    )
    import base64

    assert figure and base64.b64decode(figure.group(1)) == png
    assert "PCA of the 30 most frequent words" in page
    rows = re.findall(
        r"<tr>(.*?)</tr>", re.search(r'<table id="evaluation">(.*?)</table>', page, re.S).group(1)
    )
    assert "WordSim-353" in rows[1] and ">350<" in rows[1]  # the OOV pairs
    assert "&#34;algorithm&#34;: &#34;skipgram&#34;" in page  # embeddings.json, escaped
    assert 'id="neighbours"' in page


def test_the_command_on_a_word_run_completes_the_export_evaluates_and_reports(tmp_path, capsys):
    run = word_run(tmp_path, planted(["cat", "dog", "tiger", "car", "kitten", "king", "queen"]))
    (run / "vectors.txt").unlink()
    assert cli.main(["--checkpoint", str(run)]) == 0
    out = capsys.readouterr().out
    assert "WordSim-353 Spearman" in out and "coverage" in out
    assert (run / "vectors.txt").exists()
    record = json.loads((run / "eval-embeddings.json").read_text())
    assert {"wordsim353_spearman", "simlex999_spearman", "analogy_accuracy", "coverage"} <= set(record)
    known = {"cat", "dog", "tiger", "car", "kitten", "king", "queen"}
    from lm_train.embeddings.evaluation import EvalSets, read_pairs

    pairs = read_pairs(EvalSets.bundled().wordsim353)
    assert record["wordsim353"]["covered"] == sum(a in known and b in known for a, b, _ in pairs) > 0
    assert (run / "report.html").exists() and (run / "embeddings-pca.png").exists()

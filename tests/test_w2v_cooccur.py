"""GloVe's co-occurrence counts: the numpy logic against a brute-force count, and the Beam pipeline
(``python -m pipelines.cooccur``) against both, for one and several parts and workers."""

from __future__ import annotations

import json
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lmcore.documents import find_document_files, iter_texts
from lmcore.words import split_words
from pipelines.cooccur import counting
from pipelines.cooccur.__main__ import main as cooccur_main
from pipelines.cooccur.transform import MergeBlocks
from schemas.cooccurrence import CooccurrenceManifest, parse_vocab_tsv, read_table
from tests.test_w2v_corpus import planted_sentences, write_documents


def brute_force(docs: list[list[str]], window: int, min_count: int) -> tuple[list[str], dict]:
    """The vocabulary and {(i, j): x} by the definition, with exact fractions."""
    counts = Counter(w for d in docs for w in d)
    vocab = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    index = {w: k for k, w in enumerate(vocab)}
    x: dict[tuple[int, int], Fraction] = {}
    for d in docs:
        ids = [index[w] for w in d if w in index]
        for p in range(len(ids)):
            for q in range(p + 1, min(p + window, len(ids) - 1) + 1):
                for a, b in ((ids[p], ids[q]), (ids[q], ids[p])):
                    x[(a, b)] = x.get((a, b), Fraction(0)) + Fraction(1, q - p)
    return vocab, {k: float(v) for k, v in x.items()}


def read_output(out: Path) -> tuple[CooccurrenceManifest, list[str], dict, list[bytes]]:
    manifest = CooccurrenceManifest.from_json((out / "manifest.json").read_text())
    words, _ = parse_vocab_tsv((out / "vocab.tsv").read_text())
    rows: dict = {}
    blobs = []
    for name in manifest.part_paths():
        data = (out / name).read_bytes()
        blobs.append(data)
        t = read_table(pa.py_buffer(data))
        i, j, x = (t.column(c).to_numpy() for c in "ijx")
        assert list(zip(i, j, strict=True)) == sorted(zip(i, j, strict=True))  # sorted inside a part
        for a, b, v in zip(i.tolist(), j.tolist(), x.tolist(), strict=True):
            assert (a, b) not in rows  # each pair once in the whole directory
            rows[(a, b)] = v
    return manifest, words, rows, blobs


SMALL = [
    "the cat sat on the mat the cat",
    "a dog and a cat and the dog",
    "汽车轿车汽车 and the car",
    "one",
    "",
    "the the the the the the the the the the the the",
]


# -- the numpy logic --------------------------------------------------------------------------
@pytest.mark.parametrize("window", [1, 2, 5])
def test_blocks_equal_the_brute_force_count_exactly(window):
    docs = [split_words(t) for t in SMALL]
    vocab, expected = brute_force(docs, window, min_count=1)
    words, _ = counting.select_vocabulary(Counter(w for d in docs for w in d).items(), 1)
    assert words == vocab
    block = counting.cooccurrence_block(docs, {w: k for k, w in enumerate(words)}, window)
    i, j, x = counting.block_columns(block, counting.weight_scale(window))
    assert dict(zip(zip(i.tolist(), j.tolist(), strict=True), x.tolist(), strict=True)) == expected


def test_sums_do_not_depend_on_how_blocks_are_split_and_merged():
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 30, size=rng.integers(0, 60)) for _ in range(200)]
    scale = counting.weight_scale(7)
    whole = counting.BlockBuilder(7, scale)
    for d in docs:
        whole.add(d)
    expected = whole.take()
    pieces = []
    for k in range(0, 200, 13):  # another grouping, blocks split by part, merged in reverse
        b = counting.BlockBuilder(7, scale, compact_rows=50)
        for d in docs[k : k + 13]:
            b.add(d)
        pieces += [blk for _, blk in counting.split_by_part(b.take(), 3)]
    fn = MergeBlocks(fold_rows=100)
    acc = fn.merge_accumulators([fn.add_input(fn.create_accumulator(), p) for p in reversed(pieces)])
    merged = fn.extract_output(acc)
    assert np.array_equal(merged[0], expected[0]) and np.array_equal(merged[1], expected[1])


def test_vocabulary_order_and_cut():
    counts = [("b", 3), ("a", 3), ("c", 5), ("d", 1)]
    assert counting.select_vocabulary(counts, 2) == (["c", "a", "b"], [5, 3, 3])
    assert counting.select_vocabulary(counts, 1, max_vocab=2) == (["c", "a"], [5, 3])


def test_every_part_holds_only_its_rows():
    block = counting.cooccurrence_block([list("abcdefgabc")], {c: k for k, c in enumerate("abcdefg")}, 3)
    for part, (keys, _) in counting.split_by_part(block, 4):
        assert set(((keys >> 32) % 4).tolist()) == {part}


# -- the pipeline ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_documents(tmp_path_factory.mktemp("cooc") / "ds", planted_sentences(per_pair=60), files=2)


def corpus_docs(root: Path) -> list[list[str]]:
    return [
        split_words(t, lang)
        for f in find_document_files(str(root))
        for texts, langs in iter_texts(f)
        for t, lang in zip(texts, langs, strict=True)
    ]


def test_pipeline_equals_the_brute_force_count(corpus, tmp_path, capsys):
    out = tmp_path / "co"
    rc = cooccur_main(["--documents", str(corpus), "--output", str(out), "--window", "4", "--min-count", "3"])
    assert rc == 0
    manifest, words, rows, _ = read_output(out)
    docs = corpus_docs(corpus)
    vocab, expected = brute_force(docs, 4, 3)
    assert words == vocab and rows == expected
    assert manifest.nonzeros == len(expected) and manifest.vocab_size == len(vocab)
    assert manifest.documents == len(docs) and manifest.tokens == sum(map(len, docs))
    assert {"汽车", "轿车"} <= set(words)  # jieba split the Chinese sentences
    assert "cooccur summary" in capsys.readouterr().err


@pytest.mark.slow
def test_the_same_rows_for_any_number_of_parts(corpus, tmp_path):
    outputs = []
    for parts in (1, 3):
        out = tmp_path / f"co{parts}"
        args = [
            "--documents",
            str(corpus),
            "--output",
            str(out),
            "--min-count",
            "2",
            "--num-parts",
            str(parts),
        ]
        assert cooccur_main(args) == 0
        outputs.append(read_output(out))
    assert outputs[0][2] == outputs[1][2] and outputs[0][1] == outputs[1][1]
    assert len(outputs[1][3]) == 3


@pytest.mark.slow
def test_byte_identical_with_several_workers_and_on_rerun(corpus, tmp_path):
    base = ["--documents", str(corpus), "--min-count", "2", "--num-parts", "3"]
    assert cooccur_main([*base, "--output", str(tmp_path / "a")]) == 0
    multi = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert cooccur_main([*base, "--output", str(tmp_path / "b"), *multi]) == 0
    a, b = read_output(tmp_path / "a"), read_output(tmp_path / "b")
    assert a[3] == b[3]  # the part files, byte for byte
    assert (tmp_path / "a" / "vocab.tsv").read_bytes() == (tmp_path / "b" / "vocab.tsv").read_bytes()
    assert cooccur_main([*base, "--output", str(tmp_path / "a")]) == 0  # rerun replaces
    assert read_output(tmp_path / "a")[3] == a[3]


def test_bad_options_and_outputs_are_one_line_exit_2(corpus, tmp_path, capsys):
    assert cooccur_main(["--documents", str(corpus), "--output", str(tmp_path / "o"), "--window", "21"]) == 2
    assert "--window must be 1..20" in capsys.readouterr().err
    assert cooccur_main(["--documents", str(tmp_path / "none"), "--output", str(tmp_path / "o")]) == 2
    assert "no such directory" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert cooccur_main(["--documents", str(corpus), "--output", str(other)]) == 2
    assert "not a co-occurrence output" in capsys.readouterr().err
    assert (other / "notes.txt").exists()


@pytest.mark.slow
def test_an_empty_vocabulary_still_writes_a_valid_output(corpus, tmp_path, capsys):
    out = tmp_path / "co"
    assert cooccur_main(["--documents", str(corpus), "--output", str(out), "--min-count", "100000"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vocab_size"] == 0 and manifest["nonzeros"] == 0
    assert "vocabulary is empty" in capsys.readouterr().err

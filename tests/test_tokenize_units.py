"""Tokenize stage logic without Beam: BPE training, long-text splitting, exact round trips, shard layout."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcore.dataset_writer import shard_filename
from pipelines.tokenize import bpe, encode, shards
from pipelines.tokenize.config import TokenizeConfig
from pipelines.tokenize.tokenize_docs import TokenizeFn

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "raw" / "jsonl"

ENGLISH = (
    "In the beginning God created the heaven and the earth.\n\nAnd the earth was without form, and void;"
)
CHINESE = "天下皆知美之为美，斯恶已。皆知善之为善，斯不善已。\n故有无相生，难易相成。"
ODD = "tabs\tand  double  spaces \u00a0nbsp, e\u0301 combining, emoji 🙂👍🏽, CRLF\r\n  trailing   "


def _texts(name: str, n: int) -> list[str]:
    with gzip.open(SAMPLE / name, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for _, line in zip(range(n), f, strict=False)]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return _texts("kjv-new-testament.jsonl.gz", 120) + _texts("fortunes-zh.jsonl.gz", 120)


@pytest.fixture(scope="module")
def config() -> TokenizeConfig:
    return TokenizeConfig(vocab_size=600, max_piece_chars=200)


@pytest.fixture(scope="module")
def tok_json(corpus, config) -> str:
    return bpe.train_bpe(corpus, config)


def test_training_is_deterministic_byte_for_byte(corpus, config, tok_json):
    assert bpe.train_bpe(corpus, config) == tok_json
    spec = bpe.describe(tok_json, config)
    assert spec.vocab_size == 600
    assert spec.eos_id == 0 and spec.pad_id == 1
    assert spec.special_tokens == {"<|endoftext|>": 0, "<|pad|>": 1, "<|mask|>": 2}


def test_extra_special_tokens_and_missing_eod(corpus):
    cfg = TokenizeConfig(vocab_size=400, special_tokens=["<|user|>"], pad_token=None)
    spec = bpe.describe(bpe.train_bpe(corpus[:20], cfg), cfg)
    assert spec.special_tokens == {"<|endoftext|>": 0, "<|mask|>": 1, "<|user|>": 2} and spec.pad_id is None
    other = TokenizeConfig(eod_token="<|eod|>")
    with pytest.raises(bpe.TokenizerError, match=r"no end-of-document token '<\|eod\|>'"):
        bpe.describe(bpe.train_bpe(corpus[:20], cfg), other)


@pytest.mark.parametrize("text", [ENGLISH, CHINESE, ODD, "", " ", "\n\n\n"])
def test_round_trip_exact(tok_json, config, text):
    tok = bpe.load_tokenizer(tok_json)
    [ids] = encode.encode_texts(tok, [text], 0, config.max_piece_chars)
    assert ids[-1] == 0 and 0 not in ids[:-1]
    assert encode.decode_document(tok, ids, 0) == text


def test_long_texts_are_split_and_still_round_trip(tok_json, config):
    tok = bpe.load_tokenizer(tok_json)
    long_en = " ".join([ENGLISH] * 40)
    long_zh = CHINESE.replace("\n", "") * 40  # no whitespace at all
    no_breaks = "x" * 1000
    texts = [long_en, long_zh, no_breaks, ENGLISH]
    for t in texts[:3]:
        assert len(encode.split_long_text(t, config.max_piece_chars)) > 3
    out = encode.encode_texts(tok, texts, 0, config.max_piece_chars, "uint16")
    assert all(a.dtype == np.uint16 for a in out)
    assert [encode.decode_document(tok, ids, 0) for ids in out] == texts
    # cutting before whitespace keeps " word" pre-tokens whole: ids barely differ from an unsplit encode
    unsplit = tok.encode(long_en, add_special_tokens=False).ids
    assert abs(len(out[0]) - 1 - len(unsplit)) <= 0.02 * len(unsplit)


def test_split_prefers_newlines_then_whitespace_then_punctuation():
    text = "a" * 60 + "\n" + "b" * 60
    assert encode.split_long_text(text, 100) == ["a" * 60 + "\n", "b" * 60]
    text = "word " * 30
    pieces = encode.split_long_text(text, 64)
    assert all(p.startswith(" ") for p in pieces[1:]) and "".join(pieces) == text
    zh = "天" * 50 + "。" + "地" * 60
    assert encode.split_long_text(zh, 100)[0] == "天" * 50 + "。"


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=400), st.integers(64, 120))
def test_split_pieces_concatenate_to_the_text(text, limit):
    pieces = encode.split_long_text(text, limit)
    assert "".join(pieces) == text
    assert all(0 < len(p) <= limit for p in pieces) or text == ""


def test_special_token_strings_inside_a_document_stay_text(tok_json, config):
    tok = bpe.load_tokenizer(tok_json)
    text = "before <|endoftext|> after <|pad|>"
    [ids] = encode.encode_texts(tok, [text], 0, config.max_piece_chars)
    assert list(ids).count(0) == 1 and 1 not in ids
    assert encode.decode_document(tok, ids, 0) == text


def test_sample_and_split_are_stable_fractions():
    ids = [f"doc-{i}" for i in range(20_000)]
    sampled = [i for i in ids if bpe.in_sample(i, 0.25, seed=17)]
    assert 0.23 < len(sampled) / len(ids) < 0.27
    assert sampled == [i for i in ids if bpe.in_sample(i, 0.25, seed=17)]
    val = [i for i in ids if shards.split_of(i, 0.1, 23) == "validation"]
    assert 0.09 < len(val) / len(ids) < 0.11
    assert set(val) <= {i for i in ids if shards.split_of(i, 0.2, 23) == "validation"}  # growing it only adds


def test_shard_count_and_names():
    assert shards.num_shards_for(0, 100) == 1
    assert shards.num_shards_for(100, 100) == 1
    assert shards.num_shards_for(101, 100) == 2
    assert shard_filename("train", 3, 12) == "train-00003-of-00012.arrow"
    assert {shards.shard_of(f"d{i}", 4, 29) for i in range(200)} == {0, 1, 2, 3}


def _docs(ids: list[str]) -> shards.TokenizedDocs:
    d = shards.TokenizedDocs.empty()
    for i in ids:
        d.doc_ids.append(i)
        d.sources.append("s")
        d.langs.append(None)
        d.num_bytes.append(len(i))
        d.tokens.append(np.array([len(i), 0], dtype=np.uint32))
    return d


def test_merge_sorted_ignores_arrival_order():
    a, b = _docs(["c", "a"]), _docs(["b", "d"])
    one = shards.merge_sorted([a, b])
    two = shards.merge_sorted([b, a])
    assert one.doc_ids == two.doc_ids == ["a", "b", "c", "d"]
    t1 = shards.shard_table(one, "uint16", "train")
    t2 = shards.shard_table(two, "uint16", "train")
    assert t1.equals(t2)


def test_tokenize_fn_drops_empty_and_quarantines_unencodable(tok_json):
    cfg = TokenizeConfig(vocab_size=600, validation_fraction=0.0)
    fn = TokenizeFn(cfg)
    fn.setup()
    docs = [
        {"id": "a", "text": ENGLISH, "source": "s", "lang": "en"},
        {"id": "b", "text": "", "source": "s", "lang": None},
        {"id": "c", "text": "lone \ud800 surrogate", "source": "s", "lang": None},
        {"id": "d", "text": CHINESE, "source": "s", "lang": "zh"},
    ]
    out = list(fn.process(("k", docs), tok_json))
    tagged = {o.tag: o.value for o in out if hasattr(o, "tag")}
    main = [o for o in out if not hasattr(o, "tag")]
    assert tagged["counts"] == {"dropped/empty_text": 1, "quarantined/tokenize_error": 1}
    assert tagged["quarantine"]["reason"] == "tokenize_error" and "c:" in tagged["quarantine"]["error"]
    [(split, tokd)] = main
    assert split == "train" and tokd.doc_ids == ["a", "d"]
    assert tokd.num_bytes == [len(ENGLISH.encode()), len(CHINESE.encode())]


def test_manifest_on_top_of_a_parent_is_cumulative(tok_json, config):
    from pipelines.tokenize.dataset import build_manifest
    from pipelines.tokenize.tokenizer import tokenizer_info

    info = tokenizer_info(tok_json, config)

    def shard(path: str, docs: int) -> dict:
        return {"path": path, "split": "train", "sha256": "a" * 64, "num_docs": docs, "num_tokens": 10 * docs,
                "num_bytes": 40 * docs, "dtype": "uint16"}  # fmt: skip

    counts = {"input": 5, "kept": 4, "dropped": {"too_short": 1}, "duplicates": {}, "quarantined": {}}
    v1 = build_manifest(
        info, [shard("shards/v00001/train-00000-of-00001.arrow", 4)], counts, {}, None, "t1", "x"
    )
    counts2 = {"input": 3, "kept": 2, "dropped": {}, "duplicates": {"exact": 1}, "quarantined": {}}
    v2 = build_manifest(
        info, [shard("shards/v00002/train-00000-of-00001.arrow", 2)], counts2, {}, v1, "t2", "x"
    )
    assert v2.version == 2 and v2.parent_fingerprint == v1.fingerprint
    assert [s.path for s in v2.shards] == [v1.shards[0].path, "shards/v00002/train-00000-of-00001.arrow"]
    assert v2.counts.to_dict() == {
        "input": 8, "kept": 6, "dropped": {"too_short": 1}, "duplicates": {"exact": 1}, "quarantined": {}
    }  # fmt: skip

"""``python -m pipelines.verify``: a good dataset passes; each kind of damage is named and fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lmcore.dataset_writer import DatasetWriter
from pipelines.dataset import verify
from pipelines.tokenize import bpe, encode, shards
from pipelines.tokenize.config import TokenizeConfig
from pipelines.tokenize.tokenizer import tokenizer_info
from schemas import Counts, sha256_bytes

TEXTS = {
    "en-1": "In the beginning God created the heaven and the earth.",
    "en-2": "And God said, Let there be light: and there was light.",
    "zh-1": "天下皆知美之为美，斯恶已。",
    "zh-2": "故有无相生，难易相成，长短相形。",
}


@pytest.fixture(scope="module")
def tok_json() -> str:
    return bpe.train_bpe(list(TEXTS.values()) * 3, TokenizeConfig(vocab_size=300))


def _shard_table(docs: dict[str, np.ndarray], split: str):
    d = shards.TokenizedDocs.empty()
    for doc_id in sorted(docs):
        d.doc_ids.append(doc_id)
        d.sources.append("test")
        d.langs.append(doc_id[:2])
        d.num_bytes.append(len(TEXTS[doc_id].encode()))
        d.tokens.append(docs[doc_id])
    return shards.shard_table(d, "uint16", split)


def make_dataset(out: Path, tok_json: str, bad_token: int | None = None) -> Path:
    """A dataset written by the one dataset writer, tokenized with the stage's own functions;
    ``bad_token`` plants an id in train."""
    tok = bpe.load_tokenizer(tok_json)
    ids = encode.encode_texts(tok, list(TEXTS.values()), 0, 1000, "uint16")
    by_id = dict(zip(TEXTS, ids, strict=True))
    if bad_token is not None:
        by_id["en-1"] = by_id["en-1"].copy()
        by_id["en-1"][0] = bad_token
    writer = DatasetWriter(str(out))
    for split, keys in (("train", ["en-1", "zh-1", "zh-2"]), ("validation", ["en-2"])):
        writer.add_shard(split, 0, 1, _shard_table({k: by_id[k] for k in keys}, split), "uint16")
    info = tokenizer_info(tok_json, TokenizeConfig())
    writer.write_tokenizer(tok_json, info.vocab_size, info.special_tokens, info.eos_id, info.pad_id)
    counts = Counts(input=5, kept=4, dropped={"too_short": 1})
    writer.commit(writer.manifest(counts, created_at="2026-01-01T00:00:00Z", code_version="test"))
    return out


def _run(path: Path, capsys) -> tuple[int, str]:
    rc = verify.main([str(path)])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def test_good_dataset_passes(tmp_path, tok_json, capsys):
    rc, out = _run(make_dataset(tmp_path, tok_json), capsys)
    assert rc == 0, out
    assert "verify: OK" in out and "4 documents" in out and "counts add up" in out


def test_flipped_byte_is_named(tmp_path, tok_json, capsys):
    ds = make_dataset(tmp_path, tok_json)
    shard = ds / "shards" / "train-00000-of-00001.arrow"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    rc, out = _run(ds, capsys)
    assert rc == 1
    assert "shard 'shards/train-00000-of-00001.arrow' is corrupted: sha256" in out


def test_missing_shard_is_named(tmp_path, tok_json, capsys):
    ds = make_dataset(tmp_path, tok_json)
    (ds / "shards" / "validation-00000-of-00001.arrow").unlink()
    rc, out = _run(ds, capsys)
    assert rc == 1
    assert "shard 'shards/validation-00000-of-00001.arrow' is listed in the manifest but missing" in out


def test_token_id_out_of_range_is_caught_by_the_range_check(tmp_path, tok_json, capsys):
    # The manifest's checksums match the crafted shard, so only the id range check can catch it.
    ds = make_dataset(tmp_path, tok_json, bad_token=300)
    manifest = json.loads((ds / "manifest.json").read_text())
    shard = ds / "shards" / "train-00000-of-00001.arrow"
    assert manifest["shards"][0]["sha256"] == sha256_bytes(shard.read_bytes())
    rc, out = _run(ds, capsys)
    assert rc == 1
    assert "token id 300 is not below the vocabulary size 300" in out
    assert "corrupted" not in out


def test_tampered_tokenizer_and_counts(tmp_path, tok_json, capsys):
    ds = make_dataset(tmp_path, tok_json)
    (ds / "tokenizer.json").write_text(tok_json + "\n", encoding="utf-8")
    rc, out = _run(ds, capsys)
    assert rc == 1 and "tokenizer 'tokenizer.json' is corrupted" in out

    ds2 = make_dataset(tmp_path / "b", tok_json)
    m = json.loads((ds2 / "manifest.json").read_text())
    m["counts"]["kept"] = 3
    m["counts"]["dropped"]["too_short"] = 2
    (ds2 / "manifest.json").write_text(json.dumps(m))
    rc, out = _run(ds2, capsys)
    assert rc == 1 and "counts.kept = 3 but the shards hold 4 documents" in out

    m["counts"]["input"] = 99
    (ds2 / "manifest.json").write_text(json.dumps(m))
    rc, out = _run(ds2, capsys)
    assert rc == 2 and "input=99" in out


def test_missing_manifest(tmp_path, capsys):
    rc, out = _run(tmp_path, capsys)
    assert rc == 2 and "no manifest" in out


def test_unlisted_shard_is_reported_but_not_a_fault(tmp_path, tok_json, capsys):
    ds = make_dataset(tmp_path, tok_json)
    (ds / "shards" / "train-00000-of-00002.arrow").write_bytes(b"old run")
    rc, out = _run(ds, capsys)
    assert rc == 0 and "shards/train-00000-of-00002.arrow is not listed in the manifest" in out


def test_the_comparisons_the_report_shares():
    listed = {"num_docs": 4, "num_tokens": 10, "num_bytes": 7}
    bad = verify.shard_mismatches(listed, {"documents": 4, "tokens": 11, "bytes": 7})
    assert bad == [verify.Mismatch("num_tokens", 10, 11)]
    assert not verify.shard_mismatches(listed, {"documents": 4})  # only the counts given are compared
    counts = {"input": 5, "kept": 3, "dropped": {"too_short": 1}, "duplicates": {"exact": 1}}
    assert verify.counts_add_up(counts) == (True, 5) and verify.removed_documents(counts) == 2
    assert verify.counts_add_up({**counts, "input": 6}) == (False, 5)
    assert verify.unlisted(["shards/a.arrow"], ["shards/a.arrow", "shards/v2/b.arrow"]) == [
        "shards/v2/b.arrow"
    ]

"""``python -m pipelines.tokenize`` end to end: text -> shards -> text, determinism, layout, manifest."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipelines.dataset import verify
from pipelines.tokenize import __main__ as tokenize_cli
from pipelines.tokenize.bpe import load_tokenizer
from pipelines.tokenize.encode import decode_document
from schemas import load_manifest, open_token_shard

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "raw" / "jsonl"
CONFIG = """
tokenize:
  vocab_size: 700
  validation_fraction: 0.1
  target_shard_tokens: 100000
  max_piece_chars: 500
"""


def _records(name: str, n: int) -> list[dict]:
    with gzip.open(SAMPLE / name, "rt", encoding="utf-8") as f:
        return [json.loads(line) for _, line in zip(range(n), f, strict=False)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("tok")
    recs = _records("kjv-new-testament.jsonl.gz", 100) + _records("fortunes-zh.jsonl.gz", 100)
    recs.append({"id": "long-en", "text": " ".join(r["text"] for r in recs[:30])})  # split before encoding
    recs.append({"id": "long-zh", "text": "".join(r["text"].replace("\n", "") for r in recs[100:130])})
    recs.append({"id": "literal-eod", "text": "a document that mentions <|endoftext|> in its text"})
    recs.append({"id": "empty", "text": ""})
    path = root / "docs.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    config = root / "config.yaml"
    config.write_text(CONFIG)
    texts = {r["id"]: r["text"] for r in recs}
    return path, config, texts


def _run(corpus, out: Path, *beam_flags: str) -> None:
    path, config, _ = corpus
    rc = tokenize_cli.main([f"--input={path}", f"--output={out}", f"--config={config}", *beam_flags])
    assert rc == 0


@pytest.fixture(scope="module")
def dataset(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds1")
    _run(corpus, out)
    return out


def _shard_paths(out: Path) -> list[Path]:
    return sorted((out / "shards").glob("*.arrow"))


@pytest.mark.slow
def test_round_trip_english_and_chinese(dataset, corpus):
    texts = corpus[2]
    manifest = load_manifest(str(dataset))
    tok = load_tokenizer((dataset / "tokenizer.json").read_text(encoding="utf-8"))
    eos = manifest.tokenizer.eos_id
    decoded: dict[str, str] = {}
    for info in manifest.shards:
        shard = open_token_shard(str(dataset / info.path))
        ids = shard.table.column("doc_id").to_pylist()
        for i, doc_id in enumerate(ids):
            doc = shard.document(i)
            assert doc[-1] == eos and eos not in doc[:-1]
            decoded[doc_id] = decode_document(tok, doc, eos)
    nonempty = {k: v for k, v in texts.items() if v}
    assert decoded == nonempty  # every non-empty document, exactly, once
    assert any("\u4e00" <= ch <= "\u9fff" for ch in decoded["long-zh"])


def test_layout_counts_and_manifest(dataset, corpus):
    manifest = load_manifest(str(dataset))
    names = [p.name for p in _shard_paths(dataset)]
    train = [n for n in names if n.startswith("train-")]
    assert len(train) > 1 and all(n.endswith(f"-of-{len(train):05d}.arrow") for n in train)
    val = [n for n in names if n.startswith("validation-")]
    assert val and all(n.endswith(f"-of-{len(val):05d}.arrow") for n in val)
    assert sorted(Path(s.path).name for s in manifest.shards) == names
    assert {s.dtype for s in manifest.shards} == {"uint16"}
    c = manifest.counts
    assert (c.input, c.kept, c.dropped) == (len(corpus[2]), len(corpus[2]) - 1, {"empty_text": 1})
    assert manifest.config["tokenize"]["vocab_size"] == 700 and manifest.code_version
    stats = json.loads((dataset / "stats.json").read_text())
    assert stats["balanced"] and stats["annotations"]["tokens"]["train"] == sum(
        s.num_tokens for s in manifest.shards_for("train")
    )
    # manifest written last: its mtime is not older than any shard's, tokenizer's or stats'
    m = (dataset / "manifest.json").stat().st_mtime_ns
    others = [*_shard_paths(dataset), dataset / "tokenizer.json", dataset / "stats.json"]
    assert all(p.stat().st_mtime_ns <= m for p in others)
    assert not list(dataset.rglob("._tmp-*"))


def test_shards_open_with_plain_pyarrow_memory_map(dataset):
    for path in _shard_paths(dataset):
        batches = list(pa.ipc.open_stream(pa.memory_map(str(path))))
        assert len(batches) == 1
        col = batches[0].column("tokens")
        tokens = col.values.to_numpy(zero_copy_only=True)
        offsets = col.offsets.to_numpy(zero_copy_only=True)
        ids = batches[0].column("doc_id").to_pylist()
        assert ids == sorted(ids) and offsets[-1] == len(tokens) and tokens[offsets[1:] - 1].max() == 0


def test_verify_accepts_the_dataset(dataset, capsys):
    assert verify.main([str(dataset)]) == 0
    assert "verify: OK" in capsys.readouterr().out


@pytest.mark.slow
def test_identical_bytes_across_runs_and_worker_counts(dataset, corpus, tmp_path):
    other = tmp_path / "ds2"
    _run(corpus, other, "--direct_running_mode=multi_processing", "--direct_num_workers=2")
    files = sorted(p.relative_to(dataset) for p in dataset.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file())
    for rel in files:
        if rel.name in ("manifest.json", "stats.json"):
            continue
        assert (dataset / rel).read_bytes() == (other / rel).read_bytes(), rel
    a, b = (json.loads((d / "manifest.json").read_text()) for d in (dataset, other))
    a.pop("created_at"), b.pop("created_at")
    assert a == b


@pytest.mark.slow
def test_tokenizer_path_reuses_a_tokenizer(dataset, corpus, tmp_path):
    path = corpus[0]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        CONFIG
        + f"  tokenizer_path: {dataset / 'tokenizer.json'}\n  compression: zstd\n  validation_fraction: 0.0\n"
    )
    out = tmp_path / "reuse"
    assert tokenize_cli.main([f"--input={path}", f"--output={out}", f"--config={cfg}"]) == 0
    assert (out / "tokenizer.json").read_bytes() == (dataset / "tokenizer.json").read_bytes()
    manifest = load_manifest(str(out))
    assert not manifest.shards_for("validation")
    shard = open_token_shard(str(out / manifest.shards[0].path))  # zstd shards still read (not zero-copy)
    assert shard.num_docs == manifest.shards[0].num_docs and np.all(shard.tokens < 700)
    assert verify.main([str(out)]) == 0

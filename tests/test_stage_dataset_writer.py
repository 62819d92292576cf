"""``lmcore.dataset_writer``: shard bytes as ``schemas`` writes them, infos counted, manifest last."""

from __future__ import annotations

import numpy as np
import pytest

from lmcore.dataset_writer import DatasetWriter, shard_filename
from schemas import Counts, build_token_shard_table, load_manifest, sha256_bytes, token_shard_to_bytes


def _table(n: int, split: str = "train"):
    tokens = [np.arange(i + 1, dtype=np.uint16) for i in range(n)]
    return build_token_shard_table(
        [f"d{i}" for i in range(n)], ["s"] * n, [None] * n, [3 * (i + 1) for i in range(n)], tokens, "uint16", split
    )  # fmt: skip


@pytest.mark.parametrize("compression", [None, "zstd"])
def test_shard_bytes_match_schemas(tmp_path, compression):
    table = _table(5)
    w = DatasetWriter(str(tmp_path), compression=compression)
    info = w.add_shard("train", 1, 3, table, "uint16")
    data = (tmp_path / "shards" / "train-00001-of-00003.arrow").read_bytes()
    assert data == token_shard_to_bytes(table, compression)
    assert info.path == "shards/" + shard_filename("train", 1, 3)
    assert (info.sha256, info.num_docs, info.num_tokens, info.num_bytes) == (sha256_bytes(data), 5, 15, 45)


def test_manifest_is_written_last_and_loads(tmp_path):
    w = DatasetWriter(str(tmp_path))
    w.add_shard("train", 0, 1, _table(4), "uint16")
    w.add_shard("validation", 0, 1, _table(2, "validation"), "uint16")
    with pytest.raises(RuntimeError, match="write_tokenizer"):
        w.manifest(Counts(input=6, kept=6))
    assert not (tmp_path / "manifest.json").exists()
    w.write_tokenizer('{"t": 1}', vocab_size=64, special_tokens={"<|endoftext|>": 0}, eos_id=0)
    w.commit(w.manifest(Counts(input=6, kept=6), created_at="2026-01-01T00:00:00Z", code_version="t"))
    m = load_manifest(str(tmp_path))
    assert [s.split for s in m.shards] == ["train", "validation"]
    assert m.tokenizer.sha256 == sha256_bytes(b'{"t": 1}')
    for shard in m.shards:
        m.verify_checksum(shard)

"""The data contract: round trips and validation errors that name the problem."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import (
    ChecksumError,
    Counts,
    CountsError,
    DocumentError,
    Manifest,
    ManifestError,
    PathEscapeError,
    ShardInfo,
    TokenizerInfo,
    TokenShardError,
    build_token_shard_table,
    documents_to_table,
    load_manifest,
    open_token_shard,
    resolve_dataset_path,
    sha256_bytes,
    table_to_documents,
    token_dtype_for_vocab,
    token_shard_to_bytes,
    validate_document,
    validate_token_shard_table,
)
from schemas.token_shard import check_offsets

DOCS = [
    {
        "id": "a",
        "text": "Hello world.",
        "source": "web",
        "url": "https://x.org",
        "lang": "en",
        "lang_score": 0.5,
        "meta": {"k": [1, 2]},
    },
    {
        "id": "b",
        "text": "你好，世界。",
        "source": "zh",
        "url": None,
        "lang": "zh",
        "lang_score": None,
        "meta": {},
    },
]


# -- documents -----------------------------------------------------------------------------------
def test_document_parquet_round_trip(tmp_path):
    path = tmp_path / "docs.parquet"
    pq.write_table(documents_to_table(DOCS), path)
    back = table_to_documents(pq.read_table(path))
    assert back[0]["meta"] == {"k": [1, 2]}
    assert back[1]["text"] == "你好，世界。"
    assert [d["id"] for d in back] == ["a", "b"]
    assert back[0]["lang_score"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"text": "x", "source": "s"}, "'id' is missing"),
        ({"id": "a", "text": 5, "source": "s"}, "'text' must be a string"),
        ({"id": "a", "text": "x", "source": "s", "lang_score": "high"}, "lang_score"),
        ({"id": "a", "text": "x", "source": "s", "meta": [1]}, "'meta' must be an object"),
    ],
)
def test_document_validation_names_the_field(doc, field):
    with pytest.raises(DocumentError, match=field):
        validate_document(doc)


# -- token shards ------------------------------------------------------------------------------------
def _shard(dtype="uint16", docs=((1, 2, 3, 0), (4, 5, 0))):
    tokens = [np.array(d, dtype=np.int64) for d in docs]
    return build_token_shard_table(
        [f"d{i}" for i in range(len(docs))],
        ["s"] * len(docs),
        ["en"] * len(docs),
        [10] * len(docs),
        tokens,
        dtype,
    )


@pytest.mark.parametrize(
    "vocab,dtype", [(256, "uint16"), (65536, "uint16"), (65537, "uint32"), (200_000, "uint32")]
)
def test_token_dtype_follows_vocabulary_size(vocab, dtype):
    assert token_dtype_for_vocab(vocab) == dtype


@pytest.mark.parametrize("dtype", ["uint16", "uint32"])
def test_token_shard_memory_map_is_zero_copy(tmp_path, dtype):
    path = tmp_path / "s.arrow"
    path.write_bytes(token_shard_to_bytes(_shard(dtype)))
    shard = open_token_shard(str(path))
    assert shard.tokens.dtype == np.dtype(dtype)
    assert shard.tokens.tolist() == [1, 2, 3, 0, 4, 5, 0]
    assert shard.offsets.tolist() == [0, 4, 7]
    assert shard.document(1).tolist() == [4, 5, 0]
    # Zero copies: the token array is a view into the memory-mapped file.
    assert not shard.tokens.flags.owndata
    assert shard.tokens.base is not None


def _as_ipc_file(table: pa.Table, version: bytes) -> bytes:
    """A shard as an earlier release wrote it: the IPC file container, declaring ``version``."""
    table = table.replace_schema_metadata({**table.schema.metadata, b"lmforge.schema_version": version})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_shards_are_ipc_streams_declaring_2_0_and_1x_file_shards_still_open(tmp_path):
    table = _shard()
    data = token_shard_to_bytes(table)
    assert not data.startswith(b"ARROW1") and table.schema.metadata[b"lmforge.schema_version"] == b"2.0"
    old = tmp_path / "old.arrow"
    old.write_bytes(_as_ipc_file(table, b"1.0"))
    shard = open_token_shard(str(old))
    assert shard.document(1).tolist() == [4, 5, 0] and shard.tokens.base is not None


def test_a_shard_whose_container_contradicts_its_version_is_refused(tmp_path):
    path = tmp_path / "s.arrow"
    path.write_bytes(_as_ipc_file(_shard(), b"2.0"))
    with pytest.raises(TokenShardError, match=r"declares schema version 2\.0 but is an Arrow IPC file"):
        open_token_shard(str(path))
    path.write_bytes(b"not arrow at all")
    with pytest.raises(TokenShardError, match="not a readable Arrow IPC stream"):
        open_token_shard(str(path))


def test_token_shard_readable_by_plain_pyarrow(tmp_path):
    path = tmp_path / "s.arrow"
    path.write_bytes(token_shard_to_bytes(_shard()))
    table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
    assert table.column("doc_id").to_pylist() == ["d0", "d1"]
    assert table.column("tokens").to_pylist() == [[1, 2, 3, 0], [4, 5, 0]]
    assert table.schema.metadata[b"lmforge.kind"] == b"token_shard"


def test_token_shard_validation_catches_ids_over_vocab():
    with pytest.raises(TokenShardError, match="not below the vocabulary size 5"):
        validate_token_shard_table(_shard(), vocab_size=5)
    validate_token_shard_table(_shard(), vocab_size=6)


def test_token_shard_validation_catches_wrong_schema():
    bad = pa.table({"tokens": pa.array([[1, 2]], type=pa.list_(pa.int64()))})
    with pytest.raises(TokenShardError, match="list<uint16"):
        validate_token_shard_table(bad)


# -- counts ---------------------------------------------------------------------------------------------
def test_counts_flat_round_trip_and_balance():
    flat = {"input": 10, "kept": 5, "dropped/too_short": 2, "duplicates/exact": 2, "quarantined/bad_json": 1}
    counts = Counts.from_flat(flat)
    assert counts.is_balanced()
    assert counts.to_flat() == flat
    assert (counts + counts).input == 20


def test_counts_that_do_not_add_up_say_by_how_much():
    with pytest.raises(CountsError, match="difference 1"):
        Counts(input=3, kept=1, dropped={"x": 1}).check_balanced()


def test_counts_reject_unknown_counter():
    with pytest.raises(CountsError, match="unknown counter 'lost/x'"):
        Counts.from_flat({"lost/x": 1})


# -- manifest -----------------------------------------------------------------------------------------------
def _write_dataset(root) -> Manifest:
    data = token_shard_to_bytes(_shard())
    (root / "shards").mkdir(parents=True)
    (root / "shards" / "train-00000.arrow").write_bytes(data)
    tok = b'{"model": {}}'
    (root / "tokenizer.json").write_bytes(tok)
    manifest = Manifest(
        tokenizer=TokenizerInfo("tokenizer.json", sha256_bytes(tok), 6, {"<|endoftext|>": 0}, eos_id=0),
        shards=[ShardInfo("shards/train-00000.arrow", "train", sha256_bytes(data), 2, 7, 20, "uint16")],
        counts=Counts(input=3, kept=2, dropped={"too_short": 1}),
        config={"vocab_size": 6},
        created_at="2026-01-01T00:00:00Z",
        code_version="lmforge test",
    )
    (root / "manifest.json").write_text(manifest.to_json())
    return manifest


def test_manifest_round_trip_and_checksum(tmp_path):
    written = _write_dataset(tmp_path)
    loaded = load_manifest(str(tmp_path))
    assert loaded.fingerprint == written.fingerprint
    assert loaded.shards_for("train")[0].num_tokens == 7
    loaded.verify_checksum(loaded.shards[0])  # intact: no error


def test_manifest_fingerprint_ignores_timestamps(tmp_path):
    m = _write_dataset(tmp_path)
    other = Manifest(**{**m.__dict__, "created_at": "2030-01-01T00:00:00Z"})
    assert other.fingerprint == m.fingerprint


def test_flipped_byte_in_shard_is_named(tmp_path):
    _write_dataset(tmp_path)
    shard = tmp_path / "shards" / "train-00000.arrow"
    data = bytearray(shard.read_bytes())
    data[-20] ^= 0xFF
    shard.write_bytes(bytes(data))
    m = load_manifest(str(tmp_path))
    with pytest.raises(ChecksumError, match=r"shards/train-00000\.arrow"):
        m.verify_checksum(m.shards[0])


def test_missing_shard_is_named(tmp_path):
    _write_dataset(tmp_path)
    (tmp_path / "shards" / "train-00000.arrow").unlink()
    m = load_manifest(str(tmp_path))
    with pytest.raises(ChecksumError, match="missing"):
        m.verify_checksum(m.shards[0])


def _edit(tmp_path, fn):
    _write_dataset(tmp_path)
    path = tmp_path / "manifest.json"
    data = json.loads(path.read_text())
    fn(data)
    data.pop("fingerprint", None)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["shards"][0].pop("sha256"), "'shards[0].sha256' is missing"),
        (
            lambda d: d["shards"][0].update(num_tokens="7"),
            "'shards[0].num_tokens' must be a non-negative integer",
        ),
        (lambda d: d["tokenizer"].update(vocab_size=-1), "'tokenizer.vocab_size'"),
        (lambda d: d.pop("tokenizer"), "'tokenizer' is missing"),
        (lambda d: d["shards"][0].update(dtype="int8"), "'shards[0].dtype' must be one of"),
        (lambda d: d["shards"][0].update(sha256="abc"), "64-character"),
        (lambda d: d["counts"].update(kept=1), "difference 1"),
        (lambda d: d.update(schema_version="9.0"), "major version"),
        (lambda d: d["tokenizer"].update(eos_id=99), "not below vocab_size"),
    ],
)
def test_manifest_errors_name_the_field(tmp_path, edit, message):
    _edit(tmp_path, edit)
    with pytest.raises(
        ManifestError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
    ):
        load_manifest(str(tmp_path))


@pytest.mark.parametrize(
    "bad", ["../outside.arrow", "/etc/passwd", "shards/../../x", "s3://bucket/x", "a\\b", "~/x", "shards//x"]
)
def test_manifest_refuses_paths_that_escape(tmp_path, bad):
    _edit(tmp_path, lambda d: d["shards"][0].update(path=bad))
    with pytest.raises(ManifestError, match=r"shards\[0\]\.path"):
        load_manifest(str(tmp_path))
    with pytest.raises(ManifestError):
        resolve_dataset_path(str(tmp_path), bad)


def test_edited_manifest_fails_fingerprint_check(tmp_path):
    _write_dataset(tmp_path)
    path = tmp_path / "manifest.json"
    data = json.loads(path.read_text())
    data["shards"][0]["sha256"] = "0" * 64
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="fingerprint"):
        load_manifest(str(tmp_path))


def test_manifest_loads_from_memory_filesystem():
    import fsspec

    fs = fsspec.filesystem("memory")
    data = token_shard_to_bytes(_shard())
    fs.pipe("/ds/shards/train-00000.arrow", data)
    m = Manifest(
        tokenizer=TokenizerInfo("tokenizer.json", "a" * 64, 6, {}, eos_id=0),
        shards=[ShardInfo("shards/train-00000.arrow", "train", sha256_bytes(data), 2, 7, 20, "uint16")],
        counts=Counts(input=2, kept=2),
        created_at="t",
        code_version="c",
    )
    fs.pipe("/ds/manifest.json", m.to_json().encode())
    loaded = load_manifest("memory://ds")
    loaded.verify_checksum(loaded.shards[0])
    assert loaded.path_of("shards/train-00000.arrow") == "memory://ds/shards/train-00000.arrow"


def test_missing_manifest_says_what_to_do(tmp_path):
    with pytest.raises(ManifestError, match="no manifest"):
        load_manifest(str(tmp_path))


# -- hostile datasets: symlinks, claims, malformed offsets ----------------------------------------------
def _outside_copy(tmp_path, source):
    target = tmp_path.parent / f"{tmp_path.name}-outside" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return target


def _link_shard_out(root):
    shard = root / "shards" / "train-00000.arrow"
    outside = _outside_copy(root, shard)
    shard.unlink()
    shard.symlink_to(outside)


def _link_shards_dir_out(root):
    outside = root.parent / f"{root.name}-outside-shards"
    (root / "shards").rename(outside)
    (root / "shards").symlink_to(outside)


def _link_tokenizer_out(root):
    tok = root / "tokenizer.json"
    outside = _outside_copy(root, tok)
    tok.unlink()
    tok.symlink_to(outside)


def _link_manifest_out(root):
    manifest = root / "manifest.json"
    outside = _outside_copy(root, manifest)
    manifest.unlink()
    manifest.symlink_to(outside)


@pytest.mark.parametrize(
    ("link", "what"),
    [
        (_link_shard_out, "shard 'shards/train-00000.arrow'"),
        (_link_shards_dir_out, "shard 'shards/train-00000.arrow'"),
        (_link_tokenizer_out, "tokenizer file 'tokenizer.json'"),
        (_link_manifest_out, "manifest 'manifest.json'"),
    ],
)
def test_a_symlink_out_of_the_dataset_is_refused(tmp_path, link, what):
    root = tmp_path / "ds"
    _write_dataset(root)
    link(root)
    with pytest.raises(PathEscapeError, match=f"{what} leads outside the dataset directory") as info:
        load_manifest(str(root))
    assert "\n" not in str(info.value)
    if "shard" in what:  # the path join every reader uses refuses it too
        with pytest.raises(PathEscapeError):
            resolve_dataset_path(str(root), "shards/train-00000.arrow")


def test_symlinks_that_stay_inside_the_dataset_and_a_symlinked_root_are_allowed(tmp_path):
    root = tmp_path / "ds"
    _write_dataset(root)
    shard = root / "shards" / "train-00000.arrow"
    (root / "blobs").mkdir()
    shard.rename(root / "blobs" / "x.arrow")
    shard.symlink_to(root / "blobs" / "x.arrow")
    (tmp_path / "current").symlink_to(root)
    m = load_manifest(str(tmp_path / "current"))
    m.verify_checksum(m.shards[0])


def test_what_a_manifest_may_claim_is_bounded(tmp_path):
    _edit(tmp_path, lambda d: d["tokenizer"].update(vocab_size=10**12))
    with pytest.raises(ManifestError, match=r"vocab_size' = 1000000000000 must be in \[1, 4294967296\]"):
        load_manifest(str(tmp_path))
    (tmp_path / "manifest.json").unlink()
    _edit(tmp_path / "b", lambda d: d["shards"][0].update(num_tokens=2**31))
    with pytest.raises(ManifestError, match=r"num_tokens' = 2147483648 is more than a shard can hold"):
        load_manifest(str(tmp_path / "b"))


def test_a_data_path_that_is_no_dataset_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ManifestError, match=r"notes\.txt is a file, not a dataset directory"):
        load_manifest(str(tmp_path / "notes.txt"))
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ManifestError, match=r"dir\.json is a directory, not a manifest file"):
        load_manifest(str(tmp_path / "dir.json"))
    (tmp_path / "latin1").mkdir()
    (tmp_path / "latin1" / "manifest.json").write_bytes(b'{"kind": "caf\xe9"}')
    with pytest.raises(ManifestError, match="is not UTF-8 text"):
        load_manifest(str(tmp_path / "latin1"))
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ManifestError, match=r"nested too deeply|not valid JSON"):
        load_manifest(str(tmp_path / "deep"))


def test_token_offsets_that_run_backwards_are_refused(tmp_path):
    # Arrow's IPC reader checks that offsets stay inside the values, not that they rise; the
    # loader turns them into token positions, so a forged shard is refused when opened.
    values = pa.array([1, 2, 3, 0, 4, 5, 0], pa.uint16())
    bad = pa.Array.from_buffers(
        pa.list_(pa.field("item", pa.uint16(), nullable=False)),
        2,
        [None, pa.py_buffer(np.asarray([0, 5, 4], np.int32).tobytes())],
        children=[values],
    )
    good = _shard()
    table = good.set_column(good.schema.get_field_index("tokens"), good.schema.field("tokens"), [bad])
    path = tmp_path / "bad.arrow"
    path.write_bytes(token_shard_to_bytes(table))
    with pytest.raises(TokenShardError, match="token offsets decrease"):
        open_token_shard(str(path))


@pytest.mark.parametrize("offsets", [[0, 4, 9], [-1, 4, 7], []])
def test_token_offsets_outside_the_values_are_refused(offsets):
    with pytest.raises(TokenShardError, match="run outside the 7 token values"):
        check_offsets(np.asarray(offsets, np.int32), 7)

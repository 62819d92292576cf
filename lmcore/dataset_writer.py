"""The one writer of token dataset directories: shards, then the tokenizer, then the manifest.

Readers trust ``manifest.json`` and nothing else, so it is written last and atomically:
a dataset directory without one is not a dataset, and one with one names only files that
are complete (every file goes through ``storage``'s write-then-rename). The tokenize
stage, the test fixtures (``lm_train.testing``) and the synthetic datasets of the
benchmarks all write through here, so they agree on names (``lmcore.layout``), on shard
bytes (``schemas.token_shard``) and on the order.

In one process::

    w = DatasetWriter(root)
    w.add_shard("train", 0, 1, table)  # a schemas token-shard table -> ShardInfo
    info = w.write_tokenizer(tokenizer_json_text, vocab_size=..., special_tokens=..., eos_id=0, pad_id=1)
    manifest = w.commit(w.manifest(counts))  # manifest.json, last

Spread over workers (the Beam stage): one ``DatasetWriter`` per shard file, each returning
its ``ShardInfo``; a final step gathers every info, builds the ``Manifest`` and calls
``commit`` (or the stage's own versioned commit). Imports neither Beam nor torch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lmcore import storage
from lmcore.layout import SHARDS_DIR, TOKENIZER_FILENAME
from schemas import MANIFEST_FILENAME, Counts, Manifest, ShardInfo, TokenizerInfo, sha256_bytes

ManifestSink = Callable[[Manifest], None]


def shard_filename(split: str, index: int, num_shards: int) -> str:
    """``train-00003-of-00012.arrow``: the name of shard ``index`` of ``num_shards`` of a split."""
    return f"{split}-{index:05d}-of-{num_shards:05d}.arrow"


class _HashingSink:
    """A binary file wrapper that hashes what goes through it (no second read of the shard)."""

    def __init__(self, f: Any):
        self._f = f
        self.sha256 = hashlib.sha256()
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self._f.write(view)
        return view.nbytes

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:  # pyarrow closes its sink; the atomic writer closes the file
        self.closed = True


def write_token_shard(path: str, table: pa.Table, compression: str | None = None) -> str:
    """Write a token-shard table as an Arrow IPC stream, atomically; returns its sha256.

    The same bytes as ``schemas.token_shard_to_bytes(table, compression)``, streamed batch
    by batch: a shard never has to fit in memory twice. A full disk names the table's size
    (its buffers; the file adds only framing) as the space needed.
    """
    with storage.atomic_open(path, "wb", size=table.nbytes) as f:
        sink = _HashingSink(f)
        options = pa.ipc.IpcWriteOptions(compression=compression)
        with pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), table.schema, options=options) as writer:
            for batch in table.to_batches():
                writer.write_batch(batch)
    return sink.sha256.hexdigest()


def shard_info(rel: str, split: str, sha256: str, table: pa.Table, dtype: str) -> ShardInfo:
    """What the manifest records of a shard, counted from the table written."""
    num_tokens = pc.sum(pc.list_value_length(table.column("tokens"))).as_py() or 0
    num_bytes = pc.sum(table.column("num_bytes")).as_py() or 0
    return ShardInfo(rel, split, sha256, table.num_rows, int(num_tokens), int(num_bytes), dtype)


class DatasetWriter:
    """Writes one dataset directory (or, on a worker, some of its shards): see the module docstring."""

    def __init__(
        self,
        root: str,
        shards_dir: str = SHARDS_DIR,
        compression: str | None = None,
        tokenizer_file: str = TOKENIZER_FILENAME,
    ):
        self.root = str(root)
        self.shards_dir = shards_dir.strip("/")
        self.compression = compression
        self.tokenizer_file = tokenizer_file
        self.shards: list[ShardInfo] = []
        self.tokenizer: TokenizerInfo | None = None

    def shard_rel(self, split: str, index: int, num_shards: int) -> str:
        """A shard's path relative to the dataset directory (as the manifest records it)."""
        return f"{self.shards_dir}/{shard_filename(split, index, num_shards)}"

    def add_shard(self, split: str, index: int, num_shards: int, table: pa.Table, dtype: str) -> ShardInfo:
        """Write shard ``index`` of ``num_shards`` of ``split`` from a ``schemas`` token-shard table."""
        rel = self.shard_rel(split, index, num_shards)
        sha = write_token_shard(storage.join(self.root, rel), table, self.compression)
        info = shard_info(rel, split, sha, table, dtype)
        self.shards.append(info)
        return info

    def write_tokenizer(
        self,
        text: str,
        vocab_size: int,
        special_tokens: Mapping[str, int],
        eos_id: int,
        pad_id: int | None = None,
    ) -> TokenizerInfo:
        """Write the tokenizer JSON (after the shards, before the manifest) and describe it."""
        data = text.encode("utf-8")
        storage.atomic_write_bytes(storage.join(self.root, self.tokenizer_file), data)
        self.tokenizer = TokenizerInfo(
            file=self.tokenizer_file,
            sha256=sha256_bytes(data),
            vocab_size=vocab_size,
            special_tokens=dict(special_tokens),
            eos_id=eos_id,
            pad_id=pad_id,
        )
        return self.tokenizer

    def manifest(
        self,
        counts: Counts,
        config: Mapping[str, Any] | None = None,
        created_at: str | None = None,
        code_version: str = "",
        shards: Iterable[ShardInfo] | None = None,
    ) -> Manifest:
        """The manifest of what this writer wrote (its shards in the order they were added)."""
        if self.tokenizer is None:
            raise RuntimeError("write_tokenizer() comes before the manifest")
        return Manifest(
            tokenizer=self.tokenizer,
            shards=list(self.shards if shards is None else shards),
            counts=counts,
            config=dict(config or {}),
            created_at=created_at or "",
            code_version=code_version,
        )

    def commit(self, manifest: Manifest, sink: ManifestSink | None = None) -> Manifest:
        """Write the manifest, last: ``DIR/manifest.json`` atomically, or through ``sink``."""
        if sink is not None:
            sink(manifest)
        else:
            write_manifest(self.root, manifest)
        return manifest


def write_manifest(root: str, manifest: Manifest) -> None:
    """``root/manifest.json``, atomically: the step that makes a directory a dataset."""
    storage.atomic_write_text(storage.join(str(root), MANIFEST_FILENAME), manifest.to_json())

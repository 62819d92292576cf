"""Finding and streaming the documents of a directory, for readers outside the pipelines.

``pipelines.clean`` and ``pipelines.dedup`` write ``DIR/documents/part-*.parquet``
(``schemas.DOCUMENT_SCHEMA``). The word-vector trainer and the co-occurrence pipeline read
only ``text`` and ``lang`` from them, a record batch at a time, so a corpus never has to fit
in memory. A prepared token dataset (``pipelines.prepare``) keeps no Parquet: its kept
documents are its train and validation shards, decoded with its own ``tokenizer.json``
(byte-level BPE decodes to the text it encoded), checksum-verified first. Files are listed
in sorted order, so every pass sees the documents in the same order (what makes training
reproducible).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from lmcore import storage
from lmcore.layout import DOCUMENTS_DIR, SHARDS_DIR, TOKENIZER_FILENAME
from schemas import ManifestError, load_manifest, open_token_shard
from schemas.manifest import MANIFEST_FILENAME

BATCH_ROWS = 1024
SHARD_SUFFIX = ".arrow"
DOCUMENT_SPLITS = ("train", "validation")  # a prepared dataset's kept documents


class NoDocumentsError(FileNotFoundError):
    """The directory holds no document Parquet; the message says what to run instead."""


@dataclass(frozen=True)
class DocumentFile:
    path: str
    size: int
    num_rows: int
    num_row_groups: int


def _parquet_under(root: str) -> list[str]:
    fs, p = storage.get_fs(root)
    if not fs.isdir(p):
        return []
    base = p.rstrip("/")
    found = []
    for name in fs.find(p):
        rel = name[len(base) :].lstrip("/")
        if name.endswith(".parquet") and not any(storage.is_hidden(part) for part in rel.split("/")):
            found.append(name if storage.is_local(root) else fs.unstrip_protocol(name))
    return sorted(found)


def find_document_files(directory: str) -> list[str]:
    """The document Parquet files of ``directory``, sorted.

    ``directory`` is a stage's output (``documents/`` below it), the ``documents/`` folder
    itself, or a single ``.parquet`` file. A token dataset without documents (``shards/``
    only) is an error that says so: word vectors are trained on words, not token ids.
    """
    directory = directory.rstrip("/") or directory
    fs, p = storage.get_fs(directory)
    if directory.endswith(".parquet") and fs.isfile(p):
        return [directory]
    files = _parquet_under(storage.join(directory, DOCUMENTS_DIR))
    if files:
        return files
    if fs.exists(
        f"{p.rstrip('/')}/{MANIFEST_FILENAME}"
    ):  # a prepared dataset (its dedup index is Parquet too)
        return dataset_shards(directory)
    files = _parquet_under(directory)
    if files:
        return files
    if not fs.exists(p):
        raise NoDocumentsError(f"--documents {directory}: no such directory")
    if fs.exists(f"{p.rstrip('/')}/{SHARDS_DIR}"):
        raise NoDocumentsError(
            f"--documents {directory}: token shards without a {MANIFEST_FILENAME}; an unfinished dataset? "
            "(pass the output of python -m pipelines.clean, dedup or prepare)"
        )
    raise NoDocumentsError(
        f"--documents {directory}: no {DOCUMENTS_DIR}/*.parquet (python -m pipelines.clean or "
        "pipelines.dedup writes them)"
    )


def dataset_shards(directory: str) -> list[str]:
    """The train and validation shards of a prepared dataset, checksum-verified, sorted by path."""
    try:
        manifest = load_manifest(directory)
        shards = sorted((s for s in manifest.shards if s.split in DOCUMENT_SPLITS), key=lambda s: s.path)
        for shard in shards:
            manifest.verify_checksum(shard)
    except (ManifestError, OSError) as exc:
        raise NoDocumentsError(f"--documents {directory}: {exc}") from exc
    if not shards:
        raise NoDocumentsError(f"--documents {directory}: the dataset has no train or validation shards")
    return [manifest.path_of(s.path) for s in shards]


def _dataset_root(shard_path: str) -> str:
    """``DIR`` of ``DIR/shards/[v0000N/]name.arrow`` (the layout every dataset has)."""
    root, sep, _ = shard_path.rpartition(f"/{SHARDS_DIR}/")
    if not sep:
        raise NoDocumentsError(f"{shard_path}: a token shard outside a dataset's {SHARDS_DIR}/ folder")
    return root


@functools.lru_cache(maxsize=8)
def _tokenizer(root: str):
    from tokenizers import Tokenizer

    return Tokenizer.from_str(storage.read_text(storage.join(root, TOKENIZER_FILENAME)))


def _open_shard(path: str):
    local = storage.is_local(path)
    return open_token_shard(storage.local_path(path) if local else pa.py_buffer(storage.read_bytes(path)))


def _shard_texts(path: str, row_groups: list[int] | None, batch_rows: int):
    """Decoded documents of a token shard, ``batch_rows`` at a time; "row group" ``g`` is the
    ``g``-th run of ``BATCH_ROWS`` documents (what ``describe`` counts)."""
    shard = _open_shard(path)
    tok = _tokenizer(_dataset_root(path))
    langs = shard.table.column("lang").to_pylist()
    groups = row_groups if row_groups is not None else range(-(-shard.num_docs // BATCH_ROWS))
    for g in groups:
        stop = min((g + 1) * BATCH_ROWS, shard.num_docs)
        for start in range(g * BATCH_ROWS, stop, batch_rows):
            end = min(start + batch_rows, stop)
            ids = [shard.document(i).tolist() for i in range(start, end)]
            yield tok.decode_batch(ids, skip_special_tokens=True), langs[start:end]


def describe(path: str) -> DocumentFile:
    """Size, rows and row groups of one file (its footer only; a shard: its documents in runs of
    ``BATCH_ROWS``)."""
    if path.endswith(SHARD_SUFFIX):
        shard = _open_shard(path)
        fs, p = storage.get_fs(path)
        return DocumentFile(path, int(fs.size(p) or 0), shard.num_docs, -(-shard.num_docs // BATCH_ROWS))
    fs, p = storage.get_fs(path)
    with fs.open(p, "rb") as f:
        meta = pq.ParquetFile(f).metadata
        return DocumentFile(path, int(fs.size(p) or 0), meta.num_rows, meta.num_row_groups)


def iter_texts(
    path: str, row_groups: list[int] | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[tuple[list[str], list[str | None]]]:
    """``(texts, langs)`` per record batch of one file (only those two columns are read)."""
    if path.endswith(SHARD_SUFFIX):
        yield from _shard_texts(path, row_groups, batch_rows)
        return
    fs, p = storage.get_fs(path)
    with fs.open(p, "rb") as f:
        pf = pq.ParquetFile(f)
        columns = ["text", "lang"] if "lang" in pf.schema_arrow.names else ["text"]
        for batch in pf.iter_batches(batch_size=batch_rows, row_groups=row_groups, columns=columns):
            texts = batch.column("text").to_pylist()
            langs = batch.column("lang").to_pylist() if "lang" in columns else [None] * len(texts)
            yield texts, langs


__all__ = [
    "BATCH_ROWS",
    "DocumentFile",
    "NoDocumentsError",
    "dataset_shards",
    "describe",
    "find_document_files",
    "iter_texts",
]

"""Finding and streaming the document Parquet of a directory, for readers outside the pipelines.

``pipelines.clean`` and ``pipelines.dedup`` write ``DIR/documents/part-*.parquet``
(``schemas.DOCUMENT_SCHEMA``). The word-vector trainer and the co-occurrence pipeline read
only ``text`` and ``lang`` from them, a record batch at a time, so a corpus never has to fit
in memory. Files are listed in sorted order, so every pass sees the documents in the same
order (what makes training reproducible).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.parquet as pq

from lmcore import storage
from lmcore.layout import DOCUMENTS_DIR, SHARDS_DIR
from schemas.manifest import MANIFEST_FILENAME

BATCH_ROWS = 1024


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
    files = _parquet_under(storage.join(directory, DOCUMENTS_DIR)) or _parquet_under(directory)
    if files:
        return files
    if not fs.exists(p):
        raise NoDocumentsError(f"--documents {directory}: no such directory")
    if fs.exists(f"{p.rstrip('/')}/{SHARDS_DIR}") or fs.exists(f"{p.rstrip('/')}/{MANIFEST_FILENAME}"):
        raise NoDocumentsError(
            f"--documents {directory}: a token dataset without {DOCUMENTS_DIR}/*.parquet; word vectors "
            "train on the documents: pass the output of python -m pipelines.clean or pipelines.dedup"
        )
    raise NoDocumentsError(
        f"--documents {directory}: no {DOCUMENTS_DIR}/*.parquet (python -m pipelines.clean or "
        "pipelines.dedup writes them)"
    )


def describe(path: str) -> DocumentFile:
    """Size, rows and row groups of one file (its footer only)."""
    fs, p = storage.get_fs(path)
    with fs.open(p, "rb") as f:
        meta = pq.ParquetFile(f).metadata
        return DocumentFile(path, int(fs.size(p) or 0), meta.num_rows, meta.num_row_groups)


def iter_texts(
    path: str, row_groups: list[int] | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[tuple[list[str], list[str | None]]]:
    """``(texts, langs)`` per record batch of one file (only those two columns are read)."""
    fs, p = storage.get_fs(path)
    with fs.open(p, "rb") as f:
        pf = pq.ParquetFile(f)
        columns = ["text", "lang"] if "lang" in pf.schema_arrow.names else ["text"]
        for batch in pf.iter_batches(batch_size=batch_rows, row_groups=row_groups, columns=columns):
            texts = batch.column("text").to_pylist()
            langs = batch.column("lang").to_pylist() if "lang" in columns else [None] * len(texts)
            yield texts, langs


__all__ = ["BATCH_ROWS", "DocumentFile", "NoDocumentsError", "describe", "find_document_files", "iter_texts"]

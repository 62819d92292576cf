"""Parquet (``.parquet``): lmforge document files, or any table with a text column.

A document file whose columns have the document types is checked a batch at a time (Arrow
compute) and only the rows that fail go through the per-field checks: that keeps re-reading
a cleaned dataset fast. A damaged row group is one quarantine record; the others are read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from lmcore import storage
from pipelines.io.decoding import SURROGATE_ESCAPE
from pipelines.io.formats.base import FileContext, Format
from pipelines.io.records import Document, Quarantined, Record
from schemas import DOCUMENT_FIELDS


def parse_meta(meta: str | None) -> dict:
    """The ``meta`` column of a document file (JSON text) as a dict."""
    if not meta:
        return {}
    try:
        value = json.loads(meta)
    except json.JSONDecodeError as exc:
        raise Quarantined("bad_json", f"meta is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Quarantined("wrong_type", f"meta is a JSON {type(value).__name__}, not an object")
    if "\\u" in meta and SURROGATE_ESCAPE.search(meta.encode("utf-8")):
        try:  # the meta is written back as UTF-8 JSON: a lone surrogate would crash that writer
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Quarantined("lone_surrogate", f"meta holds a lone surrogate: {exc}") from exc
    return value


def compression_suffix(path: str) -> str:
    """The compression suffix of a file name (``.gz``), for messages."""
    suffixes = PurePosixPath(path.split("://")[-1]).suffixes
    return suffixes[-1].lower() if suffixes else ""


def has_document_types(schema: Any) -> bool:
    """Whether a Parquet file's columns have the document schema's types (string kinds, float score)."""
    import pyarrow as pa

    for name in DOCUMENT_FIELDS:
        t = schema.field(name).type
        ok = (
            pa.types.is_floating(t)
            if name == "lang_score"
            else (pa.types.is_string(t) or pa.types.is_large_string(t))
        )
        if not ok:
            return False
    return True


def sound_document_rows(batch: Any, max_doc_bytes: int) -> np.ndarray:
    """Rows of a typed document batch that need no per-field checks: id, text and source
    present, id not empty, text within ``max_doc_bytes``, a finite or null ``lang_score``.
    Other rows take the checked path."""
    import pyarrow.compute as pc

    ids, text = batch.column("id"), batch.column("text")
    ok = pc.and_(pc.is_valid(ids), pc.is_valid(text))
    ok = pc.and_(ok, pc.is_valid(batch.column("source")))
    ok = pc.and_(ok, pc.greater(pc.fill_null(pc.binary_length(ids), 0), 0))
    ok = pc.and_(ok, pc.less_equal(pc.fill_null(pc.binary_length(text), 0), max_doc_bytes))
    ok = pc.and_(ok, pc.fill_null(pc.is_finite(batch.column("lang_score")), True))
    return ok.to_numpy(zero_copy_only=False)


def row_or_error(batch: Any, j: int) -> dict | Quarantined:
    """Row ``j`` of a record batch, or why it cannot be read (e.g. invalid UTF-8 in a string column)."""
    try:
        return batch.slice(j, 1).to_pylist()[0]
    except UnicodeDecodeError as exc:
        return Quarantined("invalid_utf8", f"a string column is not valid UTF-8: {exc}")
    except Exception as exc:
        return Quarantined("read_error", f"{type(exc).__name__}: {exc}")


def read_parquet(file: FileContext) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if file.compression:
        exc = Quarantined(
            "unsupported_format",
            f"compressed Parquet (.parquet{compression_suffix(file.path)}) is not supported: Parquet "
            "compresses its pages itself; give the plain .parquet file",
        )
        yield file.quarantine(0, exc)
        return
    cfg = file.config
    fs, p = storage.get_fs(file.path)
    with fs.open(p, "rb") as f:
        try:
            pf = pq.ParquetFile(f)
        except (pa.ArrowInvalid, OSError) as exc:
            yield file.quarantine(0, Quarantined("corrupt_file", f"not a readable Parquet file: {exc}"))
            return
        names = set(pf.schema_arrow.names)
        is_documents = set(DOCUMENT_FIELDS) <= names
        if not is_documents and cfg.text_field not in names:
            yield file.quarantine(
                0, Quarantined("missing_text", f"Parquet file has no {cfg.text_field!r} column")
            )
            return
        typed = is_documents and has_document_types(pf.schema_arrow)
        index = 0
        for group in range(pf.metadata.num_row_groups):
            rows_in_group = pf.metadata.row_group(group).num_rows
            start, read = index, 0
            try:
                for batch in pf.iter_batches(batch_size=cfg.chunk_docs, row_groups=[group]):
                    yield from batch_records(file, batch, index, is_documents, typed)
                    index += batch.num_rows
                    read += batch.num_rows
                    file.position = index
            except Exception as exc:  # a damaged row group: the others are still read
                exc = Quarantined(
                    "corrupt_row_group",
                    f"row group {group} (rows {start + read:,} to {start + rows_in_group - 1:,}) "
                    f"cannot be read: {type(exc).__name__}: {exc}",
                )
                yield file.quarantine(start + read, exc)
            index = start + rows_in_group


def batch_records(
    file: FileContext, batch: Any, first: int, is_documents: bool, typed: bool
) -> Iterator[Record]:
    """The documents and quarantine records of one record batch, row by row."""
    try:
        rows = batch.to_pylist()
    except Exception:  # e.g. invalid UTF-8 in a string column: find the bad rows one by one
        rows = [row_or_error(batch, j) for j in range(batch.num_rows)]
    sound = sound_document_rows(batch, file.config.max_doc_bytes) if typed else None
    for j, row in enumerate(rows):
        index = first + j
        try:
            if isinstance(row, Quarantined):
                raise row
            yield row_document(file, index, row, is_documents, sound is not None and sound[j])
        except Quarantined as exc:
            yield file.quarantine(index, exc, str(row)[:200])


def row_document(file: FileContext, index: int, row: dict, is_documents: bool, sound: bool) -> Document:
    if sound:
        # a typed document file and a row the batch checks passed: only its meta JSON is left
        return {
            "id": row["id"],
            "text": row["text"],
            "source": row["source"],
            "url": row["url"],
            "lang": row["lang"],
            "lang_score": row["lang_score"],
            "meta": parse_meta(row["meta"]),
        }
    if is_documents:
        return file.document(
            index,
            row["text"],
            row["id"],
            row.get("url"),
            parse_meta(row.get("meta")),
            {"source": row["source"], "lang": row.get("lang"), "lang_score": row.get("lang_score")},
        )
    cfg = file.config
    return file.document(index, row.get(cfg.text_field), row.get(cfg.id_field), row.get(cfg.url_field))


FORMAT = Format("parquet", (".parquet",), read_parquet)

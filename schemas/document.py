"""The *document* record: what the collect/clean/dedup stages read and write.

On disk documents are Parquet files with ``DOCUMENT_SCHEMA``. Inside a pipeline a
document is a plain ``dict`` with the same keys, except that ``meta`` is a ``dict``
(it is stored as a JSON object string so that any Parquet reader can load it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

DOCUMENT_SCHEMA_VERSION = "1.0"

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=True),
        pa.field("lang", pa.string(), nullable=True),
        pa.field("lang_score", pa.float32(), nullable=True),
        pa.field("meta", pa.string(), nullable=True),
    ],
    metadata={b"lmforge.kind": b"document", b"lmforge.schema_version": DOCUMENT_SCHEMA_VERSION.encode()},
)

DOCUMENT_FIELDS: tuple[str, ...] = tuple(DOCUMENT_SCHEMA.names)
_REQUIRED_STR = ("id", "text", "source")
_OPTIONAL_STR = ("url", "lang")


class DocumentError(ValueError):
    """A document whose fields have the wrong type or are missing."""


def validate_document(doc: Any) -> None:
    """Raise ``DocumentError`` naming the first field that breaks the schema."""
    if not isinstance(doc, Mapping):
        raise DocumentError(f"document must be an object, got {type(doc).__name__}")
    for name in _REQUIRED_STR:
        if name not in doc:
            raise DocumentError(f"document field {name!r} is missing")
        if not isinstance(doc[name], str):
            raise DocumentError(f"document field {name!r} must be a string, got {type(doc[name]).__name__}")
    if not doc["id"]:
        raise DocumentError("document field 'id' must not be empty")
    for name in _OPTIONAL_STR:
        value = doc.get(name)
        if value is not None and not isinstance(value, str):
            raise DocumentError(
                f"document field {name!r} must be a string or null, got {type(value).__name__}"
            )
    score = doc.get("lang_score")
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score)
    ):
        raise DocumentError(f"document field 'lang_score' must be a finite number or null, got {score!r}")
    meta = doc.get("meta")
    if meta is not None and not isinstance(meta, Mapping):
        raise DocumentError(f"document field 'meta' must be an object or null, got {type(meta).__name__}")


def _encode_meta(meta: Mapping[str, Any] | None) -> str | None:
    if not meta:
        return None
    # sort_keys: the same document always serialises to the same bytes.
    return json.dumps(meta, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def documents_to_table(docs: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Turn document dicts into an Arrow table with ``DOCUMENT_SCHEMA`` (column by column)."""
    docs = list(docs)
    columns = {
        "id": [d["id"] for d in docs],
        "text": [d["text"] for d in docs],
        "source": [d["source"] for d in docs],
        "url": [d.get("url") for d in docs],
        "lang": [d.get("lang") for d in docs],
        "lang_score": [d.get("lang_score") for d in docs],
        "meta": [_encode_meta(d.get("meta")) for d in docs],
    }
    return pa.Table.from_pydict(columns, schema=DOCUMENT_SCHEMA)


def table_to_documents(table: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    """Inverse of ``documents_to_table``; missing optional columns read as null."""
    n = table.num_rows
    names = set(table.schema.names)
    missing = [name for name in _REQUIRED_STR if name not in names]
    if missing:
        raise DocumentError(f"document table lacks required column(s) {missing}")
    cols = {
        name: (table.column(name).to_pylist() if name in names else [None] * n) for name in DOCUMENT_FIELDS
    }
    metas = [json.loads(m) if m else {} for m in cols["meta"]]
    return [
        {
            "id": cols["id"][i],
            "text": cols["text"][i],
            "source": cols["source"][i],
            "url": cols["url"][i],
            "lang": cols["lang"][i],
            "lang_score": cols["lang_score"][i],
            "meta": metas[i],
        }
        for i in range(n)
    ]

"""Settings for reading raw inputs into documents."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReadConfig:
    text_field: str = "text"  # JSONL/Parquet field holding the text
    id_field: str = "id"  # field holding a document id; a stable id is derived when absent
    url_field: str = "url"
    source: str | None = None  # source label for every document; default: the file name without extensions
    chunk_docs: int = 1000  # documents per Beam element
    chunk_bytes: int = 8 * 1024 * 1024  # ... or this many characters of text, whichever comes first
    max_doc_bytes: int = 10 * 1024 * 1024  # larger documents are quarantined (reason: too_large)
    max_line_bytes: int = 64 * 1024 * 1024  # longer JSONL lines are skipped in pieces (reason: line_too_long)
    text_mode: str = "document"  # plain text: "document" (one per file) or "paragraph" (per blank-line block)

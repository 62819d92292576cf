"""Settings for reading raw inputs into documents."""

from __future__ import annotations

from dataclasses import dataclass

from lmcore.config import require

TEXT_MODES = ("document", "paragraph")


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

    def __post_init__(self) -> None:
        """A wrong value fails here, before a pipeline starts (a typo is never silently ignored)."""
        require(
            self.text_mode in TEXT_MODES,
            f"read.text_mode must be 'document' or 'paragraph', not {self.text_mode!r}",
        )
        for name in ("text_field", "id_field", "url_field"):
            require(bool(getattr(self, name)), f"read.{name} must be a non-empty field name")
        require(
            self.source is None or bool(self.source),
            "read.source must be a non-empty label or null (the file name)",
        )
        for name in ("chunk_docs", "chunk_bytes", "max_doc_bytes", "max_line_bytes"):
            value = getattr(self, name)
            require(value >= 1, f"read.{name} must be a positive integer, not {value!r}")

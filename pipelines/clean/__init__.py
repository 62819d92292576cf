"""Clean stage: raw documents -> clean, annotated documents (``CleanDocuments``)."""

from pipelines.clean.config import CleanConfig
from pipelines.clean.transform import CleanDocuments, Cleaner, clean_chunk, clean_document

__all__ = ["CleanConfig", "CleanDocuments", "Cleaner", "clean_chunk", "clean_document"]

"""Clean stage: raw documents -> clean, annotated documents (``CleanDocuments``)."""

from pipelines.clean.config import CleanConfig
from pipelines.clean.transform import CleanDocuments, clean_document

__all__ = ["CleanConfig", "CleanDocuments", "clean_document"]

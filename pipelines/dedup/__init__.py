"""Dedup stage: boilerplate lines, exact and MinHash-LSH duplicates (``DeduplicateDocuments``)."""

from pipelines.dedup.config import DedupConfig
from pipelines.dedup.transform import DeduplicateDocuments

__all__ = ["DedupConfig", "DeduplicateDocuments"]

"""Dedup stage: exact and MinHash-LSH duplicates, then boilerplate lines (``DeduplicateDocuments``).

The Beam transform is imported on first use, so ``python -m pipelines.dedup --help`` loads
without Beam.
"""

from typing import Any

from pipelines.dedup.config import DedupConfig

__all__ = ["DedupConfig", "DeduplicateDocuments"]


def __getattr__(name: str) -> Any:
    if name == "DeduplicateDocuments":
        from pipelines.dedup.transform import DeduplicateDocuments

        return DeduplicateDocuments
    raise AttributeError(f"module 'pipelines.dedup' has no attribute {name!r}")

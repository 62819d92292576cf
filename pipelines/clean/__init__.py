"""Clean stage: raw documents -> clean, annotated documents (``CleanDocuments``).

The Beam transform is imported on first use, so ``python -m pipelines.clean --help`` and
the pure helpers (``pipelines.clean.quality``, ``blocks``, ``whatif``) load without Beam.
"""

from typing import Any

from pipelines.clean.config import CleanConfig

__all__ = ["CleanConfig", "CleanDocuments", "Cleaner", "clean_chunk", "clean_document"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pipelines.clean import transform

        return getattr(transform, name)
    raise AttributeError(f"module 'pipelines.clean' has no attribute {name!r}")

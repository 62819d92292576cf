"""Clean stage: raw documents -> clean, annotated documents (``CleanDocuments``).

The cleaner and the Beam transform are imported on first use, so ``python -m
pipelines.clean --help`` and the pure helpers (``filters``, ``blocks``, ``whatif``) load
without them; ``Cleaner`` itself needs no Beam.
"""

from typing import Any

from pipelines.clean.config import CleanConfig

__all__ = ["CleanConfig", "CleanDocuments", "Cleaner", "clean_chunk", "clean_document"]
_FROM_CLEANER = ("Cleaner", "clean_chunk", "clean_document")


def __getattr__(name: str) -> Any:
    if name in _FROM_CLEANER:
        from pipelines.clean import cleaner

        return getattr(cleaner, name)
    if name in __all__:
        from pipelines.clean import transform

        return getattr(transform, name)
    raise AttributeError(f"module 'pipelines.clean' has no attribute {name!r}")

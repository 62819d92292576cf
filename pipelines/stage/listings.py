"""Cached directory listings, dropped when other processes may have written.

s3fs and gcsfs cache each directory listing per filesystem instance. A pipeline's files
are written by its workers (other processes on a cluster or with
``--direct_running_mode=multi_processing``), so a listing this process cached before the
run hides them: on S3 a committed manifest looked uncommitted. Forget them after a run,
and on a worker before each task.
"""

from __future__ import annotations


def forget_listings() -> None:
    """Invalidate the listing cache of every fsspec filesystem instance of this process."""
    import fsspec

    for cls in set(fsspec.registry.values()):
        for fs in list(getattr(cls, "_cache", {}).values()):
            fs.invalidate_cache()

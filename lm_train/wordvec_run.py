"""The word-embedding run directory: which RUN may be written, and clearing a previous run.

A RUN must be new, empty, or hold only what this command writes (a previous run, whose
``embeddings.json`` says ``"trained_by": "lm_train.word2vec"``, or an unfinished one, say
``cooccurrence/`` of a GloVe run stopped while training) *and* ``--overwrite`` be given; then
only the names this command writes are removed first (``embeddings.json``, ``vectors.kv*``, ``vectors.txt``,
``eval-embeddings.json``, the report, ``cooccurrence/`` unless it is the ``--cooccurrence``
input). Anything else in RUN (a trainer run, a dataset) is refused with or without it.
"""

from __future__ import annotations

import json

from lmcore import storage
from lmcore.layout import (
    COOCCURRENCE_DIR,
    EMBEDDINGS_EVAL_FILENAME,
    EMBEDDINGS_META_FILENAME,
    REPORT_HTML,
    VECTORS_KV_FILENAME,
    VECTORS_TXT_FILENAME,
)

TRAINED_BY = "lm_train.word2vec"
FIGURE_PREFIX = "embeddings-"  # the report's figures (embeddings-pca.png)


def own_name(name: str) -> bool:
    """A name this command (or its report) writes in RUN."""
    return (
        name
        in (
            EMBEDDINGS_META_FILENAME,
            VECTORS_TXT_FILENAME,
            EMBEDDINGS_EVAL_FILENAME,
            REPORT_HTML,
            COOCCURRENCE_DIR,
        )
        or name.startswith(VECTORS_KV_FILENAME)
        or (name.startswith(FIGURE_PREFIX) and name.endswith(".png"))
        or name.startswith(storage.TMP_PREFIX)
    )


def is_previous_run(run: str) -> bool:
    path = storage.join(run, EMBEDDINGS_META_FILENAME)
    if not storage.exists(path):
        return False
    try:
        meta = json.loads(storage.read_text(path))
    except (ValueError, OSError):
        return False
    return isinstance(meta, dict) and meta.get("trained_by") == TRAINED_BY


def refuse_run_dir(run: str, overwrite: bool) -> str | None:
    """Why RUN must not be written, as one line, or None."""
    names = [n for n in storage.list_names(run) if not n.startswith(storage.TMP_PREFIX)]
    if not names:
        return None
    other = [n for n in names if not own_name(n)]
    if other:
        return f"--out {run} is not empty and not a word2vec run ({', '.join(other[:3])}); choose a new directory"
    if not overwrite:
        what = "a previous" if is_previous_run(run) else "an unfinished"
        return f"--out {run} holds {what} word2vec run; pass --overwrite to replace it"
    return None


def clear_previous(run: str, keep: str | None = None) -> None:
    """Remove a previous run's files (not ``keep``, a path inside RUN that is this run's input)."""
    keep_name = None
    if keep is not None:
        rel = keep.rstrip("/")
        base = run.rstrip("/") + "/"
        if rel.startswith(base):
            keep_name = rel[len(base) :].split("/")[0]
    for name in storage.list_names(run):
        if own_name(name) and name != keep_name:
            path = storage.join(run, name)
            fs, p = storage.get_fs(path)
            if fs.isdir(p):
                storage.remove_tree(path)
            else:
                storage.remove(path)


__all__ = ["TRAINED_BY", "clear_previous", "is_previous_run", "own_name", "refuse_run_dir"]

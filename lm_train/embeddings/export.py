"""Vectors on disk: gensim's native ``vectors.kv`` and the word2vec text format ``vectors.txt``.

The native file (``KeyedVectors.save``) loads back bit for bit with every attribute; the text
format (one ``key v1 v2 ...`` line per key after a ``count dim`` header) is what other tools
read, and round-trips exactly too: gensim writes each float32 with the shortest text that
reads back as the same float32. Both are written atomically (a temporary sibling renamed into
place), so a killed export never leaves a half file under the real name. ``embeddings.json``
beside them says what the vectors are.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from lmcore import storage
from lmcore.layout import EMBEDDINGS_META_FILENAME, VECTORS_KV_FILENAME, VECTORS_TXT_FILENAME


class ExportError(ValueError):
    """Vectors that cannot be written in the word2vec text format (a key with whitespace, say)."""


def check_text_keys(keys: list[Any]) -> None:
    """Refuse keys the text format cannot hold: empty, or with whitespace (it splits on spaces)."""
    for key in keys:
        text = str(key)
        if not text or any(c.isspace() for c in text):
            raise ExportError(
                f"key {text!r} is empty or holds whitespace; the word2vec text format cannot store it"
            )


def _write_via_local_file(path: str, write: Callable[[str], None]) -> None:
    """Have ``write(local_path)`` produce the file, then move it to ``path`` in one rename (upload
    for a URL), for writers that only accept a file name."""
    if storage.is_local(path):
        target = storage.local_path(path)
        folder, name = os.path.split(os.path.abspath(target))
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f"{storage.TMP_PREFIX}{uuid.uuid4().hex[:12]}-{name}")
        try:
            write(tmp)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
        return
    with tempfile.TemporaryDirectory() as tmpdir:
        local = os.path.join(tmpdir, "vectors")
        write(local)
        with open(local, "rb") as src, storage.atomic_open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)


def save_native(kv: Any, path: str) -> None:
    """``KeyedVectors.save`` as one file (arrays inside the pickle), written atomically."""
    with storage.atomic_open(path, "wb") as f:
        kv.save(f)


@contextlib.contextmanager
def _quiet_gensim() -> Iterator[None]:
    """gensim warns that vectors without counts are written in index order: that is the point."""
    logger = logging.getLogger("gensim.models.keyedvectors")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def save_text(kv: Any, path: str) -> None:
    """The word2vec text format, keys in ``kv``'s order (by count when it has counts: word2vec's
    vocabulary is sorted that way anyway), written atomically."""
    check_text_keys(list(kv.index_to_key))
    with _quiet_gensim():
        _write_via_local_file(path, lambda local: kv.save_word2vec_format(local, binary=False))


def load_native(path: str) -> Any:
    from gensim.models import KeyedVectors

    return KeyedVectors.load(storage.local_path(path) if storage.is_local(path) else path)


def load_text(path: str) -> Any:
    from gensim.models import KeyedVectors

    return KeyedVectors.load_word2vec_format(path, binary=False)


def export_vectors(kv: Any, out_dir: str, meta: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Write ``out_dir/{vectors.kv, vectors.txt}`` (and ``embeddings.json`` from ``meta``); return
    ``{"kv": path, "txt": path[, "meta": path]}``."""
    check_text_keys(list(kv.index_to_key))  # before anything is written
    storage.makedirs(out_dir)
    paths = {
        "kv": storage.join(out_dir, VECTORS_KV_FILENAME),
        "txt": storage.join(out_dir, VECTORS_TXT_FILENAME),
    }
    save_native(kv, paths["kv"])
    save_text(kv, paths["txt"])
    if meta is not None:
        paths["meta"] = storage.join(out_dir, EMBEDDINGS_META_FILENAME)
        storage.atomic_write_text(paths["meta"], json.dumps(dict(meta), indent=2, ensure_ascii=False) + "\n")
    return paths


__all__ = [
    "ExportError",
    "check_text_keys",
    "export_vectors",
    "load_native",
    "load_text",
    "save_native",
    "save_text",
]

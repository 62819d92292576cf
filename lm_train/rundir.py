"""Run directories on local disks or fsspec URLs (``s3://``, ``gs://``, ``memory://``...).

Checkpoints, ``config.yaml``, ``run.json`` and ``tokenizer.json`` are whole files written
once, so they go straight through fsspec. ``metrics.jsonl`` grows line by line and
TensorBoard keeps its event files open, which object stores cannot do; for a URL both
live in a local staging directory that ``StagedFiles.sync`` uploads (only files that
changed since the last upload). A ``file://`` URL is just a local path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

from lmcore import storage
from lmcore.storage import is_remote


class RunDirError(ValueError):
    """A run directory that cannot be one (a file, unwritable); the message says what to give instead."""


def check_out_dir(rundir: str) -> None:
    """Refuse an ``--out`` that is a file, or under one, before anything is built or written."""
    if is_remote(rundir):
        return
    path = rundir
    while path and not os.path.lexists(path):
        parent = os.path.dirname(path.rstrip("/"))
        if parent == path:
            break
        path = parent
    if path and os.path.lexists(path) and not os.path.isdir(path):
        where = "is a file" if path == rundir else f"is under {path}, which is a file"
        raise RunDirError(
            f"--out {rundir} {where}: give a directory (a new one, or the run directory to resume)"
        )


def remove_stale_temporaries(rundir: str) -> tuple[int, int]:
    """Delete the ``._tmp-*`` files an interrupted writer left in ``rundir``; return (files, bytes).

    Every file of a run directory is written through such a temporary sibling and renamed,
    so at the start of a run (before anything writes) every one left is a leftover of a
    killed process: a checkpoint's is as large as the checkpoint.
    """
    fs, root = storage.get_fs(rundir)
    if not fs.exists(root):
        return 0, 0
    files = freed = 0
    for path, info in fs.find(root, detail=True).items():
        if os.path.basename(path).startswith(storage.TMP_PREFIX) and info.get("type") != "directory":
            with contextlib.suppress(FileNotFoundError):
                fs.rm(path)
                files, freed = files + 1, freed + int(info.get("size") or 0)
    return files, freed


def normalize_rundir(path: str) -> str:
    """``file:///a/b/`` → ``/a/b``; other URLs and plain paths without the trailing slash."""
    if path.startswith("file://"):
        path = path[len("file://") :] or "/"
    return path.rstrip("/") or "/"


class StagedFiles:
    """Files of ``rundir`` that are written incrementally: locally for a local run directory,
    else in a temporary directory mirrored to ``rundir`` by ``sync``."""

    def __init__(self, rundir: str) -> None:
        self.rundir = normalize_rundir(rundir)
        self.remote = is_remote(self.rundir)
        self.local = tempfile.mkdtemp(prefix="lmforge-run-") if self.remote else self.rundir
        self._uploaded: dict[str, tuple[int, int]] = {}

    def path(self, name: str) -> str:
        """Local path of ``name`` (e.g. ``metrics.jsonl``, ``tensorboard``)."""
        return os.path.join(self.local, name)

    def fetch(self, name: str) -> None:
        """Copy ``rundir/name`` into staging (to append to what an earlier attempt wrote)."""
        if not self.remote:
            return
        remote = storage.join(self.rundir, name)
        if storage.exists(remote):
            os.makedirs(os.path.dirname(self.path(name)), exist_ok=True)
            with open(self.path(name), "wb") as f:
                f.write(storage.read_bytes(remote))
            self._uploaded[name] = self._signature(self.path(name))

    def sync(self) -> None:
        """Upload every staged file that is new or changed since the last sync."""
        if not self.remote:
            return
        for root, _, files in os.walk(self.local):
            for file in files:
                local = os.path.join(root, file)
                name = os.path.relpath(local, self.local).replace(os.sep, "/")
                signature = self._signature(local)
                if self._uploaded.get(name) != signature:
                    with open(local, "rb") as f:
                        storage.atomic_write_bytes(storage.join(self.rundir, name), f.read())
                    self._uploaded[name] = signature

    def close(self) -> None:
        """Final upload; the staging directory is removed."""
        if self.remote:
            self.sync()
            shutil.rmtree(self.local, ignore_errors=True)

    @staticmethod
    def _signature(path: str) -> tuple[int, int]:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns

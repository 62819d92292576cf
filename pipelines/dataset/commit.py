"""Write-new-then-switch for the standalone stages (``clean``, ``dedup``, ``tokenize``).

A stage run over an existing output must never leave a mix of old and new files, and a run
killed at any moment must leave the previous output usable:

* ``clean``/``dedup`` write everything into a staging directory ``OUT/._tmp-run-<id>/`` and,
  once the pipeline has finished, switch each output entry (``documents/``, ``stats.json``...)
  into place; an entry the new run did not produce (``dropped/`` without ``--keep-dropped``) is
  removed, so nothing stale describes the new documents.
* ``tokenize`` over an existing dataset writes its shards and tokenizer under
  ``OUT/.lmforge-next/`` and then replaces ``manifest.json`` (the commit: the old manifest and
  the files it names were never touched). ``promote`` then gives the files their usual names
  (``shards/*.arrow``, ``tokenizer.json``: hard links, no copy) and switches the manifest again.
  A run killed during the promotion leaves a valid manifest naming ``.lmforge-next/`` files;
  the next run finishes the promotion first.

Leftovers of killed runs (``._tmp-*`` names) are deleted when the next run starts, under the lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import uuid
from dataclasses import dataclass

from lmcore import storage
from lmcore.layout import NEXT_DIR

STAGING_PREFIX = f"{storage.TMP_PREFIX}run-"
TRASH_PREFIX = f"{storage.TMP_PREFIX}old-"
MANIFEST = "manifest.json"
TOKENIZER = "tokenizer.json"
SHARDS = "shards"

# Entries of --output each standalone stage writes (and only those are switched or removed).
STAGE_OUTPUTS: dict[str, tuple[str, ...]] = {
    "clean": ("documents", "quarantine", "dropped", "stats.json", "clean_losses.json"),
    "dedup": (
        "documents",
        "dedup_index",
        "dedup_boilerplate.json",
        "dedup_contamination.json",
        "quarantine",
        "dropped",
        "stats.json",
    ),
    "tokenize": ("quarantine", "dropped", "stats.json"),
}


# Sub-directories of --output that stages write (where a killed run's temporaries can be).
OWN_DIRS = ("documents", "dedup_index", "quarantine", "dropped", SHARDS, NEXT_DIR)


class StageRefused(RuntimeError):
    """The output directory holds something this stage must not overwrite."""


@dataclass(frozen=True)
class TokenLayout:
    """Where a tokenize run writes its shards and tokenizer (relative to the output)."""

    shards_dir: str = SHARDS
    tokenizer_file: str = TOKENIZER


def new_staging_dir(out: str) -> str:
    return storage.join(out, f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}")


def _replace(src: str, dst: str) -> None:
    """Put ``src`` at ``dst`` (file or directory); the old ``dst`` goes first to a trash name."""
    fs, s = storage.get_fs(src)
    _, d = storage.get_fs(dst)
    if storage.is_local(dst):
        if os.path.isdir(d):
            trash = os.path.join(
                os.path.dirname(d), f"{TRASH_PREFIX}{uuid.uuid4().hex[:8]}-{os.path.basename(d)}"
            )
            os.rename(d, trash)
            os.rename(s, d)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(s, d)
        return
    if fs.exists(d):
        fs.rm(d, recursive=True)
    fs.mv(s, d, recursive=True)


def _remove(path: str) -> None:
    fs, p = storage.get_fs(path)
    if fs.exists(p):
        fs.rm(p, recursive=fs.isdir(p))


def switch_outputs(staging: str, out: str, names: tuple[str, ...]) -> None:
    """Move each of ``names`` from ``staging`` into ``out``; remove the ones the run did not write."""
    for name in names:
        src, dst = storage.join(staging, name), storage.join(out, name)
        if storage.exists(src):
            _replace(src, dst)
        else:
            _remove(dst)
    storage.remove_tree(staging)


# -- token datasets -----------------------------------------------------------------------------
def _is_versioned(out: str) -> bool:
    return any(n.startswith("manifest-v") and n.endswith(".json") for n in storage.list_names(out))


def _load(out: str):  # -> Manifest | None
    from schemas import ManifestError, load_manifest

    if not storage.exists(storage.join(out, MANIFEST)):
        return None
    try:
        return load_manifest(out)
    except (ManifestError, OSError):
        return None


def _names_next(manifest) -> bool:
    files = [manifest.tokenizer.file, *(s.path for s in manifest.shards)]
    return any(f.startswith(NEXT_DIR + "/") for f in files)


def prepare_token_output(out: str) -> TokenLayout:
    """Where this tokenize run writes: the usual names in a fresh directory, ``.lmforge-next/``
    over an existing dataset. Finishes an interrupted promotion first; refuses a ``prepare`` dataset."""
    if _is_versioned(out):
        raise StageRefused(
            f"{out} holds a versioned dataset written by prepare (manifest-v*.json): tokenize would "
            "replace its latest version. Tokenize into another --output, or run prepare"
        )
    current = _load(out)
    if current is not None and _names_next(current):
        promote(out)
        current = _load(out)
    storage.remove_tree(storage.join(out, NEXT_DIR))
    if current is None:
        return TokenLayout()
    return TokenLayout(f"{NEXT_DIR}/{SHARDS}", f"{NEXT_DIR}/{TOKENIZER}")


def _link_or_copy(src: str, dst: str) -> None:
    """``dst`` becomes a complete copy of ``src`` in one rename (a hard link where possible)."""
    if not storage.is_local(dst):
        fs, s = storage.get_fs(src)
        fs.copy(s, storage.get_fs(dst)[1])
        return
    s, d = src.removeprefix("file://"), dst.removeprefix("file://")
    os.makedirs(os.path.dirname(d) or ".", exist_ok=True)
    tmp = os.path.join(
        os.path.dirname(d), f"{storage.TMP_PREFIX}{uuid.uuid4().hex[:12]}-{os.path.basename(d)}"
    )
    try:
        os.link(s, tmp)
    except OSError:
        shutil.copyfile(s, tmp)
    os.replace(tmp, d)


def promote(out: str) -> None:
    """Give the files of a manifest under ``.lmforge-next/`` their usual names, switch the manifest
    to them, then delete ``.lmforge-next/`` and the shards no manifest names any more."""
    manifest = _load(out)
    if manifest is None or not _names_next(manifest):
        storage.remove_tree(storage.join(out, NEXT_DIR))
        remove_unlisted_shards(out)
        return

    def usual(rel: str) -> str:
        return rel.removeprefix(NEXT_DIR + "/")

    for rel in [manifest.tokenizer.file, *(s.path for s in manifest.shards)]:
        if rel != usual(rel):
            _link_or_copy(storage.join(out, rel), storage.join(out, usual(rel)))
    final = dataclasses.replace(
        manifest,
        tokenizer=dataclasses.replace(manifest.tokenizer, file=usual(manifest.tokenizer.file)),
        shards=[dataclasses.replace(s, path=usual(s.path)) for s in manifest.shards],
    )
    storage.atomic_write_text(storage.join(out, MANIFEST), final.to_json())
    storage.remove_tree(storage.join(out, NEXT_DIR))
    remove_unlisted_shards(out)


def remove_unlisted_shards(out: str) -> int:
    """Delete ``shards/*.arrow`` that the manifest does not name (an earlier run's, now replaced)."""
    manifest = _load(out)
    if manifest is None:
        return 0
    listed = {s.path for s in manifest.shards}
    removed = 0
    for name in storage.list_names(storage.join(out, SHARDS)):
        rel = f"{SHARDS}/{name}"
        if name.endswith(".arrow") and rel not in listed:
            with contextlib.suppress(FileNotFoundError):
                storage.remove(storage.join(out, rel))
                removed += 1
    return removed

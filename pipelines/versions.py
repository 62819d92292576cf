"""Dataset versions: what an incremental ``prepare`` run reads, writes and commits.

A dataset directory grows by versions. Version N is *committed* once
``manifest-vNNNNN.json`` exists; ``manifest.json`` is the ``latest`` pointer (a full copy
of the newest committed manifest, replaced atomically), so ``--data DIR`` reads the
latest version and ``--data DIR/manifest-v00001.json`` a chosen one::

    DIR/manifest.json                 latest version (the pointer)
    DIR/manifest-v00001.json          every committed version (cumulative shard list and counts)
    DIR/tokenizer.json                fixed by version 1, reused by later versions
    DIR/shards/v00001/train-*.arrow   shards added by each version
    DIR/state/v00001/inputs.json      input files (path, size, mtime/etag) a version consumed
    DIR/state/v00001/stats.json       that run's accounting
    DIR/dedup_index/v00001/           dedup index after each version (exact hashes, LSH buckets)

Everything a version writes lives under its own ``v0000N`` names, and the manifest is
written last, so a run killed at any moment leaves either a committed version or
leftovers that the next run deletes before redoing the same work (deterministically,
hence byte for byte the same result).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pipelines import fsutil
from schemas import MANIFEST_FILENAME, Manifest, load_manifest

_MANIFEST_RE = re.compile(r"^manifest-v(\d{5})\.json$")
STATE_DIR = "state"
SHARDS_DIR = "shards"
INDEX_DIR = "dedup_index"
PER_VERSION_DIRS = (SHARDS_DIR, STATE_DIR, INDEX_DIR, "quarantine", "dropped")


def version_name(version: int) -> str:
    return f"v{version:05d}"


def manifest_name(version: int) -> str:
    return f"manifest-{version_name(version)}.json"


def committed_versions(out_dir: str) -> list[int]:
    """Versions whose ``manifest-vN.json`` exists, ascending."""
    return sorted(int(m.group(1)) for name in fsutil.list_names(out_dir) if (m := _MANIFEST_RE.match(name)))


def version_dir(out_dir: str, kind: str, version: int) -> str:
    return fsutil.join(out_dir, kind, version_name(version))


def inputs_file(out_dir: str, version: int) -> str:
    return fsutil.join(version_dir(out_dir, STATE_DIR, version), "inputs.json")


def processed_fingerprints(out_dir: str, versions: Iterable[int]) -> set[str]:
    """Fingerprints (path|size|mtime) of every input file consumed by the given versions."""
    seen: set[str] = set()
    for v in versions:
        path = inputs_file(out_dir, v)
        if fsutil.exists(path):
            seen.update(rec["fingerprint"] for rec in json.loads(fsutil.read_text(path)))
    return seen


def new_inputs(files: list[fsutil.InputFile], processed: set[str]) -> list[fsutil.InputFile]:
    """Input files not consumed by an earlier version (a changed size or mtime counts as new)."""
    return [f for f in files if f.fingerprint not in processed]


def inputs_record(files: list[fsutil.InputFile]) -> str:
    recs = [{"path": f.path, "size": f.size, "mtime": f.mtime, "fingerprint": f.fingerprint} for f in files]
    return json.dumps(recs, indent=1, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class RunPlan:
    """What the next run does: which version it writes, from which parent, over which files."""

    version: int
    parent: Manifest | None
    files: list[fsutil.InputFile]
    repaired_pointer: bool = False

    @property
    def nothing_new(self) -> bool:
        return not self.files


def repair_latest_pointer(out_dir: str, versions: list[int]) -> bool:
    """Finish a commit interrupted between ``manifest-vN.json`` and ``manifest.json``."""
    if not versions:
        return False
    newest = fsutil.join(out_dir, manifest_name(versions[-1]))
    pointer = fsutil.join(out_dir, MANIFEST_FILENAME)
    text = fsutil.read_text(newest)
    if fsutil.exists(pointer) and fsutil.read_text(pointer) == text:
        return False
    fsutil.atomic_write_text(pointer, text)
    return True


def plan_run(out_dir: str, files: list[fsutil.InputFile]) -> RunPlan:
    versions = committed_versions(out_dir)
    repaired = repair_latest_pointer(out_dir, versions)
    parent = load_manifest(fsutil.join(out_dir, manifest_name(versions[-1]))) if versions else None
    todo = new_inputs(files, processed_fingerprints(out_dir, versions))
    return RunPlan((versions[-1] + 1) if versions else 1, parent, todo, repaired)


def remove_uncommitted(out_dir: str, version: int) -> None:
    """Delete whatever a killed run left for ``version`` (never committed, safe to redo)."""
    for kind in PER_VERSION_DIRS:
        fsutil.remove_tree(version_dir(out_dir, kind, version))
    fsutil.remove_stale_temporaries(out_dir)


def commit(
    out_dir: str,
    manifest: Manifest,
    files: list[fsutil.InputFile],
    before_pointer: Callable[[], None] | None = None,
) -> None:
    """Record consumed inputs, then the versioned manifest (the commit), then switch ``manifest.json``."""
    fsutil.atomic_write_text(inputs_file(out_dir, manifest.version), inputs_record(files))
    text = manifest.to_json()
    fsutil.atomic_write_text(fsutil.join(out_dir, manifest_name(manifest.version)), text)
    if before_pointer is not None:
        before_pointer()
    fsutil.atomic_write_text(fsutil.join(out_dir, MANIFEST_FILENAME), text)

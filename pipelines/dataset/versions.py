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
    DIR/state/v00001/quarantine/      records that could not be read, with the error
    DIR/state/v00001/dropped/         dropped and duplicate documents (--keep-dropped)
    DIR/state/v00001/clean_losses.json, dedup_boilerplate.json   what clean and dedup removed
    DIR/dedup_index/v00001/           dedup index after each version (exact hashes, LSH buckets)

An input file is consumed once (by path + size + mtime/etag): a changed file is read
again by itself; an unchanged one only when asked (``--reprocess``, see ``plan_run``).

Everything a version writes lives under its own ``v0000N`` names, and the manifest is
written last, so a run killed at any moment leaves either a committed version or
leftovers that the next run deletes before redoing the same work (deterministically,
hence byte for byte the same result).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from lmcore import storage
from lmcore.layout import DROPPED_DIR, INDEX_DIR, QUARANTINE_DIR, SHARDS_DIR, STATE_DIR
from schemas import MANIFEST_FILENAME, Manifest, load_manifest

_MANIFEST_RE = re.compile(r"^manifest-v(\d{5})\.json$")
PER_VERSION_DIRS = (SHARDS_DIR, STATE_DIR, INDEX_DIR, QUARANTINE_DIR, DROPPED_DIR)
REPROCESS_FAILED = "failed"  # inputs with quarantined records in a committed version
REPROCESS_ALL = "all"


def version_name(version: int) -> str:
    return f"v{version:05d}"


def manifest_name(version: int) -> str:
    return f"manifest-{version_name(version)}.json"


def committed_versions(out_dir: str) -> list[int]:
    """Versions whose ``manifest-vN.json`` exists, ascending."""
    return sorted(int(m.group(1)) for name in storage.list_names(out_dir) if (m := _MANIFEST_RE.match(name)))


def version_dir(out_dir: str, kind: str, version: int) -> str:
    return storage.join(out_dir, kind, version_name(version))


def inputs_file(out_dir: str, version: int) -> str:
    return storage.join(version_dir(out_dir, STATE_DIR, version), "inputs.json")


def recorded_fingerprint(rec: dict) -> str:
    """The fingerprint of an ``inputs.json`` record, its local path normalised as ``expand_inputs``
    now does (versions written before recorded ``/d/./f.jsonl`` as given)."""
    path = str(rec.get("path", ""))
    if storage.is_local(path) and "size" in rec and "mtime" in rec:
        return storage.InputFile(
            storage.normalize_local(path), int(rec["size"]), str(rec["mtime"])
        ).fingerprint
    return rec["fingerprint"]


def processed_fingerprints(out_dir: str, versions: Iterable[int]) -> set[str]:
    """Fingerprints (path|size|mtime) of every input file consumed by the given versions."""
    seen: set[str] = set()
    for v in versions:
        path = inputs_file(out_dir, v)
        if storage.exists(path):
            seen.update(recorded_fingerprint(rec) for rec in json.loads(storage.read_text(path)))
    return seen


def new_inputs(files: list[storage.InputFile], processed: set[str]) -> list[storage.InputFile]:
    """Input files not consumed by an earlier version (a changed size or mtime counts as new)."""
    return [f for f in files if f.fingerprint not in processed]


def inputs_record(files: list[storage.InputFile]) -> str:
    """``inputs.json``; a path that is not valid UTF-8 is kept as a JSON escape, so it reads back
    as the same name (and the same fingerprint) next time."""
    recs = [{"path": f.path, "size": f.size, "mtime": f.mtime, "fingerprint": f.fingerprint} for f in files]
    text = json.dumps(recs, indent=1, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(recs, indent=1, ensure_ascii=True) + "\n"
    return text


@dataclass(frozen=True)
class RunPlan:
    """What the next run does: which version it writes, from which parent, over which files."""

    version: int
    parent: Manifest | None
    files: list[storage.InputFile]
    repaired_pointer: bool = False
    reprocessed: list[storage.InputFile] = field(default_factory=list)  # consumed before, read again

    @property
    def nothing_new(self) -> bool:
        return not self.files


def repair_latest_pointer(out_dir: str, versions: list[int]) -> bool:
    """Finish a commit interrupted between ``manifest-vN.json`` and ``manifest.json``."""
    if not versions:
        return False
    newest = storage.join(out_dir, manifest_name(versions[-1]))
    pointer = storage.join(out_dir, MANIFEST_FILENAME)
    text = storage.read_text(newest)
    if storage.exists(pointer) and storage.read_text(pointer) == text:
        return False
    storage.atomic_write_text(pointer, text)
    return True


def quarantined_paths(out_dir: str, versions: Iterable[int]) -> set[str]:
    """Input paths with at least one quarantined record in the given versions (their quarantine/)."""
    paths: set[str] = set()
    for v in versions:
        base = storage.join(version_dir(out_dir, STATE_DIR, v), QUARANTINE_DIR)
        fs, p = storage.get_fs(base)
        if not fs.exists(p):
            continue
        for name in sorted(fs.glob(f"{p.rstrip('/')}/*.jsonl.gz")):
            with fs.open(name, "rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
                paths.update(str(json.loads(line).get("path")) for line in f if line.strip())
    return paths


def reprocess_selection(
    out_dir: str, versions: Sequence[int], choices: Sequence[str], files: Sequence[storage.InputFile]
) -> set[str]:
    """Paths of ``files`` to read again although consumed: ``failed``, ``all``, or paths/globs.

    A path or glob is expanded like ``--input`` (one that matches no file is an error).
    """
    wanted: set[str] = set()
    for choice in choices:
        if choice == REPROCESS_ALL:
            wanted.update(f.path for f in files)
        elif choice == REPROCESS_FAILED:
            wanted.update(quarantined_paths(out_dir, versions))
        else:
            try:
                wanted.update(f.path for f in storage.expand_inputs([choice]))
            except FileNotFoundError:
                raise FileNotFoundError(f"--reprocess {choice!r} matches no input file") from None
    return wanted


def plan_run(out_dir: str, files: list[storage.InputFile], reprocess: Sequence[str] = ()) -> RunPlan:
    """The next version: every input file no committed version consumed, plus ``reprocess``.

    ``reprocess`` (``--reprocess``) names consumed files to read again: ``failed`` (those
    with quarantined records), ``all``, or paths/globs. Their documents that an earlier
    version kept come out as exact duplicates of themselves; the rest is new.
    """
    versions = committed_versions(out_dir)
    repaired = repair_latest_pointer(out_dir, versions)
    parent = load_manifest(storage.join(out_dir, manifest_name(versions[-1]))) if versions else None
    processed = processed_fingerprints(out_dir, versions)
    again = reprocess_selection(out_dir, versions, reprocess, files) if reprocess else set()
    todo = [
        f
        for f in files
        if f.fingerprint not in processed or f.path in again or storage.text_safe(f.path) in again
    ]
    reprocessed = [f for f in todo if f.fingerprint in processed]
    return RunPlan((versions[-1] + 1) if versions else 1, parent, todo, repaired, reprocessed)


def remove_uncommitted(out_dir: str, version: int) -> None:
    """Delete whatever a killed run left for ``version`` (never committed, safe to redo)."""
    for kind in PER_VERSION_DIRS:
        storage.remove_tree(version_dir(out_dir, kind, version))
    storage.remove_stale_temporaries(out_dir)


def commit(
    out_dir: str,
    manifest: Manifest,
    files: list[storage.InputFile],
    before_pointer: Callable[[], None] | None = None,
) -> None:
    """Record consumed inputs, then the versioned manifest (the commit), then switch ``manifest.json``."""
    storage.atomic_write_text(inputs_file(out_dir, manifest.version), inputs_record(files))
    text = manifest.to_json()
    storage.atomic_write_text(storage.join(out_dir, manifest_name(manifest.version)), text)
    if before_pointer is not None:
        before_pointer()
    storage.atomic_write_text(storage.join(out_dir, MANIFEST_FILENAME), text)

"""What a dataset directory holds for a report: the paths of its inputs (nothing is read here)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lmcore import layout, storage
from lmcore.layout import BOILERPLATE_FILENAME, CONTAMINATION_FILENAME, LOSSES_FILENAME, STATS_FILENAME
from pipelines.dataset import versions
from schemas import MANIFEST_FILENAME

RECORDS_SUFFIX = ".jsonl.gz"


@dataclass
class DatasetFiles:
    root: str
    manifest: str | None = None
    version_manifests: dict[int, str] = field(default_factory=dict)
    run_stats: dict[int, str] = field(default_factory=dict)
    stats: str | None = None
    shards: list[str] = field(default_factory=list)  # listed shard files (when there is no manifest)
    documents: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    quarantine: list[str] = field(default_factory=list)
    boilerplate: str | None = None
    contamination: str | None = None
    losses: str | None = None

    @property
    def is_empty(self) -> bool:
        """No lmforge output at all: nothing to report."""
        return not (
            self.manifest or self.stats or self.shards or self.documents or self.dropped or self.quarantine
        )

    def rel(self, path: str) -> str:
        """``path`` relative to the dataset directory (as ``report.json`` names it)."""
        return rel(self.root, path)


def rel(root: str, path: str) -> str:
    return path[len(root) + 1 :] if path.startswith(root + "/") else path


def read_json(path: str) -> Any:
    return json.loads(storage.read_text(path))


def _find(root: str, sub: str, suffix: str) -> list[str]:
    """Files under ``root/sub`` ending in ``suffix`` (recursive, sorted), skipping temporaries."""
    fs, base = storage.get_fs(storage.join(root, sub))
    if not fs.exists(base):
        return []
    base = base.rstrip("/")
    found = [
        f[len(base) :].lstrip("/")
        for f in fs.find(base)
        if f.endswith(suffix) and not f.rsplit("/", 1)[-1].startswith((".", "_", storage.TMP_PREFIX))
    ]
    # Rebuild the paths from ``root`` as the user spelled it, so that they relate to it (URLs too).
    return [storage.join(root, sub, r) for r in sorted(found)]


def _first_existing(paths: list[str]) -> str | None:
    return next((p for p in paths if storage.exists(p)), None)


def _newest(root: str, state_dirs: list[str], name: str) -> str | None:
    """``root/name``, else the newest committed version's ``state/v0000N/name``."""
    return _first_existing([storage.join(root, name)] + [storage.join(d, name) for d in reversed(state_dirs)])


def discover(root: str) -> DatasetFiles:
    """Locate every input of a report in ``root``."""
    root = root.rstrip("/")
    files = DatasetFiles(root)
    manifest = storage.join(root, MANIFEST_FILENAME)
    files.manifest = manifest if storage.exists(manifest) else None
    vs = versions.committed_versions(root)
    files.version_manifests = {v: storage.join(root, versions.manifest_name(v)) for v in vs}
    state = [versions.version_dir(root, layout.STATE_DIR, v) for v in vs]
    files.run_stats = {
        v: storage.join(d, STATS_FILENAME)
        for v, d in zip(vs, state, strict=True)
        if storage.exists(storage.join(d, STATS_FILENAME))
    }
    files.stats = _first_existing([storage.join(root, STATS_FILENAME)]) or (
        files.run_stats[max(files.run_stats)] if files.run_stats else None
    )
    files.boilerplate = _newest(root, state, BOILERPLATE_FILENAME)
    files.contamination = _newest(root, state, CONTAMINATION_FILENAME)
    files.losses = _newest(root, state, LOSSES_FILENAME)
    files.shards = _find(root, layout.SHARDS_DIR, ".arrow")
    files.documents = _find(root, layout.DOCUMENTS_DIR, ".parquet")
    # Standalone stages write dropped/ and quarantine/ at the top; prepare under each version's state/.
    files.dropped = _find(root, layout.DROPPED_DIR, RECORDS_SUFFIX) + [
        p for d in state for p in _find(d, layout.DROPPED_DIR, RECORDS_SUFFIX)
    ]
    files.quarantine = _find(root, layout.QUARANTINE_DIR, RECORDS_SUFFIX) + [
        p for d in state for p in _find(d, layout.QUARANTINE_DIR, RECORDS_SUFFIX)
    ]
    return files


def inputs_found(files: DatasetFiles) -> dict[str, Any]:
    """The ``inputs`` object of ``report.json``: what was there to read."""
    return {
        "manifest": files.manifest is not None,
        "version_manifests": len(files.version_manifests),
        "stats": files.rel(files.stats) if files.stats else None,
        "shard_files": len(files.shards),
        "document_files": len(files.documents),
        "dropped_files": len(files.dropped),
        "quarantine_files": len(files.quarantine),
        "boilerplate_lines": files.rel(files.boilerplate) if files.boilerplate else None,
        "clean_losses": files.rel(files.losses) if files.losses else None,
        "contamination": files.rel(files.contamination) if files.contamination else None,
    }

"""Assembling ``manifest.json`` from what was actually written (pure, testable without Beam)."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from lmcore.clock import utc_now_iso
from schemas import Counts, Manifest, ShardInfo, TokenizerInfo


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``<package version>+g<git commit>`` (``+dirty`` with local changes), or the bare version."""
    try:
        version = metadata.version("lmforge")
    except metadata.PackageNotFoundError:
        version = "0.0.0"
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{sha}{'.dirty' if dirty else ''}" if sha else version


def utc_now() -> str:
    """Now in UTC, or ``SOURCE_DATE_EPOCH`` when set (byte-identical reruns)."""
    return utc_now_iso()


def build_manifest(
    tokenizer: TokenizerInfo,
    shards: Iterable[Mapping[str, Any]],
    counts: Mapping[str, Any],
    config: Mapping[str, Any],
    parent: Manifest | None = None,
    created_at: str | None = None,
    version_string: str | None = None,
) -> Manifest:
    """The manifest of this run, on top of ``parent``'s shards and counts when extending a dataset.

    ``counts`` is the nested counts dict of ``stats.json``; shards are sorted by path so
    the manifest does not depend on the order in which writers finished.
    """
    new_shards = sorted((ShardInfo.from_dict(dict(s), "shards[]") for s in shards), key=lambda s: s.path)
    run_counts = Counts.from_dict(dict(counts))
    all_shards = [*(parent.shards if parent else []), *new_shards]
    total = (parent.counts + run_counts) if parent else run_counts
    return Manifest(
        tokenizer=tokenizer,
        shards=all_shards,
        counts=total,
        config=dict(config),
        created_at=created_at or utc_now(),
        code_version=version_string or code_version(),
        version=(parent.version + 1) if parent else 1,
        parent_fingerprint=parent.fingerprint if parent else None,
    )

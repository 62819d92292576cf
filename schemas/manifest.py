"""``manifest.json``: the index of a token dataset, written last and validated on load.

A manifest names the tokenizer, lists every shard with its checksum and counts, says
where every input document went, and records the configuration that produced it.
Paths inside it are relative to the dataset directory and may never leave it.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import fsspec

from schemas.checksum import sha256_file
from schemas.counts import Counts, CountsError
from schemas.token_shard import MAX_TOKENS_PER_SHARD, TOKEN_DTYPES

MANIFEST_SCHEMA_VERSION = (
    "1.2"  # the newest version this code reads and writes (1.1 added ``task``, 1.2 pairs)
)
CLASSIFICATION_MANIFEST_SCHEMA_VERSION = "1.1"  # what a classification task manifest declares
BASE_MANIFEST_SCHEMA_VERSION = "1.0"  # what a manifest without a task declares (pretraining datasets)
MANIFEST_FILENAME = "manifest.json"
MANIFEST_KIND = "lmforge.token_dataset"
# Pretraining datasets have train and validation shards; task datasets may add test shards.
SPLITS = ("train", "validation", "test")
TASK_KINDS = ("classification", "pairs")
MAX_VOCAB_SIZE = 2**32  # token ids are stored as uint32 at most

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class ManifestError(ValueError):
    """A manifest that is malformed; the message names the offending field."""


class ChecksumError(ManifestError):
    """A shard or tokenizer whose bytes do not match the manifest's sha256."""


class PathEscapeError(ManifestError):
    """A dataset path whose real location (symlinks resolved) lies outside the dataset directory."""


# -- field checks ------------------------------------------------------------------------
def _where(path: str) -> str:
    return f"manifest.json: field {path!r}"


def _get(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise ManifestError(f"{_where(path)} is missing")
    return obj[key]


def _str(obj: Mapping[str, Any], key: str, path: str, *, optional: bool = False) -> str | None:
    if optional and obj.get(key) is None:
        return None
    value = _get(obj, key, path)
    if not isinstance(value, str) or not value:
        raise ManifestError(f"{_where(path)} must be a non-empty string, got {value!r}")
    return value


def _int(obj: Mapping[str, Any], key: str, path: str, *, optional: bool = False) -> int | None:
    if optional and obj.get(key) is None:
        return None
    value = _get(obj, key, path)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ManifestError(f"{_where(path)} must be a non-negative integer, got {value!r}")
    return value


def _sha(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = _str(obj, key, path)
    if not _HEX64.match(value):
        raise ManifestError(f"{_where(path)} must be a 64-character lowercase hex sha256, got {value!r}")
    return value


def _obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ManifestError(f"{_where(path)} must be an object, got {type(value).__name__}")
    return value


def check_relative_path(rel: str, path: str = "path") -> str:
    """Refuse a path that could escape the dataset directory; return it normalised."""
    if not isinstance(rel, str) or not rel:
        raise ManifestError(f"{_where(path)} must be a non-empty relative path, got {rel!r}")
    if "\\" in rel or "\x00" in rel:
        raise ManifestError(f"{_where(path)} = {rel!r} contains a backslash or NUL")
    if rel.startswith(("/", "~")) or _SCHEME.match(rel):
        raise ManifestError(f"{_where(path)} = {rel!r} is absolute; paths must be relative to the dataset")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ManifestError(f"{_where(path)} = {rel!r} escapes or is not normalised (no '', '.', '..' parts)")
    return posixpath.normpath(rel)


def _local_dir(base_dir: str) -> str | None:
    """The local directory of ``base_dir``, or None for a URL (object stores have no symlinks)."""
    if "://" in base_dir and not base_dir.startswith("file://"):
        return None
    return base_dir.removeprefix("file://") or "."


def check_inside(base_dir: str, rel: str, what: str = "path") -> None:
    """Refuse ``rel`` when its real path leaves ``base_dir``: the text of a path says nothing
    about the symlinks along it, so resolve them and compare real paths."""
    root = _local_dir(base_dir)
    if root is None:
        return
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(root, rel))
    if os.path.commonpath([real_root, target]) != real_root:
        raise PathEscapeError(
            f"{what} {rel!r} leads outside the dataset directory {real_root} (to {target}, through a "
            "symlink); every file of a dataset must lie inside its directory"
        )


def resolve_dataset_path(base_dir: str, rel: str) -> str:
    """Join a manifest-relative path onto the dataset directory (local path or URL); refuse one
    that leaves the directory, by its text or through a symlink."""
    rel = check_relative_path(rel)
    check_inside(base_dir, rel)
    return base_dir.rstrip("/") + "/" + rel


# -- records ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenizerInfo:
    file: str
    sha256: str
    vocab_size: int
    special_tokens: dict[str, int]
    eos_id: int
    pad_id: int | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str = "tokenizer") -> TokenizerInfo:
        data = _obj(data, path)
        specials = _obj(_get(data, "special_tokens", f"{path}.special_tokens"), f"{path}.special_tokens")
        for tok, tid in specials.items():
            if isinstance(tid, bool) or not isinstance(tid, int) or tid < 0:
                raise ManifestError(
                    f"{_where(f'{path}.special_tokens.{tok}')} must be a non-negative integer"
                )
        info = cls(
            file=check_relative_path(_str(data, "file", f"{path}.file"), f"{path}.file"),
            sha256=_sha(data, "sha256", f"{path}.sha256"),
            vocab_size=_int(data, "vocab_size", f"{path}.vocab_size"),
            special_tokens=dict(specials),
            eos_id=_int(data, "eos_id", f"{path}.eos_id"),
            pad_id=_int(data, "pad_id", f"{path}.pad_id", optional=True),
        )
        if not 0 < info.vocab_size <= MAX_VOCAB_SIZE:
            raise ManifestError(
                f"{_where(f'{path}.vocab_size')} = {info.vocab_size} must be in [1, {MAX_VOCAB_SIZE}] "
                "(token ids are uint16 or uint32)"
            )
        for name, tid in [("eos_id", info.eos_id), ("pad_id", info.pad_id), *info.special_tokens.items()]:
            if tid is not None and tid >= info.vocab_size:
                raise ManifestError(
                    f"{_where(f'{path}.{name}')} = {tid} is not below vocab_size {info.vocab_size}"
                )
        return info

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "vocab_size": self.vocab_size,
            "special_tokens": dict(sorted(self.special_tokens.items())),
            "eos_id": self.eos_id,
            "pad_id": self.pad_id,
        }


@dataclass(frozen=True)
class ShardInfo:
    path: str
    split: str
    sha256: str
    num_docs: int
    num_tokens: int
    num_bytes: int
    dtype: str

    @classmethod
    def from_dict(cls, data: Any, path: str) -> ShardInfo:
        data = _obj(data, path)
        shard = cls(
            path=check_relative_path(_str(data, "path", f"{path}.path"), f"{path}.path"),
            split=_str(data, "split", f"{path}.split"),
            sha256=_sha(data, "sha256", f"{path}.sha256"),
            num_docs=_int(data, "num_docs", f"{path}.num_docs"),
            num_tokens=_int(data, "num_tokens", f"{path}.num_tokens"),
            num_bytes=_int(data, "num_bytes", f"{path}.num_bytes"),
            dtype=_str(data, "dtype", f"{path}.dtype"),
        )
        if shard.split not in SPLITS:
            raise ManifestError(f"{_where(f'{path}.split')} must be one of {SPLITS}, got {shard.split!r}")
        if shard.dtype not in TOKEN_DTYPES:
            raise ManifestError(
                f"{_where(f'{path}.dtype')} must be one of {TOKEN_DTYPES}, got {shard.dtype!r}"
            )
        if shard.num_tokens > MAX_TOKENS_PER_SHARD:
            raise ManifestError(
                f"{_where(f'{path}.num_tokens')} = {shard.num_tokens} is more than a shard can hold "
                f"({MAX_TOKENS_PER_SHARD}, int32 offsets)"
            )
        return shard

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "split": self.split,
            "sha256": self.sha256,
            "num_docs": self.num_docs,
            "num_tokens": self.num_tokens,
            "num_bytes": self.num_bytes,
            "dtype": self.dtype,
        }


@dataclass(frozen=True)
class TaskInfo:
    """What makes a dataset a task dataset: its kind and the input fields it came from.

    ``classification``: the labels in id order (a shard's ``label`` column holds indexes into
    ``labels``) and the examples per split and label. ``pairs`` (paired text: translation,
    summarisation): no labels, the examples per split in ``example_counts``; a shard's
    ``tokens`` are the source side and its ``target`` column the target side.
    """

    kind: str
    labels: list[str]
    label_counts: dict[str, dict[str, int]]  # split -> label name -> examples
    text_field: str = "text"
    label_field: str = "label"
    example_counts: dict[str, int] = field(default_factory=dict)  # pairs: split -> examples
    source_field: str = "source"
    target_field: str = "target"

    @property
    def is_pairs(self) -> bool:
        return self.kind == "pairs"

    def label_id(self, name: str) -> int:
        return self.labels.index(name)

    def split_total(self, split: str) -> int:
        if self.is_pairs:
            return self.example_counts.get(split, 0)
        return sum(self.label_counts.get(split, {}).values())

    @classmethod
    def from_dict(cls, data: Any, path: str = "task") -> TaskInfo:
        data = _obj(data, path)
        kind = _str(data, "kind", f"{path}.kind")
        if kind not in TASK_KINDS:
            raise ManifestError(f"{_where(f'{path}.kind')} must be one of {TASK_KINDS}, got {kind!r}")
        if kind == "pairs":
            return cls._pairs_from_dict(data, path)
        labels = _get(data, "labels", f"{path}.labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
            raise ManifestError(f"{_where(f'{path}.labels')} must be a list of non-empty strings")
        if len(set(labels)) != len(labels):
            raise ManifestError(f"{_where(f'{path}.labels')} lists a label twice: {labels}")
        raw_counts = _obj(_get(data, "label_counts", f"{path}.label_counts"), f"{path}.label_counts")
        counts: dict[str, dict[str, int]] = {}
        for split, per_label in raw_counts.items():
            where = f"{path}.label_counts.{split}"
            if split not in SPLITS:
                raise ManifestError(f"{_where(where)}: split must be one of {SPLITS}")
            per_label = _obj(per_label, where)
            for name in per_label:
                if name not in labels:
                    raise ManifestError(f"{_where(f'{where}.{name}')}: {name!r} is not in {path}.labels")
                _int(per_label, name, f"{where}.{name}")
            counts[split] = dict(per_label)
        return cls(
            kind=kind,
            labels=list(labels),
            label_counts=counts,
            text_field=_str(data, "text_field", f"{path}.text_field", optional=True) or "text",
            label_field=_str(data, "label_field", f"{path}.label_field", optional=True) or "label",
        )

    @classmethod
    def _pairs_from_dict(cls, data: Mapping[str, Any], path: str) -> TaskInfo:
        raw = _obj(_get(data, "example_counts", f"{path}.example_counts"), f"{path}.example_counts")
        counts: dict[str, int] = {}
        for split in raw:
            if split not in SPLITS:
                raise ManifestError(
                    f"{_where(f'{path}.example_counts.{split}')}: split must be one of {SPLITS}"
                )
            counts[split] = _int(raw, split, f"{path}.example_counts.{split}")
        return cls(
            kind="pairs",
            labels=[],
            label_counts={},
            example_counts=counts,
            source_field=_str(data, "source_field", f"{path}.source_field", optional=True) or "source",
            target_field=_str(data, "target_field", f"{path}.target_field", optional=True) or "target",
        )

    def to_dict(self) -> dict[str, Any]:
        if self.is_pairs:
            return {
                "kind": self.kind,
                "example_counts": {s: self.example_counts[s] for s in SPLITS if s in self.example_counts},
                "source_field": self.source_field,
                "target_field": self.target_field,
            }
        return {
            "kind": self.kind,
            "labels": list(self.labels),
            "label_counts": {
                split: {name: self.label_counts[split].get(name, 0) for name in self.labels}
                for split in SPLITS
                if split in self.label_counts
            },
            "text_field": self.text_field,
            "label_field": self.label_field,
        }


@dataclass
class Manifest:
    """A token dataset. ``base_dir`` (where it was loaded from) is not serialised."""

    tokenizer: TokenizerInfo
    shards: list[ShardInfo]
    counts: Counts
    config: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    code_version: str = ""
    version: int = 1
    parent_fingerprint: str | None = None
    schema_version: str = ""  # default: the lowest version that describes it (1.1 classification, 1.2 pairs)
    base_dir: str = ""
    task: TaskInfo | None = None  # labelled task datasets (pipelines.prepare_task); None for pretraining

    def __post_init__(self) -> None:
        # A pretraining manifest keeps declaring 1.0, so its bytes and fingerprint stay those
        # of earlier releases; ``task`` needs 1.1.
        if not self.schema_version:
            if self.task is None:
                self.schema_version = BASE_MANIFEST_SCHEMA_VERSION
            elif self.task.is_pairs:
                self.schema_version = MANIFEST_SCHEMA_VERSION
            else:
                self.schema_version = CLASSIFICATION_MANIFEST_SCHEMA_VERSION

    # -- identity ------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """sha256 over what determines the token stream: schema, tokenizer and shard bytes.

        Timestamps and configuration are excluded so that two identical runs share it.
        """
        payload = {
            "schema_version": self.schema_version,
            "tokenizer_sha256": self.tokenizer.sha256,
            "shards": sorted([s.path, s.split, s.sha256] for s in self.shards),
        }
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    # -- views -----------------------------------------------------------------------------
    @property
    def dtype(self) -> str:
        dtypes = {s.dtype for s in self.shards}
        return dtypes.pop() if len(dtypes) == 1 else "uint32"

    def shards_for(self, split: str) -> list[ShardInfo]:
        return [s for s in self.shards if s.split == split]

    def path_of(self, rel: str) -> str:
        if not self.base_dir:
            raise ManifestError("manifest has no base_dir; load it with load_manifest()")
        return resolve_dataset_path(self.base_dir, rel)

    def check_paths(self) -> None:
        """Raise ``PathEscapeError`` when the tokenizer or a shard resolves outside ``base_dir``."""
        check_inside(self.base_dir, self.tokenizer.file, "tokenizer file")
        for shard in self.shards:
            check_inside(self.base_dir, shard.path, "shard")

    def verify_checksum(self, shard: ShardInfo, fs: fsspec.AbstractFileSystem | None = None) -> None:
        """Hash the shard's bytes and raise ``ChecksumError`` naming the shard when they differ."""
        target = self.path_of(shard.path)
        try:
            actual = sha256_file(target, fs)
        except FileNotFoundError as exc:
            raise ChecksumError(
                f"shard {shard.path!r} is listed in the manifest but missing ({target})"
            ) from exc
        if actual != shard.sha256:
            raise ChecksumError(
                f"shard {shard.path!r} is corrupted: sha256 {actual} does not match the manifest's {shard.sha256}"
            )

    # -- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": MANIFEST_KIND,
            "schema_version": self.schema_version,
            "version": self.version,
            "parent_fingerprint": self.parent_fingerprint,
            "created_at": self.created_at,
            "code_version": self.code_version,
            "fingerprint": self.fingerprint,
            "tokenizer": self.tokenizer.to_dict(),
            "shards": [s.to_dict() for s in self.shards],
            "counts": self.counts.to_dict(),
            **({"task": self.task.to_dict()} if self.task is not None else {}),
            "config": self.config,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, base_dir: str = "") -> Manifest:
        data = _obj(data, "<root>")
        schema_version = _str(data, "schema_version", "schema_version")
        if schema_version.split(".")[0] != MANIFEST_SCHEMA_VERSION.split(".")[0]:
            raise ManifestError(
                f"{_where('schema_version')} = {schema_version!r}: this code reads major version "
                f"{MANIFEST_SCHEMA_VERSION.split('.')[0]}"
            )
        if data.get("kind", MANIFEST_KIND) != MANIFEST_KIND:
            raise ManifestError(f"{_where('kind')} must be {MANIFEST_KIND!r}, got {data.get('kind')!r}")
        shards_raw = _get(data, "shards", "shards")
        if not isinstance(shards_raw, list):
            raise ManifestError(f"{_where('shards')} must be a list, got {type(shards_raw).__name__}")
        shards = [ShardInfo.from_dict(s, f"shards[{i}]") for i, s in enumerate(shards_raw)]
        seen: set[str] = set()
        for i, s in enumerate(shards):
            if s.path in seen:
                raise ManifestError(f"{_where(f'shards[{i}].path')} = {s.path!r} is listed twice")
            seen.add(s.path)
        try:
            counts = Counts.from_dict(_get(data, "counts", "counts"))
            counts.check_balanced("manifest.json: counts")
        except CountsError as exc:
            raise ManifestError(
                str(exc) if str(exc).startswith("manifest") else f"manifest.json: {exc}"
            ) from exc
        config = data.get("config", {})
        if not isinstance(config, Mapping):
            raise ManifestError(f"{_where('config')} must be an object")
        task = data.get("task")
        task_info = TaskInfo.from_dict(task) if task is not None else None
        parent = data.get("parent_fingerprint")
        if parent is not None and (not isinstance(parent, str) or not _HEX64.match(parent)):
            raise ManifestError(f"{_where('parent_fingerprint')} must be null or a sha256 hex string")
        manifest = cls(
            tokenizer=TokenizerInfo.from_dict(_get(data, "tokenizer", "tokenizer")),
            shards=shards,
            counts=counts,
            config=dict(config),
            created_at=_str(data, "created_at", "created_at"),
            code_version=_str(data, "code_version", "code_version"),
            version=_int(data, "version", "version", optional=True) or 1,
            parent_fingerprint=parent,
            schema_version=schema_version,
            base_dir=base_dir,
            task=task_info,
        )
        recorded = data.get("fingerprint")
        if recorded is not None and recorded != manifest.fingerprint:
            raise ManifestError(
                f"{_where('fingerprint')} = {recorded!r} does not match the shards and tokenizer it lists "
                f"({manifest.fingerprint}); the manifest was edited or is corrupt"
            )
        return manifest


def _read_manifest_text(path: str, given: str) -> str:
    """The manifest's text; every way a path can be wrong becomes one ``ManifestError`` line."""
    try:
        with fsspec.open(path, "rt", encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError as exc:
        raise ManifestError(
            f"no manifest at {path}: is this a dataset directory written by pipelines.tokenize?"
        ) from exc
    except NotADirectoryError as exc:
        raise ManifestError(
            f"{given} is a file, not a dataset directory: give the directory that holds "
            f"{MANIFEST_FILENAME} (or a manifest-vNNNNN.json file)"
        ) from exc
    except IsADirectoryError as exc:
        raise ManifestError(f"{path} is a directory, not a manifest file") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror or exc}") from exc


def load_manifest(path: str) -> Manifest:
    """Load and validate ``DIR/manifest.json`` (``path`` may be the directory, the file, or a URL).

    Local datasets also get their paths resolved: the manifest, the tokenizer and every
    shard must really lie inside the dataset directory (no symlink out of it).
    """
    given = path
    path = path.rstrip("/")
    if not path.endswith(".json"):
        path = f"{path}/{MANIFEST_FILENAME}"
    base_dir = path.rsplit("/", 1)[0] if "/" in path else "."
    raw = _read_manifest_text(path, given)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ManifestError(f"{path} is nested too deeply to be a manifest") from exc
    manifest = Manifest.from_dict(data, base_dir=base_dir)
    check_inside(base_dir, path.rsplit("/", 1)[-1], "manifest")
    manifest.check_paths()
    return manifest

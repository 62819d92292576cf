"""Filesystem helpers over fsspec: glob expansion, path joins and atomic writes.

Every output file is written to a temporary name in its destination directory and
renamed into place, so a reader never sees a partial file. On object stores, where a
single PUT is already atomic, the rename is a copy + delete of a complete object.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec

TMP_PREFIX = "._tmp-"
LOCK_SUFFIX = ".lmforge.lock"  # the lock's own heartbeat temporaries belong to the live run


class DiskFullError(OSError):
    """No space left while writing an output file: the message names the file and the space."""


def free_bytes(path: str) -> int | None:
    """Free space on the filesystem holding ``path`` (local only), or None."""
    if not is_local(path):
        return None
    probe = path.removeprefix("file://") or "."
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    try:
        return shutil.disk_usage(probe or ".").free
    except OSError:
        return None


def disk_full_error(path: str, needed: int | None) -> DiskFullError:
    """The one line a user needs: which file, how many bytes it needed, how many are free."""
    need = f"{needed:,} bytes" if needed is not None else "more space"
    free = free_bytes(path)
    have = f"; {free:,} bytes free there" if free is not None else ""
    return DiskFullError(
        errno.ENOSPC,
        f"disk full: writing {path} needed {need}{have}. Free some space or write --output elsewhere",
    )


def get_fs(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and fs-internal path for a local path or URL."""
    return fsspec.core.url_to_fs(path)


def join(base: str, *parts: str) -> str:
    """Join path parts with '/', for local paths and URLs alike."""
    out = base.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


def _protocol_prefix(path: str) -> str:
    return path.split("://", 1)[0] + "://" if "://" in path else ""


@dataclass(frozen=True, order=True)
class InputFile:
    """One input file and what identifies its content version (for incremental runs)."""

    path: str  # full URL or local path, as a user would write it
    size: int
    mtime: str  # modification time or etag, as a string; "" when the filesystem has neither

    @property
    def fingerprint(self) -> str:
        return f"{self.path}|{self.size}|{self.mtime}"


def _mtime_of(info: dict) -> str:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created", "ETag", "etag"):
        if info.get(key) is not None:
            return str(info[key])
    return ""


def text_safe(text: str) -> str:
    """``text`` as writable UTF-8: a file name that is not valid UTF-8 reaches Python with
    surrogate escapes (``caf\\udce9``), which no UTF-8 writer accepts; they become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = text.encode("utf-8", "surrogatepass")
        return raw.decode("utf-8", "replace")


def is_hidden(name: str) -> bool:
    """Names a listing skips: dot files and ``_SUCCESS``-style markers (and our ``._tmp-`` files)."""
    return name.startswith((".", "_"))


def normalize_local(path: str) -> str:
    """``d//f``, ``d/./f`` and ``d/../d/f`` as ``d/f``: one file, one name (local paths only;
    object-store keys may legitimately hold ``//``)."""
    return os.path.normpath(path) if path else path


def _listed_files(fs: fsspec.AbstractFileSystem, match: str, explicit: bool) -> dict[str, dict]:
    """Files under one glob match: a directory's files below it, skipping hidden entries (also
    inside hidden sub-directories); a file itself, hidden or not when the user named it."""
    if not fs.isdir(match):
        if not explicit and is_hidden(os.path.basename(match)):
            return {}
        return {match: fs.info(match)}
    root = match.rstrip("/")
    out = {}
    for name, info in fs.find(match, detail=True).items():
        rel = name[len(root) :].lstrip("/") if name.startswith(root) else os.path.basename(name)
        if info.get("type") == "directory" or any(is_hidden(part) for part in rel.split("/")):
            continue
        out[name] = info
    return out


def expand_inputs(patterns: list[str]) -> list[InputFile]:
    """Expand globs (local or remote) into a sorted, de-duplicated list of files.

    A directory expands to every file below it except hidden ones (``.x``, ``_x``); a glob
    skips hidden files unless its last part asks for them (``_*.jsonl``); a file named
    explicitly is always read. Local paths are normalised (``d//f``, ``d/../d/f`` -> ``d/f``),
    so one file is read once and keeps its identity across runs. A pattern that matches
    nothing is an error naming the pattern: a silent empty run is worse than a loud failure.
    """
    found: dict[str, InputFile] = {}
    for pattern in patterns:
        fs, fs_path = get_fs(pattern)
        prefix = _protocol_prefix(pattern)
        local = prefix in ("", "file://")
        if local:
            fs_path = normalize_local(fs_path)
        is_glob = any(c in fs_path for c in "*?[")
        matches = fs.glob(fs_path) if is_glob else ([fs_path] if fs.exists(fs_path) else [])
        if not matches:
            raise FileNotFoundError(f"--input {pattern!r} matches no file")
        wants_hidden = is_hidden(os.path.basename(fs_path))
        listed = {}
        for m in matches:
            listed.update(_listed_files(fs, m, explicit=not is_glob or wants_hidden))
        if not listed:
            raise FileNotFoundError(
                f"--input {pattern!r} matches no file: only directories or hidden files "
                "(.name, _name, skipped in listings; name such a file to read it)"
            )
        for name, info in listed.items():
            full = normalize_local(name) if local else fs.unstrip_protocol(name)
            found[full] = InputFile(full, int(info.get("size") or 0), _mtime_of(info))
    return sorted(found.values())


def makedirs(path: str) -> None:
    fs, p = get_fs(path)
    fs.makedirs(p, exist_ok=True)


def exists(path: str) -> bool:
    fs, p = get_fs(path)
    return fs.exists(p)


def _tmp_path(path: str) -> str:
    head, _, tail = path.rpartition("/")
    return (
        f"{head}/{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{tail}"
        if head
        else f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{tail}"
    )


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb", size: int | None = None) -> Iterator[io.IOBase]:
    """Open ``path`` for writing through a temporary sibling; rename into place on success only.

    A full disk raises ``DiskFullError`` naming ``path`` and the space needed (``size`` when the
    caller knows it, else what was written so far), instead of a bare ``OSError``.
    """
    if mode not in ("wb", "w"):
        raise ValueError("atomic_open supports 'wb' and 'w'")
    fs, fs_path = get_fs(path)
    parent = fs_path.rpartition("/")[0]
    tmp = _tmp_path(fs_path)
    written: list[int | None] = [size]
    try:
        if parent:
            fs.makedirs(parent, exist_ok=True)
        with fs.open(tmp, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            if written[0] is None:
                with contextlib.suppress(Exception):
                    written[0] = f.tell()
            if hasattr(f, "flush"):
                f.flush()
            if hasattr(f, "fileno"):
                with contextlib.suppress(OSError, io.UnsupportedOperation, AttributeError):
                    os.fsync(f.fileno())
        fs.mv(tmp, fs_path)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            fs.rm(tmp)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and not isinstance(exc, DiskFullError):
            raise disk_full_error(path, written[0]) from exc
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_open(path, "wb", size=len(data)) as f:
        f.write(data)


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def read_bytes(path: str) -> bytes:
    fs, p = get_fs(path)
    with fs.open(p, "rb") as f:
        return f.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def remove_stale_temporaries(directory: str, within: tuple[str, ...] | None = None) -> int:
    """Delete what a killed run left behind in ``directory``: ``._tmp-*`` files and directories
    (staging areas), at any depth; return how many. The lock's heartbeat files are left alone.

    ``within``: look only at ``directory`` itself and these sub-directories (a standalone
    stage's own outputs), never into whatever else a user keeps in the output directory."""
    fs, p = get_fs(directory)
    if not fs.exists(p):
        return 0
    root = p.rstrip("/")
    if within is None:
        names = fs.find(p, withdirs=True)
    else:
        names = [str(n).rstrip("/") for n in fs.ls(p, detail=False)]
        for sub in within:
            sub_path = f"{root}/{sub}"
            if fs.isdir(sub_path):
                names += fs.find(sub_path, withdirs=True)
    stale: list[str] = []
    for name in sorted(set(names)):
        rel = name[len(root) :].lstrip("/") if name.startswith(root) else os.path.basename(name)
        parts = rel.split("/")
        if any(s == name or name.startswith(s.rstrip("/") + "/") for s in stale[-1:]):
            continue  # inside a stale directory already collected
        if parts[-1].startswith(TMP_PREFIX) and not parts[-1].endswith(LOCK_SUFFIX):
            stale.append(name)
    for f in stale:
        with contextlib.suppress(FileNotFoundError):
            fs.rm(f, recursive=True)
    return len(stale)


def is_local(path: str) -> bool:
    """True for plain paths and ``file://`` URLs (where O_EXCL and rename are atomic)."""
    return "://" not in path or path.startswith("file://")


def is_remote(path: str) -> bool:
    return not is_local(path)


def local_path(path: str) -> str:
    """A local path or ``file://`` URL as a plain path."""
    return path.removeprefix("file://")


def remove(path: str) -> None:
    """Delete a file if it exists."""
    fs, p = get_fs(path)
    with contextlib.suppress(FileNotFoundError):
        fs.rm(p)


def remove_tree(path: str) -> None:
    """Delete a directory and everything under it, if it exists."""
    fs, p = get_fs(path)
    if fs.exists(p):
        fs.rm(p, recursive=True)


def list_names(directory: str) -> list[str]:
    """Sorted base names in ``directory`` (empty when it does not exist)."""
    fs, p = get_fs(directory)
    if not fs.exists(p):
        return []
    return sorted(os.path.basename(str(f).rstrip("/")) for f in fs.ls(p, detail=False))


def read_yaml_mapping(path: str, error: type[Exception] = ValueError) -> dict:
    """A YAML file (local or URL) whose top level is a mapping; problems raise ``error`` naming the file."""
    import yaml

    try:
        data = yaml.safe_load(read_text(path))
    except FileNotFoundError as exc:
        raise error(f"--config {path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise error(f"--config {path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"--config {path}: the top level must be a mapping of key: value")
    return data

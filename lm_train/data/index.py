"""The sample index: built once per (dataset fingerprint, split, packing settings), cached as .npy.

The document table comes straight from the Arrow list offsets of every shard (numpy, no
loop over documents); documents are grouped (source / dataset / none), each group is
packed (``packing.concat_windows`` or ``packing.best_fit``), and the pieces are mapped
back to shard-local token positions. The result is saved atomically (temporary
directory renamed into place) with a sha256 over the settings that made it (dataset
fingerprint, split, packing) and every array, so a restart reads it instead of packing
again.

A cache on disk is input like any other: anyone who can write the dataset directory can
write it, and the batch kernels index raw memory with its numbers. So a loaded index is
a private in-memory copy (nothing can change it after the checks), its checksum must
match, and ``index_problem`` must find every piece inside its shard before a batch is
built; a cache that fails is rebuilt, never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.compute as pc

from lm_train.data.batch import SampleIndex
from lm_train.data.packing import best_fit, concat_windows
from lm_train.data.store import ShardStore

INDEX_FORMAT = 2  # 2: meta.json holds a checksum; format-1 caches are rebuilt once
_ARRAYS = ("piece_shard", "piece_start", "piece_len", "piece_bpt", "sample_ptr", "group_ptr")
_DTYPES = {
    "piece_shard": np.int32,
    "piece_start": np.int64,
    "piece_len": np.int32,
    "piece_bpt": np.float32,
    "sample_ptr": np.int64,
    "group_ptr": np.int64,
}


@dataclass(frozen=True)
class BuiltIndex:
    samples: SampleIndex
    group_ptr: np.ndarray  # int64, samples of group g are group_ptr[g]:group_ptr[g+1]
    group_names: list[str]
    stats: dict[str, Any]  # per group and total: docs, tokens, samples, padding, truncation


def index_settings(
    fingerprint: str, split: str, seq_len: int, packing: str, mix_by: str, names: list[str]
) -> bytes:
    """What an index depends on, as bytes: its cache key and its checksum both start from these."""
    return json.dumps(
        [INDEX_FORMAT, fingerprint, split, seq_len, packing, mix_by, names], separators=(",", ":")
    ).encode()


def index_key(fingerprint: str, split: str, seq_len: int, packing: str, mix_by: str, names: list[str]) -> str:
    blob = index_settings(fingerprint, split, seq_len, packing, mix_by, names)
    return hashlib.sha256(blob).hexdigest()[:32]


def document_table(store: ShardStore, shard_dataset: list[str]) -> dict[str, np.ndarray | list[str]]:
    """Per-document arrays over all shards: length, shard, local start, bytes/token, source, dataset."""
    lens, shard, start, bpt, src_codes, ds = [], [], [], [], [], []
    sources: dict[str, int] = {}
    for i in range(len(store.refs)):
        ts = store.open(i)
        offs = ts.offsets.astype(np.int64)
        n = np.diff(offs)
        lens.append(n)
        shard.append(np.full(len(n), i, np.int32))
        start.append(offs[:-1])
        nbytes = ts.table.column("num_bytes").to_numpy().astype(np.float64)
        bpt.append((nbytes / np.maximum(n, 1)).astype(np.float32))
        enc = pc.dictionary_encode(ts.table.column("source")).combine_chunks()
        local = [sources.setdefault(s, len(sources)) for s in enc.dictionary.to_pylist()]
        codes = enc.indices.to_numpy(zero_copy_only=False)
        src_codes.append(np.asarray(local, np.int32)[codes] if len(codes) else np.zeros(0, np.int32))
        ds.append(np.full(len(n), i, np.int32))
        del ts
    cat = lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt)  # noqa: E731
    return {
        "length": cat(lens, np.int64),
        "shard": cat(shard, np.int32),
        "start": cat(start, np.int64),
        "bpt": cat(bpt, np.float32),
        "source": cat(src_codes, np.int32),
        "source_names": list(sources),
        "dataset_of_shard": shard_dataset,
    }


def _group_of_docs(table: dict, mix_by: str) -> tuple[np.ndarray, list[str]]:
    if mix_by == "source":
        raw_names = table["source_names"]
        raw = table["source"]
    elif mix_by == "dataset":
        raw_names = sorted(set(table["dataset_of_shard"]))
        per_shard = np.asarray([raw_names.index(d) for d in table["dataset_of_shard"]], np.int32)
        raw = per_shard[table["shard"]] if len(table["shard"]) else np.zeros(0, np.int32)
    else:
        return np.zeros(len(table["length"]), np.int32), ["all"]
    names = sorted(raw_names)
    remap = np.asarray([names.index(n) for n in raw_names], np.int32)
    return (remap[raw] if len(raw) else np.zeros(0, np.int32)), names


def build_index(
    store: ShardStore, shard_dataset: list[str], seq_len: int, packing: str, mix_by: str
) -> BuiltIndex:
    table = document_table(store, shard_dataset)
    group, names = _group_of_docs(table, mix_by)
    pack = best_fit if packing == "best_fit" else concat_windows
    order = np.argsort(group, kind="stable")  # documents of each group, in shard/row order
    bounds = np.searchsorted(group[order], np.arange(len(names) + 1))
    parts: dict[str, list[np.ndarray]] = {k: [] for k in _ARRAYS[:4]}
    ptrs: list[np.ndarray] = [np.zeros(1, np.int64)]
    counts, pieces_before = [0], 0
    per_group: dict[str, dict[str, Any]] = {}
    for g, name in enumerate(names):
        docs = order[bounds[g] : bounds[g + 1]]
        lengths = table["length"][docs]
        packed = pack(lengths, seq_len)
        gdoc = docs[packed.doc]
        parts["piece_shard"].append(table["shard"][gdoc])
        parts["piece_start"].append(table["start"][gdoc] + packed.offset)
        parts["piece_len"].append(packed.length.astype(np.int32))
        parts["piece_bpt"].append(table["bpt"][gdoc])
        ptrs.append(packed.ptr[1:] + pieces_before)
        pieces_before += len(packed.length)
        counts.append(counts[-1] + packed.num_samples)
        per_group[name] = _pack_stats(lengths, packed, seq_len)
    ptr = np.concatenate(ptrs)
    return BuiltIndex(
        samples=_concat_index(parts, ptr),
        group_ptr=np.asarray(counts, np.int64),
        group_names=names,
        stats={"groups": per_group, **_total_stats(per_group, seq_len)},
    )


def _concat_index(parts: dict[str, list[np.ndarray]], ptr: np.ndarray) -> SampleIndex:
    cat = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in parts.items()}
    return SampleIndex(
        piece_shard=cat["piece_shard"].astype(np.int32),
        piece_start=cat["piece_start"].astype(np.int64),
        piece_len=cat["piece_len"].astype(np.int32),
        piece_bpt=cat["piece_bpt"].astype(np.float32),
        sample_ptr=ptr,
    )


def _pack_stats(lengths: np.ndarray, packed, seq_len: int) -> dict[str, Any]:
    slots = packed.num_samples * (seq_len + 1)
    held = int(packed.length.sum())
    return {
        "docs": len(lengths),
        "tokens": int(lengths.sum()),
        "samples": packed.num_samples,
        "padding_tokens": slots - held,
        "truncated_tokens": int(packed.dropped_tokens),
        "split_docs": int(packed.split_docs),
        "trained_positions": held - int(np.count_nonzero(packed.length)),
    }


def _total_stats(per_group: dict[str, dict[str, Any]], seq_len: int) -> dict[str, Any]:
    tot = {k: sum(g[k] for g in per_group.values()) for k in next(iter(per_group.values()), {})}
    samples, tokens = tot.get("samples", 0), tot.get("tokens", 0)
    slots = samples * (seq_len + 1)
    return {
        **tot,
        "padding_rate": tot.get("padding_tokens", 0) / slots if slots else 0.0,
        "truncation_rate": tot.get("truncated_tokens", 0) / tokens if tokens else 0.0,
        "split_doc_rate": tot.get("split_docs", 0) / tot["docs"] if tot.get("docs") else 0.0,
        "trained_fraction": tot.get("trained_positions", 0) / (samples * seq_len) if samples else 0.0,
    }


def _arrays_of(built: BuiltIndex) -> dict[str, np.ndarray]:
    return {
        "piece_shard": built.samples.piece_shard,
        "piece_start": built.samples.piece_start,
        "piece_len": built.samples.piece_len,
        "piece_bpt": built.samples.piece_bpt,
        "sample_ptr": built.samples.sample_ptr,
        "group_ptr": built.group_ptr,
    }


def index_checksum(settings: bytes, arrays: dict[str, np.ndarray], group_names: list, stats: Any) -> str:
    """sha256 over the settings, the group names and stats, and every array's dtype, shape and bytes."""
    digest = hashlib.sha256(settings)
    meta = {"group_names": group_names, "stats": stats}
    digest.update(json.dumps(meta, sort_keys=True, separators=(",", ":")).encode())
    for name in _ARRAYS:
        arr = np.ascontiguousarray(arrays[name]).reshape(-1)
        digest.update(f"|{name}:{arr.dtype.str}:{arr.shape}|".encode())
        digest.update(arr.view(np.uint8))
    return digest.hexdigest()


def save_index(root: str, key: str, built: BuiltIndex, settings: bytes = b"") -> str | None:
    """Write the index under ``root/key`` atomically; return the directory or None when not writable."""
    final = os.path.join(root, key)
    tmp = os.path.join(root, f".tmp-{key}-{uuid.uuid4().hex[:8]}")
    try:
        os.makedirs(tmp)
        arrays = _arrays_of(built)
        for name, arr in arrays.items():
            np.save(os.path.join(tmp, f"{name}.npy"), arr)
        meta = {
            "format": INDEX_FORMAT,
            "group_names": built.group_names,
            "stats": built.stats,
            "checksum": index_checksum(settings, arrays, built.group_names, built.stats),
        }
        with open(os.path.join(tmp, "meta.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, sort_keys=True)
        try:
            os.rename(tmp, final)
        except OSError:  # another process won the race: its copy is identical
            shutil.rmtree(tmp, ignore_errors=True)
        return final
    except OSError:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp, ignore_errors=True)
        return None


def discard_index(root: str, key: str) -> None:
    """Remove a refused cache so that the rebuilt one can take its name (a symlink is only unlinked)."""
    d = os.path.join(root, key)
    with contextlib.suppress(OSError):
        if os.path.islink(d) or not os.path.isdir(d):
            os.unlink(d)
        else:
            shutil.rmtree(d)


def _read_array(path: str, dtype: type, max_len: int) -> np.ndarray:
    """A private in-memory copy of a 1-D ``.npy`` of ``dtype`` and at most ``max_len`` entries.

    The header is checked before anything is allocated (a header may claim any shape), and
    there is no memory map: the file could change after the checks.
    """
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, found = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, found = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if found != np.dtype(dtype) or len(shape) != 1 or shape[0] > max_len:
            raise ValueError(f"holds {found} {shape}, expected 1-D {np.dtype(dtype)} of at most {max_len}")
        arr = np.fromfile(f, dtype=found, count=shape[0])
    if len(arr) != shape[0]:
        raise ValueError(f"is truncated ({len(arr)} of {shape[0]} entries)")
    return arr


def load_index(
    root: str, key: str, settings: bytes = b"", max_len: int = 2**40
) -> tuple[BuiltIndex | None, str | None]:
    """``(index, None)`` from the cache, ``(None, None)`` when there is none, ``(None, why)`` when
    it is there but unreadable, of another format, or fails its checksum.

    ``max_len`` bounds every array (a split of T tokens has at most 2T pieces) so that a
    forged header cannot make the loader allocate more than the dataset could need.
    """
    d = os.path.join(root, key)
    if not os.path.lexists(d):
        return None, None
    try:
        with open(os.path.join(d, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
        if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else None
            return None, f"format {found!r}, expected {INDEX_FORMAT}"
        arr = {}
        for name in _ARRAYS:
            try:
                arr[name] = _read_array(os.path.join(d, f"{name}.npy"), _DTYPES[name], max_len)
            except ValueError as exc:
                raise ValueError(f"{name}.npy {exc}") from exc
        names, stats = meta["group_names"], meta["stats"]
        if index_checksum(settings, arr, names, stats) != meta.get("checksum"):
            return None, "its checksum does not match its contents and settings"
        if (
            not isinstance(names, list)
            or not all(isinstance(n, str) for n in names)
            or not isinstance(stats, dict)
        ):
            return None, "meta.json has malformed group names or stats"
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        return None, f"unreadable ({exc})"
    samples = SampleIndex(
        arr["piece_shard"], arr["piece_start"], arr["piece_len"], arr["piece_bpt"], arr["sample_ptr"]
    )
    return BuiltIndex(samples, arr["group_ptr"], list(names), stats), None


def _shape_problem(arrays: dict[str, np.ndarray]) -> str | None:
    for name, dtype in _DTYPES.items():
        arr = arrays[name]
        if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.ndim != 1:
            return f"{name} must be a 1-D {np.dtype(dtype).name} array, got {getattr(arr, 'dtype', type(arr))!s} {getattr(arr, 'shape', '')}"
    n = len(arrays["piece_shard"])
    for name in ("piece_start", "piece_len", "piece_bpt"):
        if len(arrays[name]) != n:
            return f"{name} has {len(arrays[name])} entries, piece_shard {n}"
    return None


def _ptr_problem(name: str, ptr: np.ndarray, first: int, last: int) -> str | None:
    if len(ptr) < 1 or ptr[0] != first or ptr[-1] != last or bool((ptr[1:] < ptr[:-1]).any()):
        return f"{name} must rise from {first} to {last}"
    return None


def index_problem(built: BuiltIndex, shard_tokens: Sequence[int], seq_len: int) -> str | None:
    """Why ``built`` is unsafe to build batches from, or None: the batch kernels trust every
    number here (CSR pointers, shard ids, token positions) as a memory address."""
    arrays = _arrays_of(built)
    problem = _shape_problem(arrays)
    if problem:
        return problem
    s = built.samples
    num_pieces, names = len(s.piece_shard), built.group_names
    problem = _ptr_problem("sample_ptr", s.sample_ptr, 0, num_pieces)
    problem = problem or _ptr_problem("group_ptr", built.group_ptr, 0, s.num_samples)
    if problem:
        return problem
    if len(built.group_ptr) != len(names) + 1 or len(set(names)) != len(names):
        return f"group_ptr has {len(built.group_ptr)} entries for {len(names)} distinct group names"
    if not num_pieces:
        return None
    sizes = np.asarray(shard_tokens, np.int64)
    if s.piece_shard.min() < 0 or s.piece_shard.max() >= len(sizes):
        return f"a piece names shard {int(s.piece_shard.max())}, the split has {len(sizes)}"
    if s.piece_len.min() < 1 or s.piece_start.min() < 0:
        return "a piece has a negative start or a length below 1"
    room = sizes[s.piece_shard] - s.piece_len  # no overflow: both are below 2**31
    bad = np.flatnonzero(s.piece_start > room)
    if bad.size:
        p = int(bad[0])
        return (
            f"piece {p} covers tokens {int(s.piece_start[p])}..+{int(s.piece_len[p])} of shard "
            f"{int(s.piece_shard[p])}, which holds {int(sizes[s.piece_shard[p]])}"
        )
    ends = np.concatenate([[0], np.cumsum(s.piece_len, dtype=np.int64)])
    if (ends[s.sample_ptr[1:]] - ends[s.sample_ptr[:-1]]).max(initial=0) > seq_len + 1:
        return f"a sample holds more than seq_len + 1 = {seq_len + 1} tokens"
    if not np.isfinite(s.piece_bpt).all() or s.piece_bpt.min() < 0:
        return "piece_bpt holds a negative or non-finite bytes-per-token value"
    return None

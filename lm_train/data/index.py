"""The sample index: built once per (dataset fingerprint, split, packing settings), cached as .npy.

The document table comes straight from the Arrow list offsets of every shard (numpy, no
loop over documents); documents are grouped (source / dataset / none), each group is
packed (``packing.concat_windows`` or ``packing.best_fit``), and the pieces are mapped
back to shard-local token positions. The result is saved atomically (temporary
directory renamed into place) and later loaded memory-mapped, so a restart costs
milliseconds whatever the dataset size.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.compute as pc

from lm_train.data.batch import SampleIndex
from lm_train.data.packing import best_fit, concat_windows
from lm_train.data.store import ShardStore

INDEX_FORMAT = 1
_ARRAYS = ("piece_shard", "piece_start", "piece_len", "piece_bpt", "sample_ptr", "group_ptr")


@dataclass(frozen=True)
class BuiltIndex:
    samples: SampleIndex
    group_ptr: np.ndarray  # int64, samples of group g are group_ptr[g]:group_ptr[g+1]
    group_names: list[str]
    stats: dict[str, Any]  # per group and total: docs, tokens, samples, padding, truncation


def index_key(fingerprint: str, split: str, seq_len: int, packing: str, mix_by: str, names: list[str]) -> str:
    blob = json.dumps(
        [INDEX_FORMAT, fingerprint, split, seq_len, packing, mix_by, names], separators=(",", ":")
    ).encode()
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


def save_index(root: str, key: str, built: BuiltIndex) -> str | None:
    """Write the index under ``root/key`` atomically; return the directory or None when not writable."""
    final = os.path.join(root, key)
    tmp = os.path.join(root, f".tmp-{key}-{uuid.uuid4().hex[:8]}")
    try:
        os.makedirs(tmp)
        arrays = {
            "piece_shard": built.samples.piece_shard,
            "piece_start": built.samples.piece_start,
            "piece_len": built.samples.piece_len,
            "piece_bpt": built.samples.piece_bpt,
            "sample_ptr": built.samples.sample_ptr,
            "group_ptr": built.group_ptr,
        }
        for name, arr in arrays.items():
            np.save(os.path.join(tmp, f"{name}.npy"), arr)
        meta = {"format": INDEX_FORMAT, "group_names": built.group_names, "stats": built.stats}
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


def load_index(root: str, key: str) -> BuiltIndex | None:
    """The cached index (memory-mapped arrays), or None when absent or unreadable."""
    d = os.path.join(root, key)
    try:
        with open(os.path.join(d, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
        if meta.get("format") != INDEX_FORMAT:
            return None
        # Plain ndarray views of the maps: np.memmap's subclass hooks cost microseconds per operation.
        arr = {name: np.asarray(np.load(os.path.join(d, f"{name}.npy"), mmap_mode="r")) for name in _ARRAYS}
    except (OSError, ValueError):
        return None
    return BuiltIndex(
        samples=SampleIndex(
            arr["piece_shard"], arr["piece_start"], arr["piece_len"], arr["piece_bpt"], arr["sample_ptr"]
        ),
        group_ptr=np.asarray(arr["group_ptr"]),
        group_names=list(meta["group_names"]),
        stats=meta["stats"],
    )

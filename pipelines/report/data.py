"""The numbers behind ``pipelines.report``: pure functions over shards, documents and records.

Everything here works on plain numpy/Arrow objects or small dicts, so it is unit-tested
without matplotlib. Per-document work is vectorised: a token shard contributes its
offsets (``np.diff`` gives every document's length) and one Arrow ``group_by`` per shard;
a document Parquet file is read batch by batch with only the columns needed. Length
distributions are kept as (distinct value, count) pairs, which merge exactly across
shards in memory proportional to the number of *distinct* lengths, not documents.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lmcore import storage
from schemas import open_token_shard

UNKNOWN_LANG = "unknown"
QUANTILES = (0.01, 0.1, 0.5, 0.9, 0.99)
BINS_PER_OCTAVE = 4
EXAMPLES_PER_REASON = 3
SAMPLE_CHARS = 200


# -- length distributions ------------------------------------------------------------------
@dataclass(frozen=True)
class LengthDist:
    """An exact distribution of non-negative integer lengths as sorted (value, count) pairs."""

    values: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @classmethod
    def from_lengths(cls, lengths: np.ndarray | Iterable[int]) -> LengthDist:
        values, counts = np.unique(np.asarray(lengths, dtype=np.int64), return_counts=True)
        return cls(values.astype(np.int64), counts.astype(np.int64))

    def merge(self, other: LengthDist) -> LengthDist:
        if not len(other.values):
            return self
        if not len(self.values):
            return other
        values, inverse = np.unique(np.concatenate([self.values, other.values]), return_inverse=True)
        counts = np.zeros(len(values), np.int64)
        np.add.at(counts, inverse, np.concatenate([self.counts, other.counts]))
        return LengthDist(values, counts)

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def total(self) -> int:
        return int((self.values * self.counts).sum())

    def quantile(self, q: float) -> int:
        """Smallest length with at least ``q`` of the documents at or below it (numpy's ``inverted_cdf``)."""
        if not self.n:
            raise ValueError("quantile of an empty distribution")
        cum = np.cumsum(self.counts)
        rank = max(int(np.ceil(q * self.n)), 1)
        return int(self.values[np.searchsorted(cum, rank)])

    def log_histogram(self, bins_per_octave: int = BINS_PER_OCTAVE) -> dict[str, Any]:
        """Counts over integer bins ``[edges[i], edges[i+1])`` that grow geometrically from 1.

        Zero lengths cannot sit on a log axis and are reported as ``zero``.
        """
        positive = self.values > 0
        zero = int(self.counts[~positive].sum())
        values, counts = self.values[positive], self.counts[positive]
        if not len(values):
            return {"edges": [], "counts": [], "zero": zero}
        top = int(np.ceil(np.log2(int(values.max()) + 1) * bins_per_octave)) + 1
        edges = np.unique(np.round(2.0 ** (np.arange(top + 1) / bins_per_octave)).astype(np.int64))
        edges = edges[: int(np.searchsorted(edges, int(values.max()), side="right")) + 1]
        idx = np.searchsorted(edges, values, side="right") - 1
        hist = np.bincount(idx, weights=counts, minlength=len(edges) - 1)[: len(edges) - 1]
        first = int(idx.min())  # drop the empty bins below the shortest document
        return {
            "edges": edges[first:].tolist(),
            "counts": hist[first:].astype(np.int64).tolist(),
            "zero": zero,
        }

    def summary(self) -> dict[str, Any]:
        if not self.n:
            return {"documents": 0}
        out: dict[str, Any] = {
            "documents": self.n,
            "total": self.total,
            "min": int(self.values[0]),
            "max": int(self.values[-1]),
            "mean": round(self.total / self.n, 3),
        }
        out.update({f"p{round(q * 100):02d}": self.quantile(q) for q in QUANTILES})
        out["histogram"] = self.log_histogram()
        return out


# -- grouped totals --------------------------------------------------------------------------
Totals = dict[str, dict[str, int]]  # key -> {"documents", "tokens"?, "bytes"}


def group_totals(keys: pa.Array | pa.ChunkedArray, columns: Mapping[str, np.ndarray | pa.Array]) -> Totals:
    """Per distinct key: the number of rows and the sum of each column (one Arrow group_by)."""
    keys = pc.fill_null(keys, UNKNOWN_LANG) if keys.null_count else keys
    table = pa.table({"key": keys, **{name: col for name, col in columns.items()}})
    aggs = [("key", "count")] + [(name, "sum") for name in columns]
    grouped = table.group_by("key").aggregate(aggs).to_pydict()
    out: Totals = {}
    for i, key in enumerate(grouped["key"]):
        row = {"documents": int(grouped["key_count"][i])}
        row.update({name: int(grouped[f"{name}_sum"][i] or 0) for name in columns})
        out[str(key)] = row
    return out


def merge_totals(a: Totals, b: Totals) -> Totals:
    out = {k: dict(v) for k, v in a.items()}
    for key, row in b.items():
        target = out.setdefault(key, {})
        for name, n in row.items():
            target[name] = target.get(name, 0) + n
    return out


def totals_rows(totals: Totals) -> list[dict[str, Any]]:
    """Rows sorted by tokens (or bytes), largest first, with shares and bytes per token."""
    metric = "tokens" if any("tokens" in r for r in totals.values()) else "bytes"
    grand = {name: sum(r.get(name, 0) for r in totals.values()) for name in ("documents", "tokens", "bytes")}
    rows = []
    for key, r in sorted(totals.items(), key=lambda kv: (-kv[1].get(metric, 0), kv[0])):
        row: dict[str, Any] = {"name": key, **r}
        for name in ("documents", "tokens", "bytes"):
            if name in r:
                row[f"{name}_share"] = round(r[name] / grand[name], 6) if grand[name] else 0.0
        if r.get("tokens"):
            row["bytes_per_token"] = round(r["bytes"] / r["tokens"], 4)
        rows.append(row)
    return rows


# -- token shards ------------------------------------------------------------------------------
@dataclass
class ShardsAccumulator:
    """Running totals over token shards: per shard, per source, per language, per split."""

    shards: list[dict[str, Any]] = field(default_factory=list)
    by_source: Totals = field(default_factory=dict)
    by_lang: Totals = field(default_factory=dict)
    by_split: Totals = field(default_factory=dict)
    token_lengths: LengthDist = field(default_factory=LengthDist)
    byte_lengths: LengthDist = field(default_factory=LengthDist)

    def add_table(self, table: pa.Table, offsets: np.ndarray, path: str, split: str) -> dict[str, Any]:
        """Fold one shard (its table and token offsets) in; return the shard's own row."""
        ntok = np.diff(offsets.astype(np.int64))
        nbytes = table.column("num_bytes").to_numpy()
        cols = {"tokens": ntok, "bytes": nbytes}
        self.by_source = merge_totals(self.by_source, group_totals(table.column("source"), cols))
        self.by_lang = merge_totals(self.by_lang, group_totals(table.column("lang"), cols))
        row = {
            "path": path,
            "split": split,
            "documents": int(table.num_rows),
            "tokens": int(ntok.sum()),
            "bytes": int(nbytes.sum()),
        }
        self.by_split = merge_totals(
            self.by_split, {split: {k: row[k] for k in ("documents", "tokens", "bytes")}}
        )
        self.token_lengths = self.token_lengths.merge(LengthDist.from_lengths(ntok))
        self.byte_lengths = self.byte_lengths.merge(LengthDist.from_lengths(nbytes))
        self.shards.append(row)
        return row

    def add_file(self, full_path: str, rel_path: str, split: str | None = None) -> dict[str, Any]:
        """Open a shard memory-mapped (local) or buffered (URL) and fold it in."""
        if storage.is_local(full_path):
            shard = open_token_shard(full_path.removeprefix("file://"))
        else:
            shard = open_token_shard(pa.py_buffer(storage.read_bytes(full_path)))
        meta = shard.table.schema.metadata or {}
        split = split or meta.get(b"lmforge.split", b"").decode() or split_from_name(rel_path)
        return self.add_table(shard.table, shard.offsets, rel_path, split)

    def result(self) -> dict[str, Any]:
        totals = {name: sum(r[name] for r in self.shards) for name in ("documents", "tokens", "bytes")}
        if totals["tokens"]:
            totals["bytes_per_token"] = round(totals["bytes"] / totals["tokens"], 4)
        return {
            "totals": totals,
            "by_split": totals_rows(self.by_split),
            "by_source": totals_rows(self.by_source),
            "by_lang": totals_rows(self.by_lang),
            "shards": self.shards,
            "doc_length_tokens": self.token_lengths.summary(),
            "doc_length_bytes": self.byte_lengths.summary(),
        }


def split_from_name(rel_path: str) -> str:
    name = rel_path.rsplit("/", 1)[-1]
    return name.split("-", 1)[0] if "-" in name else "unknown"


def version_from_path(rel_path: str) -> int | None:
    """``shards/v00002/train-....arrow`` -> 2 (shards of an incremental run), else None."""
    for part in rel_path.split("/")[:-1]:
        if len(part) == 6 and part[0] == "v" and part[1:].isdigit():
            return int(part[1:])
    return None


# -- documents (Parquet) -------------------------------------------------------------------------
@dataclass
class DocumentsAccumulator:
    """Running totals over document Parquet files (bytes only: documents carry no tokens)."""

    files: int = 0
    by_source: Totals = field(default_factory=dict)
    by_lang: Totals = field(default_factory=dict)
    byte_lengths: LengthDist = field(default_factory=LengthDist)

    def add_batch(self, batch: pa.RecordBatch | pa.Table) -> None:
        nbytes = pc.binary_length(batch.column("text")).to_numpy(zero_copy_only=False).astype(np.int64)
        cols = {"bytes": nbytes}
        self.by_source = merge_totals(self.by_source, group_totals(batch.column("source"), cols))
        langs = batch.column("lang") if "lang" in batch.schema.names else pa.nulls(len(nbytes), pa.string())
        self.by_lang = merge_totals(self.by_lang, group_totals(langs, cols))
        self.byte_lengths = self.byte_lengths.merge(LengthDist.from_lengths(nbytes))

    def add_file(self, path: str, batch_size: int = 65536) -> None:
        fs, p = storage.get_fs(path)
        with fs.open(p, "rb") as f:
            pf = pq.ParquetFile(f)
            columns = [c for c in ("source", "lang", "text") if c in pf.schema_arrow.names]
            for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
                self.add_batch(batch)
        self.files += 1

    def result(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "totals": {"documents": self.byte_lengths.n, "bytes": self.byte_lengths.total},
            "by_source": totals_rows(self.by_source),
            "by_lang": totals_rows(self.by_lang),
            "doc_length_bytes": self.byte_lengths.summary(),
        }


# -- dropped and quarantine records ------------------------------------------------------------
def iter_jsonl_gz(paths: Iterable[str]) -> Iterator[dict[str, Any]]:
    for path in paths:
        fs, p = storage.get_fs(path)
        with fs.open(p, "rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def sample_text(text: Any) -> str:
    """A record's text shortened for a report page."""
    text = "" if text is None else str(text)
    return text[:SAMPLE_CHARS] + ("…" if len(text) > SAMPLE_CHARS else "")


DROPPED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("source", pa.string()),
        ("duplicate_of", pa.string()),
        ("text", pa.string()),
    ]
)
JSON_BLOCK_BYTES = 16 << 20


def _records_to_table(records: Iterable[Mapping[str, Any]]) -> pa.Table:
    def cell(v: Any) -> str | None:
        return None if v is None else str(v)

    rows = [{name: cell(r.get(name)) for name in DROPPED_SCHEMA.names} for r in records]
    return pa.Table.from_pylist(rows, schema=DROPPED_SCHEMA)


def read_dropped_tables(
    paths: Iterable[str], fallback_chunk: int = 10_000
) -> Iterator[pa.Table | pa.RecordBatch]:
    """Dropped records as Arrow batches of ``DROPPED_SCHEMA`` columns (other fields are skipped).

    Parsed by Arrow's streaming JSON reader straight from the gzip stream, one block at a
    time. From a record it refuses (a non-string id, a record larger than a block) on, the
    file is read line by line instead, skipping the records already handed on.
    """
    import pyarrow.json as pj

    options = pj.ParseOptions(explicit_schema=DROPPED_SCHEMA, unexpected_field_behavior="ignore")
    for path in paths:
        done = 0
        fs, p = storage.get_fs(path)
        try:
            with fs.open(p, "rb") as f:
                stream = pa.CompressedInputStream(pa.PythonFile(f, mode="r"), "gzip")
                read = pj.ReadOptions(block_size=JSON_BLOCK_BYTES)
                for batch in pj.open_json(stream, read_options=read, parse_options=options):
                    done += batch.num_rows
                    yield batch
        except pa.ArrowInvalid:
            chunk: list[dict[str, Any]] = []
            for i, rec in enumerate(iter_jsonl_gz([path])):
                if i >= done:
                    chunk.append(rec)
                if len(chunk) >= fallback_chunk:
                    yield _records_to_table(chunk)
                    chunk = []
            if chunk:
                yield _records_to_table(chunk)


def _smallest_per_group(table: pa.Table, keys: list[str], order: str, k: int) -> pa.Table:
    """The ``k`` rows with the smallest ``order`` value in every group of ``keys`` (one sort)."""
    table = table.sort_by([*((name, "ascending") for name in keys), (order, "ascending")])
    if not table.num_rows:
        return table
    new_group = np.zeros(table.num_rows, bool)
    new_group[0] = True
    for name in keys:
        col = table.column(name).to_numpy(zero_copy_only=False)
        new_group[1:] |= col[1:] != col[:-1]
    starts = np.flatnonzero(new_group)
    rank = np.arange(table.num_rows) - np.repeat(starts, np.diff(np.r_[starts, table.num_rows]))
    return table.filter(pa.array(rank < k))


@dataclass
class DroppedAccumulator:
    """Counts, removed bytes and examples per (stage, reason), and ``duplicate_of`` clusters.

    Examples are the documents with the smallest ids, so the report is deterministic.
    """

    counts: Totals = field(default_factory=dict)
    removed_per_rep: Counter = field(default_factory=Counter)
    examples: pa.Table | None = None

    def add(self, batch: pa.Table | pa.RecordBatch) -> None:
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        for name in ("id", "stage", "reason"):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, pc.fill_null(table.column(name), ""))
        key = pc.binary_join_element_wise(table.column("stage"), table.column("reason"), "/")
        nbytes = pc.fill_null(pc.binary_length(table.column("text")), 0).to_numpy(zero_copy_only=False)
        self.counts = merge_totals(self.counts, group_totals(key, {"bytes": nbytes.astype(np.int64)}))
        reps = table.column("duplicate_of").drop_null()
        if len(reps):
            counted = pc.value_counts(reps)
            self.removed_per_rep.update(
                dict(
                    zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True)
                )
            )
        few = _smallest_per_group(table, ["stage", "reason"], "id", EXAMPLES_PER_REASON)
        merged = few if self.examples is None else pa.concat_tables([self.examples, few])
        self.examples = _smallest_per_group(merged, ["stage", "reason"], "id", EXAMPLES_PER_REASON)

    def result(self) -> dict[str, Any]:
        rows = [
            {
                "stage": k.split("/", 1)[0],
                "reason": k.split("/", 1)[1],
                "documents": r["documents"],
                "bytes": r["bytes"],
            }
            for k, r in sorted(self.counts.items(), key=lambda kv: (-kv[1]["documents"], kv[0]))
        ]
        examples: dict[str, list[dict[str, Any]]] = {}
        for rec in self.examples.to_pylist() if self.examples is not None else []:
            item = {"id": rec["id"], "source": rec["source"], "sample": sample_text(rec["text"])}
            if rec["duplicate_of"] is not None:
                item["duplicate_of"] = rec["duplicate_of"]
            examples.setdefault(f"{rec['stage']}/{rec['reason']}", []).append(item)
        return {
            "documents": sum(r["documents"] for r in rows),
            "by_reason": rows,
            "cluster_sizes": cluster_size_histogram(self.removed_per_rep.values()),
            "examples": dict(sorted(examples.items())),
        }


def summarise_dropped(tables: Iterable[pa.Table | pa.RecordBatch]) -> dict[str, Any]:
    acc = DroppedAccumulator()
    for t in tables:
        acc.add(t)
    return acc.result()


ClusterRows = list[dict[str, int]]  # [{"size", "clusters", "documents"}], by size


def _cluster_rows(sizes: Mapping[int, int]) -> ClusterRows:
    return [{"size": s, "clusters": n, "documents": s * n} for s, n in sorted(sizes.items())]


def cluster_size_histogram(removed_per_representative: Iterable[int]) -> ClusterRows:
    """Clusters per size; a cluster is a kept representative plus the copies removed as its duplicates."""
    return _cluster_rows(Counter(n + 1 for n in removed_per_representative))


def clusters_from_annotations(annotations: Mapping[str, Mapping[str, int]]) -> ClusterRows:
    """``stats.json`` annotations ``dedup_clusters/size_N`` (written by the dedup stage) -> cluster rows."""
    raw = annotations.get("dedup_clusters", {})
    sizes = {int(k[5:]): int(n) for k, n in raw.items() if k.startswith("size_") and k[5:].isdigit()}
    return _cluster_rows(sizes)


def summarise_quarantine(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts and examples per (stage, reason) of quarantine records; examples sorted by path, offset."""
    counts: Counter = Counter()
    examples: dict[str, list[tuple[tuple, dict[str, Any]]]] = {}
    for rec in records:
        key = f"{rec.get('stage')}/{rec.get('reason')}"
        counts[key] += 1
        order = (str(rec.get("path")), -1 if rec.get("offset") is None else int(rec["offset"]))
        ex = examples.setdefault(key, [])
        if len(ex) < EXAMPLES_PER_REASON or order < ex[-1][0]:
            item = {
                "path": rec.get("path"),
                "offset": rec.get("offset"),
                "error": sample_text(rec.get("error")),
                "sample": sample_text(rec.get("sample")),
            }
            ex.append((order, item))
            ex.sort(key=lambda t: t[0])
            del ex[EXAMPLES_PER_REASON:]
    rows = [
        {"stage": k.split("/", 1)[0], "reason": k.split("/", 1)[1], "records": n}
        for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return {
        "records": sum(counts.values()),
        "by_reason": rows,
        "examples": {k: [item for _, item in v] for k, v in sorted(examples.items())},
    }


# -- accounting --------------------------------------------------------------------------------
def removal_rows(counts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every removal bucket/reason of a nested ``counts`` object, largest first, with % of input."""
    total = counts.get("input", 0)
    rows = []
    for bucket in ("dropped", "duplicates", "quarantined"):
        for reason, n in counts.get(bucket, {}).items():
            rows.append(
                {
                    "bucket": bucket,
                    "reason": reason,
                    "documents": n,
                    "share_of_input": round(n / total, 6) if total else 0.0,
                }
            )
    return sorted(rows, key=lambda r: (-r["documents"], r["bucket"], r["reason"]))


def boilerplate_summary(
    annotations: Mapping[str, Mapping[str, int]], top_lines: list[Mapping[str, Any]] | None
) -> dict[str, Any]:
    """Lines removed (from stats annotations) and the most frequent removed lines (dedup's list)."""
    bp = dict(annotations.get("boilerplate", {}))
    lines = [
        {
            "line": str(rec["line"]),
            "documents": int(rec["documents"]),
            "copies_removed": max(int(rec["documents"]) - 1, 0),
        }
        for rec in (top_lines or [])
    ]
    lines.sort(key=lambda r: (-r["documents"], r["line"]))
    return {
        "lines_removed": bp.get("lines_removed"),
        "documents_changed": bp.get("documents_changed"),
        "top_lines": lines,
    }


# -- versions ------------------------------------------------------------------------------------
def version_rows(
    manifests: list[Mapping[str, Any]], run_stats: Mapping[int, Mapping[str, Any]]
) -> list[dict]:
    """One row per dataset version: cumulative docs/tokens/bytes (from its shard list) and the growth.

    ``manifests`` are manifest dicts in version order; ``run_stats`` maps a version to the
    ``stats.json`` of the run that produced it (``state/vN/stats.json``), when present.
    """
    rows: list[dict[str, Any]] = []
    prev = {"documents": 0, "tokens": 0, "bytes": 0, "shards": 0}
    for m in manifests:
        shards = m.get("shards", [])
        cur = {
            "documents": sum(s["num_docs"] for s in shards),
            "tokens": sum(s["num_tokens"] for s in shards),
            "bytes": sum(s["num_bytes"] for s in shards),
            "shards": len(shards),
        }
        counts = m.get("counts", {})
        row: dict[str, Any] = {
            "version": int(m.get("version", 1)),
            "created_at": m.get("created_at"),
            "fingerprint": m.get("fingerprint"),
            **cur,
            **{f"new_{k}": cur[k] - prev[k] for k in cur},
            "cumulative_input": counts.get("input"),
            "cumulative_kept": counts.get("kept"),
        }
        run = run_stats.get(row["version"])
        if run:
            rc = run.get("counts", {})
            row["run_input"] = rc.get("input")
            row["run_kept"] = rc.get("kept")
        rows.append(row)
        prev = cur
    return rows


def share(n: int | None, total: int | None) -> float | None:
    """``n / total`` rounded for report.json; None where either is unknown or the total is 0."""
    return round(n / total, 6) if n is not None and total else None

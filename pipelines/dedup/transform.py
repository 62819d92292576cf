"""``DeduplicateDocuments``: boilerplate lines, exact and MinHash-LSH fuzzy duplicates in Beam.

Data flow. Chunks of text never go through a shuffle; only hashes, 64-bit document
uids (``xxh3(id)``) and, for candidate documents only, their shingle sets/signatures do.
Hash shuffles move numpy batches, one element per (chunk, shard), not one per
(document, band): that is what keeps Beam's per-element cost off the hot path.

    chunks [+ earlier runs' index files as (path, None) elements] -> zstd-packed chunks
    chunks -> shingles + signatures (compiled kernels, per chunk) -> exact-hash and band-key
           batches (index files -> the same batches for the earlier documents, marked old)
    batches -> GBK((kind, shard)) -> candidate pairs (numpy sort; exact pairs need no check)
    chunks + pairs (side input: uid pairs only) -> (pair shard, [(pair, info)]) for the
           candidate documents, their shingles recomputed -> GBK(pair shard) -> verified
           edges (exact Jaccard of the shingle sets, or the signature estimate for old
           documents)
    edges -> union-find (one CombineGlobally) -> {removed id: (representative, kind)}
    chunks + removals (side input) -> surviving chunks (packed), counts, dropped records, and
           the survivors' (line hash, uid, text hash) batches -> GBK(shard) -> frequent lines
    survivors + frequent lines (side input) -> boilerplate removed at the documents'
           edges; documents then too short dropped

Duplicates are decided on the documents as they arrived; boilerplate lines are removed
afterwards, from the survivors only. Removing lines shared by many documents first
would strip them from all but one member of each near-duplicate cluster (the ones that
share a site's header and footer), and the mutilated copies would no longer match.

Per-chunk work that releases the GIL (packing, shingling, MinHash) runs on a small
thread pool in each worker (``ChunkPool``, ``dedup.threads``), beside Beam's own work on
the calling thread.

Why side inputs for the decisions rather than joining them to the chunks: a join keyed by
chunk would move every chunk (all the text) through one more shuffle; the side inputs
hold only the frequent lines, the candidate uid pairs (16 bytes each) and the removed ids
(~100 bytes per removed document), never the LSH index. Why recompute the candidates'
shingles and signatures instead of carrying them: shuffling every signature would move
num_perm x 4 bytes per document (as much as the text); the candidates are a fraction.
Measured (bench/bench_dedup_scale.py, ``python -m pipelines.dedup`` on 2 cores): 1M ~1 KB
documents at about 9 MB/s end to end, peak about 5.8 GB on the FnApiRunner, which keeps
every stage's output in memory until the next stage reads it.

No Flatten below the first step: Beam's FnApiRunner deadlocks ("watermark-pending bundles
did not execute") when a Flatten sits downstream of a side-input ParDo whose input also
feeds a later side-input ParDo, so index files travel with the chunks instead.

Scale limits: the union-find runs in one combiner over the verified edges (one per
duplicate document, about 100 bytes): tens of millions of duplicates per worker; the
candidate-pair side input holds 16 bytes per pair on every worker.
"""

from __future__ import annotations

import json
import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from lmcore import storage
from pipelines.dedup import components, index, lsh
from pipelines.dedup.boilerplate import (
    chunk_line_batches,
    doc_uid,
    frequent_lines,
    remove_boilerplate,
    split_by_shard,
)
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.minhash import band_keys, estimated_jaccard, flat_signatures, optimal_bands
from pipelines.dedup.shingles import chunk_shingles
from pipelines.io.ids import RenameTable, apply_renames, chunk_id_batches, reserved_id_batches
from pipelines.io.packing import pack, unpack
from pipelines.stage.accounting import COUNTS, DOCS, DROPPED, StageOutputs, bump, dropped_record
from pipelines.stage.progress import RateLogger

Doc = dict[str, Any]
EXACT, BANDS, INDEX, LINES, LINE_BATCHES = "exact", "bands", "index", "lines", "line_batches"
ID_BATCHES = "id_batches"
# Earlier runs' documents take part under a salted uid (and a prefixed id in the union-find),
# so a document re-ingested under the same id is a duplicate of its old self, not the same node.
OLD_SALT = np.uint64(0x5A17_0000_0000_0001)
OLD_PREFIX = "\x00old:"


def chunk_records(docs: list[Doc], cfg: DedupConfig, with_signatures: bool = True) -> dict[str, Any]:
    """Per-document dedup data of a chunk, computed in numpy batches.

    Returns ``id`` (list), ``uid``/``exact`` (uint64), ``shingles`` (``ChunkShingles``) and,
    with signatures, ``sig`` (docs x num_perm uint32) and ``bands`` (docs x bands uint64).
    """
    texts = [d["text"] for d in docs]
    sh = chunk_shingles(texts, None, cfg.word_ngram, cfg.char_ngram)
    rec: dict[str, Any] = {
        "id": [d["id"] for d in docs],
        "uid": np.fromiter((doc_uid(d["id"]) for d in docs), np.uint64, len(docs)),
        "exact": sh.exact,
        "shingles": sh,
    }
    if with_signatures:
        rec["sig"] = flat_signatures(sh.hashes, sh.offsets, cfg.num_perm, cfg.seed)
        bands, rows = optimal_bands(
            cfg.threshold, cfg.num_perm, cfg.false_positive_weight, cfg.false_negative_weight
        )
        rec["bands"] = band_keys(rec["sig"], bands, rows)
        rec["has_shingles"] = np.diff(sh.offsets) > 0
    return rec


def key_batches(rec: dict[str, Any], old: bool, cfg: DedupConfig) -> Iterator[tuple]:
    """((kind, shard), arrays): exact-hash and band-key rows of some documents, per shard."""
    n = len(rec["uid"])
    old_col = np.full(n, old)
    if cfg.exact:
        for shard, arrays in split_by_shard(rec["exact"], cfg.shuffle_shards, rec["uid"], old_col):
            yield (EXACT, shard), arrays
    if cfg.fuzzy:
        has = rec["has_shingles"]  # documents without any word character have no bands
        bands = rec["bands"][has]
        b = bands.shape[1]
        for shard, arrays in split_by_shard(
            bands.reshape(-1),
            cfg.shuffle_shards,
            np.repeat(rec["uid"][has], b),
            np.repeat(rec["exact"][has], b),
            np.repeat(old_col[has], b),
        ):
            yield (BANDS, shard), arrays


class PackFn(beam.DoFn):
    """Chunk -> the chunk packed (zstd pickle, see ``pack``); compression runs on a
    ``ChunkPool`` (zstd releases the GIL) beside the reading on the calling thread. Also
    emits the chunk's id hashes (``ID_BATCHES``, see ``pipelines.io.ids``); an index file
    emits its documents' as reserved."""

    def __init__(self, config: DedupConfig):
        self.config = config

    def setup(self) -> None:
        self.pool = ChunkPool(self.config.threads)

    def teardown(self) -> None:
        self.pool.close()

    def process(self, chunk: tuple) -> Iterator[Any]:
        if is_index_element(chunk):
            yield chunk
            for batch in reserved_id_batches(chunk[0]):  # earlier runs' ids: theirs to keep
                yield pvalue.TaggedOutput(ID_BATCHES, batch)
            return
        for batch in chunk_id_batches(chunk):
            yield pvalue.TaggedOutput(ID_BATCHES, batch)
        for outputs in self.pool.submit(_packed, chunk):
            yield from outputs

    def finish_bundle(self) -> Iterator[Any]:
        yield from self.pool.drain()


def _packed(chunk: tuple[str, list[Doc]]) -> list[tuple[str, bytes]]:
    return [(chunk[0], pack(chunk[1]))]


def shard_pairs(kv: tuple[tuple[str, int], Iterable[tuple]], collapse_exact: bool) -> tuple[np.ndarray, bool]:
    """(pairs, needs verification) of one shard of exact hashes or band keys."""
    (kind, _), batches = kv
    if kind == EXACT:
        return lsh.exact_pairs(list(batches)), False
    return lsh.band_pairs(list(batches), collapse_exact), True


def _keeper_table(frequent: list[tuple]) -> dict[int, tuple[int, int]]:
    return {int(h): (int(u), int(c)) for hs, us, cs in frequent for h, u, c in zip(hs, us, cs, strict=True)}


class BoilerplateFn(beam.DoFn):
    """Remove boilerplate lines (all but the keeper's copy); drop documents then too short."""

    def __init__(self, config: DedupConfig, stage: str):
        self.config = config
        self.stage = stage

    def setup(self) -> None:
        self._source: Any = None
        self._keepers: dict[int, tuple[int, int]] = {}

    def process(self, chunk: tuple[str, list[Doc]], frequent: list[tuple]) -> Iterator[Any]:
        if frequent is not self._source:
            self._source, self._keepers = frequent, _keeper_table(frequent)
        if not self._keepers:  # no boilerplate anywhere: nothing to change in any chunk
            yield chunk[0], unpack(chunk[1])
            return
        key, docs = chunk[0], unpack(chunk[1])
        kept: list[Doc] = []
        counts: Counter = Counter()
        for doc in docs:
            text, n_lines, kept_lines = remove_boilerplate(
                doc["text"],
                doc_uid(doc["id"]),
                self._keepers,
                self.config.boilerplate_min_chars,
                self.config.boilerplate_scope,
            )
            for item in kept_lines:
                yield pvalue.TaggedOutput(LINES, item)
            if n_lines and len(text) < self.config.min_chars_after_boilerplate:
                counts["dropped/too_short_after_boilerplate"] += 1
                counts["bytes_dedup_dropped/too_short_after_boilerplate"] += utf8_len(doc["text"])
                yield pvalue.TaggedOutput(
                    DROPPED, dropped_record(self.stage, doc, "too_short_after_boilerplate")
                )
                continue
            if n_lines:
                counts["boilerplate/lines_removed"] += n_lines
                counts["boilerplate/documents_changed"] += 1
                counts["bytes_dedup_removed/boilerplate"] += utf8_len(doc["text"]) - utf8_len(text)
            kept.append({**doc, "text": text} if n_lines else doc)
        bump(self.stage, counts)
        if counts:
            yield pvalue.TaggedOutput(COUNTS, dict(counts))
        if kept:
            yield key, kept


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def is_index_element(element: tuple) -> bool:
    """Earlier runs' index files travel with the chunks as ``(path, None)`` (see ``expand``)."""
    return element[1] is None


class ChunkPool:
    """Runs per-chunk work on a few threads, a bounded number in flight, results in order.

    Compression, shingling (compiled kernels) and MinHash (numpy) release the GIL, so a
    pool thread keeps a second core busy while the calling thread is in Beam's own
    per-element code. Results come back in submission order; ``threads=1`` runs
    everything on the calling thread.
    """

    def __init__(self, threads: int):
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="dedup") if threads > 1 else None
        self._pending: deque[Future] = deque()

    def submit(self, fn: Any, *args: Any) -> Iterator[list]:
        """Start ``fn(*args)``; yield the result lists that are ready (or must be waited for)."""
        if self._pool is None:
            yield fn(*args)
            return
        self._pending.append(self._pool.submit(fn, *args))
        while self._pending and (len(self._pending) > 2 * self.threads or self._pending[0].done()):
            yield self._pending.popleft().result()

    def drain(self) -> Iterator[Any]:
        """Everything still pending, as outputs for ``finish_bundle`` (global window)."""
        while self._pending:
            for out in self._pending.popleft().result():
                if isinstance(out, pvalue.TaggedOutput):
                    yield pvalue.TaggedOutput(out.tag, _in_global_window(out.value))
                else:
                    yield _in_global_window(out)

    def close(self) -> None:
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def _in_global_window(value: Any) -> WindowedValue:
    return WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])


class SignFn(beam.DoFn):
    """Chunk -> exact/band key batches (and index rows); an index file -> its batches, marked old.

    Chunks are signed on a ``ChunkPool``; the outputs feed a GroupByKey, so their order
    does not matter.
    """

    def __init__(self, config: DedupConfig, stage: str, with_index: bool):
        self.config = config
        self.stage = stage
        self.with_index = with_index

    def setup(self) -> None:
        self.progress = RateLogger(f"{self.stage}: signatures")
        self.pool = ChunkPool(self.config.threads)

    def teardown(self) -> None:
        self.pool.close()

    def _sign(self, packed: bytes | list[Doc]) -> list[Any]:
        docs = unpack(packed)
        cfg = self.config
        rec = chunk_records(docs, cfg, with_signatures=cfg.fuzzy or self.with_index)
        out: list[Any] = list(key_batches(rec, False, cfg))
        if self.with_index:
            out.append(pvalue.TaggedOutput(INDEX, {k: rec[k] for k in ("id", "uid", "exact", "sig")}))
        self.progress.update(len(docs), sum(len(d["text"]) for d in docs))
        return out

    def process(self, element: tuple) -> Iterator[Any]:
        if is_index_element(element):
            for batch in index.read_batches(element[0], self.config):
                batch["has_shingles"] = np.ones(len(batch["uid"]), bool)
                batch["uid"] = batch["uid"] ^ OLD_SALT
                yield from key_batches(batch, True, self.config)
            return
        for outputs in self.pool.submit(self._sign, element[1]):
            yield from outputs

    def finish_bundle(self) -> Iterator[Any]:
        yield from self.pool.drain()


class PairTable:
    """Distinct candidate pairs (uid_a < uid_b, needs verification) and, per uid, its pairs.

    Built once per worker from the side input (a list of (pairs, verify) arrays per shard);
    a pair found by the exact pass needs no verification even if LSH found it too.
    """

    def __init__(self, parts: list[tuple[np.ndarray, bool]]):
        chunks = [(p, np.full(len(p), v)) for p, v in parts if len(p)]
        if not chunks:
            self.pairs, self.verify = np.zeros((0, 2), np.uint64), np.zeros(0, bool)
        else:
            pairs = np.concatenate([c[0] for c in chunks])
            verify = np.concatenate([c[1] for c in chunks])
            pairs = np.stack((pairs.min(axis=1), pairs.max(axis=1)), axis=1)
            order = np.lexsort((verify, pairs[:, 1], pairs[:, 0]))
            pairs, verify = pairs[order], verify[order]
            first = np.concatenate(([True], np.any(pairs[1:] != pairs[:-1], axis=1)))
            self.pairs, self.verify = pairs[first], verify[first]
        ends = self.pairs.reshape(-1)
        self._order = np.argsort(ends, kind="stable")
        self._ends = ends[self._order]

    def __len__(self) -> int:
        return len(self.pairs)

    def pairs_of(self, uids: np.ndarray) -> list[np.ndarray]:
        """For each uid, the indices of the pairs it belongs to."""
        lo = np.searchsorted(self._ends, uids, side="left")
        hi = np.searchsorted(self._ends, uids, side="right")
        return [self._order[a:b] // 2 for a, b in zip(lo, hi, strict=True)]


class CandidateInfoFn(beam.DoFn):
    """Chunk (or index file) -> (shard, [(pair key, info), ...]) for the pairs its documents are in.

    pair key = (uid_a, uid_b, needs verification); info = (id, old, exact hash, signature,
    shingle hashes or None), recomputed here for the candidate documents only. One element
    per (chunk, shard) instead of one per (pair, side): grouping by shard puts both sides
    of every pair together at a fraction of Beam's per-element cost.
    """

    def __init__(self, config: DedupConfig, with_old: bool):
        self.config = config
        # signatures are needed only to compare with earlier runs' documents (which have no
        # shingles here) or when verification uses them; otherwise skip computing them
        self.need_signatures = with_old or config.verify != "exact"

    def setup(self) -> None:
        self._source: Any = None
        self._table = PairTable([])
        self.pool = ChunkPool(self.config.threads)

    def teardown(self) -> None:
        self.pool.close()

    def process(self, element: tuple, parts: list[tuple[np.ndarray, bool]]) -> Iterator[tuple]:
        if parts is not self._source:
            self._source, self._table = parts, PairTable(parts)
        table = self._table
        if not len(table):
            return
        if is_index_element(element):
            for batch in index.read_batches(element[0], self.config):
                items: list[tuple] = []
                for j, idx in enumerate(table.pairs_of(batch["uid"] ^ OLD_SALT)):
                    if len(idx):
                        info = (batch["id"][j], True, int(batch["exact"][j]), batch["sig"][j], None)
                        items += _pair_items(table, idx, info)
                yield from _by_shard(items, self.config.shuffle_shards)
            return
        for outputs in self.pool.submit(self._candidates, element[1], table):
            yield from outputs

    def finish_bundle(self) -> Iterator[Any]:
        yield from self.pool.drain()

    def _candidates(self, packed: bytes | list[Doc], table: PairTable) -> list[tuple]:
        docs = unpack(packed)
        uids = np.fromiter((doc_uid(d["id"]) for d in docs), np.uint64, len(docs))
        members = table.pairs_of(uids)
        hit = [i for i, idx in enumerate(members) if len(idx)]
        if not hit:
            return []
        rec = chunk_records([docs[i] for i in hit], self.config, with_signatures=self.need_signatures)
        sig = rec.get("sig")
        items: list[tuple] = []
        for j, i in enumerate(hit):
            info = (
                docs[i]["id"],
                False,
                int(rec["exact"][j]),
                sig[j] if sig is not None else None,
                rec["shingles"].of(j),
            )
            items += _pair_items(table, members[i], info)
        return _by_shard(items, self.config.shuffle_shards)


def _pair_items(table: PairTable, idx: np.ndarray, info: tuple) -> list[tuple]:
    pairs, verify = table.pairs[idx].tolist(), table.verify[idx].tolist()
    return [((a, b, v), info) for (a, b), v in zip(pairs, verify, strict=True)]


def _by_shard(items: list[tuple], shards: int) -> list[tuple[int, list[tuple]]]:
    """Group (pair key, info) items by a hash shard of the pair (uids are hashes already)."""
    out: dict[int, list[tuple]] = {}
    for item in items:
        out.setdefault(item[0][0] % shards, []).append(item)
    return sorted(out.items())


def similar(a: tuple, b: tuple, cfg: DedupConfig) -> bool:
    """Is a verified edge: exact Jaccard of the shingle sets, or the signature estimate."""
    if cfg.verify == "none":
        return True
    if cfg.verify == "exact" and a[4] is not None and b[4] is not None:
        return lsh.jaccard(a[4], b[4]) >= cfg.threshold
    return estimated_jaccard(a[3], b[3]) >= cfg.signature_min_jaccard


def check_pairs(item_lists: Iterable[list[tuple]], cfg: DedupConfig) -> tuple[list[tuple], Counter]:
    """Both sides of each pair -> verified edges (id_a, id_b, exact_a, exact_b, old_a, old_b) and counts.

    A pair with one side missing (e.g. dropped earlier as too short) gives no edge.
    """
    sides: dict[tuple, list[tuple]] = {}
    for items in item_lists:
        for key, info in items:
            sides.setdefault(key, []).append(info)
    edges: list[tuple] = []
    counts: Counter = Counter()
    for (_, _, verify), infos in sorted(sides.items(), key=lambda kv: kv[0]):
        if len(infos) != 2:
            continue
        a, b = sorted(infos, key=lambda i: i[0])
        if not verify:
            counts["dedup_pairs/exact"] += 1
        else:
            counts["dedup_pairs/candidates"] += 1
            if not similar(a, b, cfg):
                continue
            counts["dedup_pairs/verified"] += 1
        edges.append((a[0], b[0], a[2], b[2], a[1], b[1]))
    return edges, counts


class CheckPairsFn(beam.DoFn):
    """One shard of pair sides -> a list of verified edges (one element) and its counts."""

    def __init__(self, config: DedupConfig):
        self.config = config

    def process(self, kv: tuple[int, Iterable[list[tuple]]]) -> Iterator[Any]:
        edges, counts = check_pairs(kv[1], self.config)
        if counts:
            yield pvalue.TaggedOutput(COUNTS, dict(counts))
        if edges:
            yield edges


class FilterFn(beam.DoFn):
    """Drop the duplicates (each pointing at its representative) from the chunks.

    With ``config.boilerplate`` the survivors leave packed (the runner holds them until the
    frequent lines are known, and bytes are cheaper to hold than dicts), and their
    boilerplate line batches are emitted here, tagged ``LINE_BATCHES``, while the chunk is
    unpacked anyway.
    """

    def __init__(self, stage: str, config: DedupConfig | None = None):
        self.stage = stage
        self.config = config or DedupConfig(boilerplate=False)

    def process(self, chunk: tuple[str, list[Doc]], removed: dict[str, tuple[str, str]]) -> Iterator[Any]:
        if is_index_element(chunk):
            return
        key, docs = chunk[0], unpack(chunk[1])
        kept: list[Doc] = []
        counts: Counter = Counter()
        for doc in docs:
            hit = removed.get(doc["id"])
            if hit is None:
                kept.append(doc)
                continue
            rep, kind = hit
            counts[f"duplicates/{kind}"] += 1
            counts[f"bytes_dedup_dropped/duplicate_{kind}"] += utf8_len(doc["text"])
            yield pvalue.TaggedOutput(
                DROPPED, dropped_record(self.stage, doc, f"duplicate_{kind}", duplicate_of=rep)
            )
        bump(self.stage, counts)
        if counts:
            yield pvalue.TaggedOutput(COUNTS, dict(counts))
        if not kept:
            return
        cfg = self.config
        if not cfg.boilerplate:
            yield key, kept
            return
        for batch in chunk_line_batches(kept, cfg.boilerplate_min_chars, cfg.shuffle_shards):
            yield pvalue.TaggedOutput(LINE_BATCHES, batch)
        yield key, chunk[1] if len(kept) == len(docs) and isinstance(chunk[1], bytes) else pack(kept)


class UnionFind(beam.CombineFn):
    """All verified edges -> removal map (one combiner: decisions need every edge of a cluster)."""

    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, edges: list[tuple]) -> list:
        acc.extend(edges)
        return acc

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        return [e for acc in accs for e in acc]

    def extract_output(self, edges: list) -> dict[str, tuple[str, str]]:
        return removals_from_edges(edges)


def removals_from_edges(edges: list[tuple]) -> dict[str, tuple[str, str]]:
    """Edges (id_a, id_b, exact_a, exact_b, old_a, old_b) -> {removed id: (representative, kind)}."""
    named = [
        (OLD_PREFIX + a if oa else a, OLD_PREFIX + b if ob else b, ea, eb) for a, b, ea, eb, oa, ob in edges
    ]
    old = {n for e in named for n in e[:2] if n.startswith(OLD_PREFIX)}
    exact = {e[0]: e[2] for e in named} | {e[1]: e[3] for e in named}
    out = components.removals(((e[0], e[1]) for e in named), old, exact)
    return {doc: (rep.removeprefix(OLD_PREFIX), kind) for doc, (rep, kind) in out.items()}


def cluster_sizes(removed: dict[str, tuple[str, str]]) -> dict[str, int]:
    sizes = Counter(Counter(rep for rep, _ in removed.values()).values())
    return {f"dedup_clusters/size_{n + 1}": c for n, c in sorted(sizes.items())}


class DeduplicateDocuments(beam.PTransform):
    """Chunks -> ``StageOutputs`` without duplicates; counts ``duplicates/*`` and boilerplate.

    ``index_inputs``: globs or directories of index files of earlier runs (documents are
    deduplicated against them; those documents always stay). ``index_output``: a new
    directory for this run's index (its *kept* documents only), written by this transform
    with deterministic file names, each file atomically; give a fresh, versioned directory
    so that earlier indexes stay untouched and a reader only trusts it once the run has
    committed. ``report_dir``: where ``dedup_boilerplate.json`` (most frequent removed
    lines) goes. ``index_dir`` is accepted as a shorthand for ``index_inputs=[index_dir]``.
    """

    def __init__(
        self,
        config: DedupConfig | None = None,
        index_inputs: list[str] | None = None,
        index_output: str | None = None,
        report_dir: str | None = None,
        stage: str = "dedup",
        index_dir: str | None = None,
    ):
        super().__init__()
        self.config = config or DedupConfig()
        self.index_inputs = list(index_inputs or []) + ([index_dir] if index_dir else [])
        self.index_output = index_output
        self.report_dir = report_dir
        self.stage = stage

    def expand(self, chunks: beam.PCollection) -> StageOutputs:
        cfg, p, stage = self.config, chunks.pipeline, self.stage
        # Earlier runs' index files join the chunks as (path, None) elements before any
        # step (see the module docstring: no Flatten further down).
        index_files = index.expand(self.index_inputs)
        if self.index_output:  # never read what this run writes (e.g. leftovers of a failed try)
            out_prefix = _abs(self.index_output).rstrip("/") + "/"
            index_files = [f for f in index_files if not _abs(f).startswith(out_prefix)]
        if index_files:
            chunks = (
                chunks,
                p | "IndexFiles" >> beam.Create([(path, None) for path in index_files]),
            ) | "WithIndex" >> beam.Flatten()
        packed = chunks | "Pack" >> beam.ParDo(PackFn(cfg)).with_outputs(ID_BATCHES, main="packed")
        # Every document id unique, earlier runs' ids included, before anything keys by id:
        # dedup tells documents apart by id (see pipelines/io/ids.py). Only packed chunks
        # wait for the rename table.
        table = packed[ID_BATCHES] | "IdTable" >> RenameTable()
        chunks, id_counts = apply_renames(packed["packed"], table, packed=True)
        counts_parts: list[beam.PCollection] = [id_counts]
        dropped_parts: list[beam.PCollection] = []

        # 1. documents as they arrived: exact and fuzzy duplicates (boilerplate lines come
        # after, on the survivors: removing shared lines first would mutilate all but one
        # member of every near-duplicate cluster, and the mutilated copies would survive).
        # Signatures -> key batches (new documents and earlier runs' index) -> candidate pairs
        if cfg.exact or cfg.fuzzy:
            signed = chunks | "Signatures" >> beam.ParDo(
                SignFn(cfg, stage, self.index_output is not None)
            ).with_outputs(INDEX, main="keys")
            collapse = cfg.exact
            pairs = (
                signed["keys"]
                | "GroupKeys" >> beam.GroupByKey()
                | "Pairs" >> beam.Map(lambda kv: shard_pairs(kv, collapse))
            )
            # verification: candidate documents' info grouped by pair (ids/hashes only)
            checked = (
                chunks
                | "CandidateInfo" >> beam.ParDo(CandidateInfoFn(cfg, bool(index_files)), pvalue.AsList(pairs))
                | "GroupPairs" >> beam.GroupByKey()
                | "CheckPairs" >> beam.ParDo(CheckPairsFn(cfg)).with_outputs(COUNTS, main="edges")
            )
            counts_parts.append(checked[COUNTS])
            removed_map = checked["edges"] | "UnionFind" >> beam.CombineGlobally(UnionFind())
        else:
            removed_map = p | "NoRemovals" >> beam.Create([{}])
        removed = pvalue.AsSingleton(removed_map)

        # 2. apply
        out = chunks | "Filter" >> beam.ParDo(FilterFn(stage, cfg), removed).with_outputs(
            COUNTS, DROPPED, LINE_BATCHES, main=DOCS
        )
        survivors = out[DOCS]
        counts_parts += [out[COUNTS], removed_map | "ClusterSizes" >> beam.Map(cluster_sizes)]
        dropped_parts.append(out[DROPPED])

        # 3. boilerplate lines, on the surviving documents
        if cfg.boilerplate:
            frequent = (
                out[LINE_BATCHES]
                | "GroupLines" >> beam.GroupByKey()
                | "FrequentLines"
                >> beam.Map(lambda kv: frequent_lines(list(kv[1]), cfg.boilerplate_min_docs))
            )
            bp = survivors | "Boilerplate" >> beam.ParDo(
                BoilerplateFn(cfg, stage), pvalue.AsList(frequent)
            ).with_outputs(COUNTS, DROPPED, LINES, main=DOCS)
            survivors = bp[DOCS]
            counts_parts.append(bp[COUNTS])
            dropped_parts.append(bp[DROPPED])
            if self.report_dir:
                _ = (
                    bp[LINES]
                    | "TopLines" >> beam.combiners.Top.Of(100)
                    | "WriteTopLines"
                    >> beam.Map(_write_top_lines, storage.join(self.report_dir, "dedup_boilerplate.json"))
                )
        counts = tuple(counts_parts) | "DedupCounts" >> beam.Flatten()
        dropped = tuple(dropped_parts) | "DedupDropped" >> beam.Flatten()

        if self.index_output is not None and (cfg.exact or cfg.fuzzy):
            _ = signed[INDEX] | "WriteIndex" >> WriteIndex(self.index_output, cfg, removed)
        quarantine = p | "NoQuarantine" >> beam.Create([])
        return StageOutputs(survivors, counts, dropped, quarantine)


class WriteIndex(beam.PTransform):
    """Index rows of kept documents -> ``DIR/index-0000i-of-0000N.parquet`` (rows sorted by id)."""

    def __init__(self, directory: str, cfg: DedupConfig, removed: pvalue.AsSingleton):
        super().__init__()
        self.directory = directory
        self.cfg = cfg
        self.removed = removed

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        n, cfg, directory = self.cfg.index_files, self.cfg, self.directory
        bands_rows = optimal_bands(
            cfg.threshold, cfg.num_perm, cfg.false_positive_weight, cfg.false_negative_weight
        )

        def split(row: dict, removed: dict) -> Iterator[tuple[int, dict]]:
            keep = np.array([i not in removed for i in row["id"]], bool)
            bucket = row["uid"] % np.uint64(n)
            for b in np.unique(bucket[keep]):
                sel = np.flatnonzero(keep & (bucket == b))
                yield (
                    int(b),
                    {
                        "id": [row["id"][i] for i in sel],
                        **{k: row[k][sel] for k in ("uid", "exact", "sig")},
                    },
                )

        def write(item: tuple[int, Iterable[dict]]) -> str:
            shard, parts = item
            parts = list(parts)
            batch = {"id": [i for part in parts for i in part["id"]]}
            for k in ("uid", "exact", "sig"):
                batch[k] = np.concatenate([part[k] for part in parts])
            # band keys follow from the signatures: recomputed here rather than carried
            # through two of the runner's buffers (136 bytes per document)
            batch["bands"] = band_keys(batch["sig"], *bands_rows)
            path = storage.join(directory, f"index-{shard:05d}-of-{n:05d}.parquet")
            storage.atomic_write_bytes(path, index.to_parquet_bytes(batch, cfg))
            return path

        return (
            rows
            | "KeptRows" >> beam.FlatMap(split, self.removed)
            | "GroupIndex" >> beam.GroupByKey()
            | "WriteIndexFiles" >> beam.Map(write)
        )


def _abs(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def _write_top_lines(top: list[tuple[int, str]], path: str) -> None:
    lines = [{"line": line, "documents": n} for n, line in sorted(top, key=lambda t: (-t[0], t[1]))]
    storage.atomic_write_text(path, json.dumps(lines, ensure_ascii=False, indent=1) + "\n")

"""``DeduplicateDocuments``: boilerplate lines, exact and MinHash-LSH fuzzy duplicates in Beam.

Data flow (only hashes, ids and signatures are shuffled; chunks of text never are):

    chunks -> line hashes -> CombinePerKey(count, min id) -> boilerplate keepers  (small side input)
    chunks + keepers -> per-doc records {id, exact hash, signature}          (vectorised per chunk)
           (+ records of earlier runs, read from the persisted index)
    records -> GroupBy(exact hash)       -> exact edges
    records -> GroupBy((band, bucket))   -> candidate edges -> verify with both signatures
    edges -> one union-find (CombineGlobally) -> removed id -> (representative, kind)
    chunks + keepers + removals (side inputs) -> surviving chunks, counts, dropped records

The removal map is a side input: it holds one entry per *removed* document (about 100
bytes each), never the LSH index. The union-find runs in one combiner over the edges
only, which holds up to tens of millions of duplicate edges per worker.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from pipelines import fsutil
from pipelines.accounting import COUNTS, DOCS, DROPPED, StageOutputs, bump, dropped_record
from pipelines.dedup import components, index
from pipelines.dedup.boilerplate import LineStats, line_hashes, remove_boilerplate
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.minhash import estimated_jaccard, optimal_bands, signatures
from pipelines.dedup.shingles import is_cjk, normalize_for_hash, shingle_hashes
from pipelines.hashing import stable_hash64
from pipelines.progress import RateLogger

Doc = dict[str, Any]


def doc_records(docs: list[Doc], cfg: DedupConfig) -> list[dict]:
    """Per-doc dedup records (id, exact hash, signature) for a chunk, signatures in one batch."""
    kept, shingles = [], []
    for doc in docs:
        text = doc["text"]
        cjk = is_cjk(text, doc.get("lang"))
        norm = normalize_for_hash(text, cjk)
        kept.append({"id": doc["id"], "exact": stable_hash64(norm), "old": False})
        shingles.append(shingle_hashes(norm, cfg.char_ngram if cjk else cfg.word_ngram, cjk))
    if cfg.fuzzy and kept:
        sigs = signatures(shingles, cfg.num_perm, cfg.seed)
        for rec, sig in zip(kept, sigs, strict=True):
            rec["sig"] = sig
    return kept


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[tuple[int, int]]:
    return [(b, stable_hash64(sig[b * rows : (b + 1) * rows].tobytes())) for b in range(bands)]


def star_edges(members: Iterable[tuple[bool, str, int]]) -> list[tuple]:
    """Edges from the group's first member (old docs first, then smallest id) to every other."""
    ordered = sorted(set(members), key=lambda m: (not m[0], m[1]))
    (old0, id0, h0), rest = ordered[0], ordered[1:]
    return [(id0, m[1], h0, m[2], old0, m[0]) for m in rest]


class BoilerplateFn(beam.DoFn):
    """Remove boilerplate lines (all but the keeper's copy); drop documents left too short."""

    def __init__(self, config: DedupConfig, stage: str):
        self.config = config
        self.stage = stage

    def process(self, chunk: tuple[str, list[Doc]], keepers: dict[int, str]) -> Iterator[Any]:
        key, docs = chunk
        kept: list[Doc] = []
        counts: Counter = Counter()
        for doc in docs:
            text, n_lines = remove_boilerplate(
                doc["text"], doc["id"], keepers, self.config.boilerplate_min_chars
            )
            if len(text) < self.config.min_chars_after_boilerplate:
                counts["dropped/too_short_after_boilerplate"] += 1
                yield pvalue.TaggedOutput(
                    DROPPED, dropped_record(self.stage, doc, "too_short_after_boilerplate")
                )
                continue
            if n_lines:
                counts["boilerplate/lines_removed"] += n_lines
                counts["boilerplate/documents_changed"] += 1
            kept.append({**doc, "text": text} if n_lines else doc)
        bump(self.stage, counts)
        if counts:
            yield pvalue.TaggedOutput(COUNTS, dict(counts))
        if kept:
            yield key, kept


class SignatureFn(beam.DoFn):
    def __init__(self, config: DedupConfig, stage: str):
        self.config = config
        self.stage = stage

    def setup(self) -> None:
        self.progress = RateLogger(f"{self.stage}: signatures")

    def process(self, chunk: tuple[str, list[Doc]]) -> Iterator[dict]:
        records = doc_records(chunk[1], self.config)
        self.progress.update(len(chunk[1]), sum(len(d["text"]) for d in chunk[1]))
        yield from records


class FilterFn(beam.DoFn):
    """Drop the duplicates (each pointing at its representative) from the chunks."""

    def __init__(self, stage: str):
        self.stage = stage

    def process(self, chunk: tuple[str, list[Doc]], removed: dict[str, tuple[str, str]]) -> Iterator[Any]:
        key, docs = chunk
        kept: list[Doc] = []
        counts: Counter = Counter()
        for doc in docs:
            hit = removed.get(doc["id"])
            if hit is None:
                kept.append(doc)
                continue
            rep, kind = hit
            counts[f"duplicates/{kind}"] += 1
            yield pvalue.TaggedOutput(
                DROPPED, dropped_record(self.stage, doc, f"duplicate_{kind}", duplicate_of=rep)
            )
        bump(self.stage, counts)
        if counts:
            yield pvalue.TaggedOutput(COUNTS, dict(counts))
        if kept:
            yield key, kept


class UnionFind(beam.CombineFn):
    """All edges -> removal map (one combiner: edges are small, decisions need all of them)."""

    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, edge: tuple) -> list:
        acc.append(edge)
        return acc

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        return [e for acc in accs for e in acc]

    def extract_output(self, edges: list) -> dict[str, tuple[str, str]]:
        old = {e[0] for e in edges if e[4]} | {e[1] for e in edges if e[5]}
        exact = {e[0]: e[2] for e in edges} | {e[1]: e[3] for e in edges}
        return components.removals(((e[0], e[1]) for e in edges), old, exact)


def cluster_sizes(removed: dict[str, tuple[str, str]]) -> dict[str, int]:
    sizes = Counter(Counter(rep for rep, _ in removed.values()).values())
    return {f"dedup_clusters/size_{n + 1}": c for n, c in sorted(sizes.items())}


class DeduplicateDocuments(beam.PTransform):
    """Chunks -> ``StageOutputs`` without duplicates; counts ``duplicates/*`` and boilerplate.

    ``index_inputs``: globs of index files from earlier runs (deduplicate against them);
    ``index_output``: directory for this run's index files (kept documents only);
    ``report_dir``: where ``dedup_boilerplate.json`` (most frequent removed lines) goes.
    """

    def __init__(
        self,
        config: DedupConfig | None = None,
        index_inputs: list[str] | None = None,
        index_output: str | None = None,
        report_dir: str | None = None,
        stage: str = "dedup",
    ):
        super().__init__()
        self.config = config or DedupConfig()
        self.index_inputs = list(index_inputs or [])
        self.index_output = index_output
        self.report_dir = report_dir
        self.stage = stage

    def expand(self, chunks: beam.PCollection) -> StageOutputs:
        cfg, p = self.config, chunks.pipeline
        bands, rows = optimal_bands(
            cfg.threshold, cfg.num_perm, cfg.false_positive_weight, cfg.false_negative_weight
        )

        # 1. boilerplate lines
        if cfg.boilerplate:
            min_chars, min_docs = cfg.boilerplate_min_chars, cfg.boilerplate_min_docs
            line_stats = (
                chunks
                | "LineHashes"
                >> beam.FlatMap(
                    lambda c: (
                        (h, (1, d["id"], ln)) for d in c[1] for h, ln in line_hashes(d["text"], min_chars)
                    )
                )
                | "CountLines" >> beam.CombinePerKey(lambda vs: _merge_all(vs))
                | "Frequent" >> beam.Filter(lambda kv: kv[1][0] >= min_docs)
            )
            keepers = pvalue.AsDict(line_stats | "Keepers" >> beam.Map(lambda kv: (kv[0], kv[1][1])))
            if self.report_dir:
                _ = (
                    line_stats
                    | "TopLines" >> beam.combiners.Top.Of(100, key=lambda kv: (kv[1][0], kv[1][2]))
                    | "WriteTopLines"
                    >> beam.Map(_write_top_lines, fsutil.join(self.report_dir, "dedup_boilerplate.json"))
                )
        else:
            keepers = pvalue.AsDict(p | "NoKeepers" >> beam.Create([]))

        # 2. boilerplate out, then per-doc records (new docs) + earlier runs' records (index)
        bp = chunks | "Boilerplate" >> beam.ParDo(BoilerplateFn(cfg, self.stage), keepers).with_outputs(
            COUNTS, DROPPED, main=DOCS
        )
        chunks = bp[DOCS]
        new_records = chunks | "Signatures" >> beam.ParDo(SignatureFn(cfg, self.stage))
        old_records = (
            p
            | "IndexFiles" >> beam.Create(index.expand(self.index_inputs))
            | "ReadIndex" >> beam.FlatMap(index.read_records, cfg)
        )
        records = (new_records, old_records) | "AllRecords" >> beam.Flatten()

        # 3. edges
        edge_sets = []
        if cfg.exact:
            edge_sets.append(
                records
                | "ByExact" >> beam.Map(lambda r: (r["exact"], (r["old"], r["id"], r["exact"])))
                | "GroupExact" >> beam.GroupByKey()
                | "ExactEdges" >> beam.FlatMap(lambda kv: star_edges(kv[1]))
            )
        if cfg.fuzzy:
            candidates = (
                records
                | "Bands"
                >> beam.FlatMap(
                    lambda r: (
                        (bk, (r["old"], r["id"], r["exact"])) for bk in band_keys(r["sig"], bands, rows)
                    )
                )
                | "GroupBands" >> beam.GroupByKey()
                | "BandEdges" >> beam.FlatMap(lambda kv: star_edges(kv[1]))
                | "DistinctEdges" >> beam.Distinct()
            )
            if cfg.verify:
                candidates = _verify(records, candidates, cfg.verify_min_jaccard)
            edge_sets.append(candidates)
        edges = (
            tuple(edge_sets) | "AllEdges" >> beam.Flatten() if edge_sets else p | "NoEdges" >> beam.Create([])
        )
        removed_map = edges | "UnionFind" >> beam.CombineGlobally(UnionFind())
        removed = pvalue.AsSingleton(removed_map)

        # 4. apply
        out = chunks | "Filter" >> beam.ParDo(FilterFn(self.stage), removed).with_outputs(
            COUNTS, DROPPED, main=DOCS
        )
        cluster_counts = removed_map | "ClusterSizes" >> beam.Map(cluster_sizes)
        counts = (bp[COUNTS], out[COUNTS], cluster_counts) | "DedupCounts" >> beam.Flatten()
        dropped = (bp[DROPPED], out[DROPPED]) | "DedupDropped" >> beam.Flatten()

        if self.index_output:
            kept_records = new_records | "KeptForIndex" >> beam.Filter(
                lambda r, rm: r["id"] not in rm, removed
            )
            _ = kept_records | "WriteIndex" >> index.WriteIndex(self.index_output, cfg)
        quarantine = p | "NoQuarantine" >> beam.Create([])
        return StageOutputs(out[DOCS], counts, dropped, quarantine)


def _merge_all(values: Iterable[tuple[int, str, str]]) -> tuple[int, str, str]:
    acc = None
    for v in values:
        acc = v if acc is None else LineStats.merge(acc, v)
    return acc


def _write_top_lines(top: list, path: str) -> None:
    lines = [{"line": v[2], "documents": v[0]} for _, v in sorted(top, key=lambda kv: (-kv[1][0], kv[1][2]))]
    fsutil.atomic_write_text(path, json.dumps(lines, ensure_ascii=False, indent=1) + "\n")


def _verify(records: beam.PCollection, edges: beam.PCollection, min_jaccard: float) -> beam.PCollection:
    """Keep candidate edges whose signatures agree on at least ``min_jaccard`` of the permutations."""
    sigs = records | "SigById" >> beam.Map(lambda r: (r["id"], r["sig"]))
    with_a = (
        {"sig": sigs, "edge": edges | "EdgeByA" >> beam.Map(lambda e: (e[0], e))}
        | "JoinA" >> beam.CoGroupByKey()
        | "AttachA"
        >> beam.FlatMap(lambda kv: ((e[1], (e, s)) for s in list(kv[1]["sig"])[:1] for e in kv[1]["edge"]))
    )
    return (
        {"sig": sigs, "pending": with_a}
        | "JoinB" >> beam.CoGroupByKey()
        | "Check"
        >> beam.FlatMap(
            lambda kv: (
                e
                for s in list(kv[1]["sig"])[:1]
                for e, sa in kv[1]["pending"]
                if estimated_jaccard(sa, s) >= min_jaccard
            )
        )
    )

"""``DeduplicateDocuments``: exact and MinHash-LSH fuzzy duplicates, then boilerplate lines, in Beam.

Data flow. Chunks of text never go through a shuffle; only hashes, 64-bit document uids
(``xxh3(id)``) and, for candidate documents only, their shingle sets/signatures do. Each
step's job lives in its own module; this one wires them:

    chunks + reference n-grams (side input) -> chunks without the documents that share a
           long n-gram with a task's evaluation texts (``decontaminate``, with
           ``dedup.decontaminate`` only)
    chunks -> packed chunks + id hashes -> unique ids (``packing``, ``pipelines.io.ids``)
    chunks -> exact-hash and band-key rows per shard (``signing``); earlier runs' index
           files -> the same rows for their documents, marked old
    rows -> GBK(ShardKey) -> candidate pairs (``candidates.shard_pairs``)
    chunks + pairs (side input) -> both sides of each pair for the candidate documents
           (index files likewise) -> GBK(pair shard) -> verified edges (``verify``)
    edges -> union-find (one CombineGlobally) -> removal map (``clusters``)
    chunks + removals (side input) -> survivors, counts, dropped records, line rows (``filter``)
    survivors + frequent lines (side input) -> boilerplate removed (``lines``)
    index rows of the survivors -> ``dedup_index/`` (``index_writer``)

Duplicates are decided on the documents as they arrived; boilerplate lines are removed
afterwards, from the survivors only (see ``lines``).

Earlier runs' index files are their own PCollection: their rows join the new documents'
rows before the two shuffles (key rows, pair sides) and their ids join the id table.
Why side inputs for the decisions rather than joining them to the chunks: a join keyed by
chunk would move every chunk (all the text) through one more shuffle; the side inputs hold
only the frequent lines, the candidate uid pairs (16 bytes each) and the removed ids
(~100 bytes per removed document), never the LSH index. Beam's FnApiRunner keeps every
stage's output in memory until the next stage reads it, so chunks travel packed.

Scale limits: the union-find runs in one combiner over the verified edges (one per
duplicate document, about 100 bytes): tens of millions of duplicates per worker; the
candidate-pair side input holds 16 bytes per pair on every worker.
"""

from __future__ import annotations

import os

import apache_beam as beam
from apache_beam import pvalue

from pipelines.dedup import index
from pipelines.dedup.candidates import CandidateInfoFn, OldCandidateInfoFn, shard_pairs
from pipelines.dedup.clusters import UnionFind, cluster_sizes
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.decontaminate import Decontaminate
from pipelines.dedup.filter import LINE_BATCHES, FilterFn
from pipelines.dedup.index_writer import WriteIndex
from pipelines.dedup.lines import remove_boilerplate_lines
from pipelines.dedup.packing import ID_BATCHES, PackFn
from pipelines.dedup.signing import INDEX, SignFn, old_key_rows
from pipelines.dedup.verify import CheckPairsFn
from pipelines.io.ids import RenameTable, apply_renames, reserved_id_batches
from pipelines.stage.accounting import DOCS, DROPPED, StageOutputs
from pipelines.stage.counting import COUNTS


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
        index_files = earlier_index_files(self.index_inputs, self.index_output)
        old = p | "IndexFiles" >> beam.Create(index_files) if index_files else None

        # 0. documents sharing a long n-gram with a task's evaluation texts leave first
        decontaminated = None
        if cfg.decontaminate:
            decontaminated = chunks | "Decontaminate" >> Decontaminate(cfg, stage, self.report_dir)
            chunks = decontaminated.docs

        packed = chunks | "Pack" >> beam.ParDo(PackFn(cfg)).with_outputs(ID_BATCHES, main="packed")
        # Every document id unique, earlier runs' ids included, before anything keys by id:
        # dedup tells documents apart by id (see pipelines/io/ids.py). Only packed chunks
        # wait for the rename table.
        id_batches = packed[ID_BATCHES]
        if old is not None:  # earlier runs' ids are theirs to keep
            reserved = old | "ReservedIds" >> beam.FlatMap(reserved_id_batches)
            id_batches = (id_batches, reserved) | "WithReservedIds" >> beam.Flatten()
        table = id_batches | "IdTable" >> RenameTable()
        chunks, id_counts = apply_renames(packed["packed"], table, packed=True)
        counts_parts: list[beam.PCollection] = [id_counts]
        dropped_parts: list[beam.PCollection] = []
        if decontaminated is not None:
            counts_parts.append(decontaminated.counts)
            dropped_parts.append(decontaminated.dropped)

        # 1. duplicates, on the documents as they arrived
        if cfg.exact or cfg.fuzzy:
            signed = chunks | "Signatures" >> beam.ParDo(
                SignFn(cfg, stage, self.index_output is not None)
            ).with_outputs(INDEX, main="keys")
            keys = signed["keys"]
            if old is not None:
                old_keys = old | "IndexKeys" >> beam.FlatMap(old_key_rows, cfg)
                keys = (keys, old_keys) | "WithIndexKeys" >> beam.Flatten()
            collapse = cfg.exact
            pairs = pvalue.AsList(
                keys
                | "GroupKeys" >> beam.GroupByKey()
                | "Pairs" >> beam.Map(lambda kv: shard_pairs(kv, collapse))
            )
            sides = chunks | "CandidateInfo" >> beam.ParDo(CandidateInfoFn(cfg, old is not None), pairs)
            if old is not None:
                old_sides = old | "IndexCandidateInfo" >> beam.ParDo(OldCandidateInfoFn(cfg), pairs)
                # FnApiRunner stalls on a Flatten of two side-input ParDos' outputs: the new
                # documents' sides cross a Reshuffle first (a fusion break; they are a fraction)
                sides = sides | "CandidateInfoBreak" >> beam.Reshuffle()
                sides = (sides, old_sides) | "WithIndexCandidates" >> beam.Flatten()
            checked = (
                sides
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
            bp = remove_boilerplate_lines(survivors, out[LINE_BATCHES], cfg, stage, self.report_dir)
            survivors = bp[DOCS]
            counts_parts.append(bp[COUNTS])
            dropped_parts.append(bp[DROPPED])
        counts = tuple(counts_parts) | "DedupCounts" >> beam.Flatten()
        dropped = tuple(dropped_parts) | "DedupDropped" >> beam.Flatten()

        if self.index_output is not None and (cfg.exact or cfg.fuzzy):
            _ = signed[INDEX] | "WriteIndex" >> WriteIndex(self.index_output, cfg, removed)
        quarantine = p | "NoQuarantine" >> beam.Create([])
        return StageOutputs(survivors, counts, dropped, quarantine)


def earlier_index_files(patterns: list[str], index_output: str | None) -> list[str]:
    """The index files to deduplicate against, never those under this run's own output
    (e.g. leftovers of a failed try)."""
    files = index.expand(patterns)
    if not index_output:
        return files
    out_prefix = _abs(index_output).rstrip("/") + "/"
    return [f for f in files if not _abs(f).startswith(out_prefix)]


def _abs(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)

"""Beam wiring of ``prepare_task``: examples, duplicates, splits, shards, stats, manifest.

Classification:

    chunks ─► ExamplesFn (normalise, check label/split, tokenize) ─► (text key, example)
      ─► GroupByKey ─► ResolveFn (kept / duplicates/exact / dropped/label_conflict) ─► (label, example)
      ─► GroupByKey ─► AssignFn (given split, or stratified by label) ─► (split, example)
      ─► WriteBucketed (shard plan side input: shards per split, dtype, labels) ─► shards/*.arrow

Pairs:

    chunks ─► PairsFn (normalise both sides, check split, tokenize both) ─► (source key, pair)
      ─► GroupByKey ─► ResolvePairsFn (kept with the source's split / duplicates/exact /
         dropped/split_conflict) ─► (split, pair)
      ─► WriteBucketed (shard plan: shards per split, dtype) ─► shards/*.arrow with a target column

Both: counts ─► stats.json ─► tokenizer.json (the pretraining copy) ─► manifest.json (last).
The logic lives in ``examples``/``splits`` and ``pairs``/``pair_splits``, and ``shards``; the
DoFns count and route.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from lmcore import storage
from pipelines.stage.accounting import (
    DOCS,
    DROPPED,
    QUARANTINE,
    StageOutputs,
    dropped_record,
    quarantine_record,
)
from pipelines.stage.bucketed import WriteBucketed
from pipelines.stage.counting import COUNTS, emit_counts
from pipelines.stage.outputs import WriteAccounting
from pipelines.stage.progress import RateLogger
from pipelines.task import examples as ex
from pipelines.task import pair_splits, pairs, shards, splits
from pipelines.task.config import TaskPipelineConfig
from pipelines.task.tokenizer import TokenizerSource
from pipelines.tokenize import bpe, encode
from pipelines.tokenize.dataset import build_manifest, code_version
from schemas import SPLITS, TaskInfo, token_dtype_for_vocab

log = logging.getLogger("lmforge.prepare_task")
STAGE = "prepare_task"
CONFLICT_TEXTS = "label_conflicts/texts"  # an annotation in stats.json: texts seen with several labels
SEVERAL_TARGETS = "pairs/sources_with_several_targets"  # annotation: sources kept with 2+ distinct targets
SPLIT_CONFLICT_SOURCES = "split_conflicts/sources"  # annotation: sources the input put in two splits


def _quarantine(doc: dict, reason: str, message: str) -> pvalue.TaggedOutput:
    record = quarantine_record(
        STAGE, doc.get("source") or "", None, reason, f"{doc['id']}: {message}", doc.get("text")
    )
    return pvalue.TaggedOutput(QUARANTINE, record)


class _EncodingFn(beam.DoFn):
    """A DoFn that tokenizes with the pretraining tokenizer, loaded once per worker from its path."""

    def __init__(self, config: TaskPipelineConfig, tokenizer: TokenizerSource):
        self.task = config.task
        self.tokenizer_path = tokenizer.path
        self.eos_id = tokenizer.info.eos_id
        self.dtype = token_dtype_for_vocab(tokenizer.info.vocab_size)

    def setup(self) -> None:
        self.tokenizer = bpe.load_tokenizer(storage.read_text(self.tokenizer_path))
        self.progress = RateLogger(f"{STAGE}: examples")

    def _encode(self, texts: list[str]) -> list[Any]:
        """Token arrays, or the exception for a text the tokenizer refuses (found one by one)."""
        args = (self.eos_id, self.task.max_piece_chars, self.dtype)
        try:
            return encode.encode_texts(self.tokenizer, texts, *args)
        except Exception:
            out: list[Any] = []
            for text in texts:
                try:
                    out.extend(encode.encode_texts(self.tokenizer, [text], *args))
                except Exception as exc:
                    out.append(exc)
            return out


class ExamplesFn(_EncodingFn):
    """(chunk key, docs) -> (text key, Example) per document that can be an example; the rest
    is quarantined with its reason."""

    def setup(self) -> None:
        super().setup()
        self.known = set(self.task.labels) if self.task.labels else None

    def process(self, chunk: tuple[str, list[dict]]) -> Iterator[Any]:
        counts: Counter = Counter()
        docs, candidates = [], []
        for doc in chunk[1]:
            try:
                candidates.append(ex.candidate(doc, self.task, self.known))
                docs.append(doc)
            except ex.Refused as exc:
                counts[f"quarantined/{exc.reason}"] += 1
                yield _quarantine(doc, exc.reason, str(exc))
        for doc, cand, tokens in zip(
            docs, candidates, self._encode([c.text for c in candidates]), strict=True
        ):
            if isinstance(tokens, Exception):
                counts["quarantined/tokenize_error"] += 1
                yield _quarantine(doc, "tokenize_error", f"{type(tokens).__name__}: {tokens}")
                continue
            try:
                example = ex.example(cand, tokens, self.task.max_tokens)
            except ex.Refused as exc:
                counts[f"quarantined/{exc.reason}"] += 1
                yield _quarantine(doc, exc.reason, str(exc))
                continue
            yield example.text_key, example
        self.progress.update(len(chunk[1]), 0)
        yield from emit_counts(STAGE, counts)


class PairsFn(_EncodingFn):
    """(chunk key, docs) -> (source key, Pair) per document that can be a pair (both sides
    tokenized in one batch); the rest is quarantined with its reason."""

    def process(self, chunk: tuple[str, list[dict]]) -> Iterator[Any]:
        counts: Counter = Counter()
        docs, candidates = [], []
        for doc in chunk[1]:
            try:
                candidates.append(pairs.pair_candidate(doc, self.task))
                docs.append(doc)
            except ex.Refused as exc:
                counts[f"quarantined/{exc.reason}"] += 1
                yield _quarantine(doc, exc.reason, str(exc))
        n = len(candidates)
        encoded = self._encode([c.source_text for c in candidates] + [c.target_text for c in candidates])
        for doc, cand, src, tgt in zip(docs, candidates, encoded[:n], encoded[n:], strict=True):
            bad = next((t for t in (src, tgt) if isinstance(t, Exception)), None)
            if bad is not None:
                counts["quarantined/tokenize_error"] += 1
                yield _quarantine(doc, "tokenize_error", f"{type(bad).__name__}: {bad}")
                continue
            try:
                made = pairs.pair(cand, src, tgt, self.task.max_tokens)
            except ex.Refused as exc:
                counts[f"quarantined/{exc.reason}"] += 1
                yield _quarantine(doc, exc.reason, str(exc))
                continue
            yield made.source_key, made
        self.progress.update(len(chunk[1]), 0)
        yield from emit_counts(STAGE, counts)


def _dropped(example: ex.Example, reason: str, **extra: Any) -> pvalue.TaggedOutput:
    doc = {"id": example.doc_id, "text": example.text, "source": example.source, "label": example.label}
    return pvalue.TaggedOutput(DROPPED, dropped_record(STAGE, doc, reason, **extra))


class ResolveFn(beam.DoFn):
    """(text key, examples) -> (label, kept example); duplicates and label conflicts counted."""

    def __init__(self, keep_dropped: bool):
        self.keep_dropped = keep_dropped

    def process(self, item: tuple[str, list[ex.Example]]) -> Iterator[Any]:
        resolved = splits.resolve_duplicates(item[1])
        counts = {}
        if resolved.duplicates:
            counts["duplicates/exact"] = len(resolved.duplicates)
        if resolved.conflicts:
            counts["dropped/label_conflict"] = len(resolved.conflicts)
            counts[CONFLICT_TEXTS] = 1
        yield from emit_counts(STAGE, counts)
        if self.keep_dropped:
            for dup in resolved.duplicates:
                yield _dropped(dup, "exact", duplicate_of=resolved.kept.doc_id)
            for other in resolved.conflicts:
                labels = sorted({e.label for e in resolved.conflicts})
                yield _dropped(other, "label_conflict", conflicting_labels=labels)
        if resolved.kept is not None:
            yield resolved.kept.label, resolved.kept


def _dropped_pair(p: pairs.Pair, reason: str, **extra: Any) -> pvalue.TaggedOutput:
    doc = {"id": p.doc_id, "text": p.source_text, "target": p.target_text, "source": p.source}
    return pvalue.TaggedOutput(DROPPED, dropped_record(STAGE, doc, reason, **extra))


class ResolvePairsFn(beam.DoFn):
    """(source key, pairs) -> (split, kept pair) per distinct target, all in the source's split;
    exact duplicates and split conflicts counted."""

    def __init__(self, keep_dropped: bool, fractions: dict[str, float], seed: int):
        self.keep_dropped = keep_dropped
        self.fractions = fractions
        self.seed = seed

    def process(self, item: tuple[str, list[pairs.Pair]]) -> Iterator[Any]:
        resolved = pair_splits.resolve_source(item[1], self.fractions, self.seed)
        counts = {}
        if resolved.duplicates:
            counts["duplicates/exact"] = len(resolved.duplicates)
        if resolved.conflicts:
            counts["dropped/split_conflict"] = len(resolved.conflicts)
            counts[SPLIT_CONFLICT_SOURCES] = 1
        if len(resolved.kept) > 1:
            counts[SEVERAL_TARGETS] = 1
        yield from emit_counts(STAGE, counts)
        if self.keep_dropped:
            for dup, kept_id in resolved.duplicates:
                yield _dropped_pair(dup, "exact", duplicate_of=kept_id)
            splits_given = sorted({p.split or "" for p in resolved.conflicts})
            for other in resolved.conflicts:
                yield _dropped_pair(other, "split_conflict", conflicting_splits=splits_given)
        yield from resolved.kept


def _plan(num_shards: dict[str, int], labels: list[str], dtype: str) -> shards.ShardPlan:
    return shards.ShardPlan(dict(num_shards), dtype, labels)


def _kept_counts(result: dict[str, Any]) -> dict[str, int]:
    split = result["split"]
    out = {"kept": result["num_docs"], f"tokens/{split}": result["num_tokens"], f"shards/{split}": 1}
    if "target_tokens" in result:
        out[f"target_tokens/{split}"] = result["target_tokens"]
    return out


def _example_tokens(item: tuple[str, Any]) -> tuple[str, int]:
    """(split, example) -> (split, tokens it adds to a shard: both sides of a pair)."""
    split, e = item
    return split, len(e.tokens) + len(getattr(e, "target_tokens", ()))


class WriteTaskDataset(beam.PTransform):
    """Read chunks (``StageOutputs`` of the reader) -> a labelled token dataset under ``output_dir``.

    ``shards_dir``/``tokenizer_file`` say where the files go (``commit.TokenLayout``);
    ``accounting_dir`` where ``stats.json``, ``quarantine/`` and ``dropped/`` go.
    """

    def __init__(
        self,
        output_dir: str,
        config: TaskPipelineConfig,
        tokenizer: TokenizerSource,
        keep_dropped: bool = False,
        shards_dir: str = "shards",
        tokenizer_file: str = "tokenizer.json",
        accounting_dir: str | None = None,
    ):
        super().__init__()
        self.output_dir = output_dir
        self.config = config
        self.tokenizer = tokenizer
        self.keep_dropped = keep_dropped
        self.shards_dir = shards_dir
        self.tokenizer_file = tokenizer_file
        self.accounting_dir = accounting_dir or output_dir
        self.code_version = code_version()

    def expand(self, upstream: StageOutputs) -> beam.PCollection:
        task = self.config.task
        made, resolved, in_splits, plan = (self._pairs if task.is_pairs else self._classification)(upstream)
        written = in_splits | "WriteShards" >> WriteBucketed(
            num_files=plan,
            assign=shards.assign_shard,
            gather=shards.sorted_pairs if task.is_pairs else shards.sorted_examples,
            write=(shards.PairShardWriter if task.is_pairs else shards.TaskShardWriter)(
                self.output_dir, self.shards_dir
            ),
        )
        counts = (
            upstream.counts,
            made[COUNTS],
            resolved[COUNTS],
            written | "CountKept" >> beam.Map(_kept_counts),
        ) | "AllCounts" >> beam.Flatten()
        quarantine = (upstream.quarantine, made[QUARANTINE]) | "AllQuarantine" >> beam.Flatten()
        dropped = (upstream.dropped, resolved[DROPPED]) | "AllDropped" >> beam.Flatten()
        stats = StageOutputs(upstream.docs, counts, dropped, quarantine) | "Accounting" >> WriteAccounting(
            self.accounting_dir, STAGE, self.keep_dropped, after=[written]
        )
        return stats | "WriteManifest" >> beam.Map(self._write_manifest(), pvalue.AsList(written))

    def _shard_plan(self, in_splits: beam.PCollection, labels: Any) -> beam.PCollection:
        """Shards per split (from the tokens of each split), the dtype and the labels, as one element."""
        dtype = token_dtype_for_vocab(self.tokenizer.info.vocab_size)
        return (
            in_splits
            | "SplitTokens" >> beam.Map(_example_tokens)
            | "SumSplitTokens" >> beam.CombinePerKey(sum)
            | "NumShards"
            >> beam.Map(
                lambda kv, t: (kv[0], shards.num_shards_for(kv[1], t)), self.config.task.target_shard_tokens
            )
            | "ShardsPerSplit" >> beam.combiners.ToDict()
            | "ShardPlan" >> beam.Map(_plan, labels, dtype)
        )

    def _classification(self, upstream: StageOutputs) -> tuple[Any, Any, beam.PCollection, beam.PCollection]:
        task = self.config.task
        made = upstream.docs | "Examples" >> beam.ParDo(ExamplesFn(self.config, self.tokenizer)).with_outputs(
            COUNTS, QUARANTINE, main=DOCS
        )
        resolved = (
            made[DOCS]
            | "ByText" >> beam.GroupByKey()
            | "Resolve" >> beam.ParDo(ResolveFn(self.keep_dropped)).with_outputs(COUNTS, DROPPED, main=DOCS)
        )
        kept = resolved[DOCS]
        in_splits = (
            kept
            | "ByLabel" >> beam.GroupByKey()
            | "AssignSplits"
            >> beam.FlatMap(
                lambda kv, f, s: splits.assign_splits(list(kv[1]), f, s), task.fractions(), task.split_seed
            )
        )
        labels = (
            kept
            | "Labels" >> beam.Map(lambda kv: kv[0])
            | "DistinctLabels" >> beam.Distinct()
            | "LabelList" >> beam.combiners.ToList()
            | "LabelOrder" >> beam.Map(splits.label_list, task.labels)
        )
        return made, resolved, in_splits, self._shard_plan(in_splits, pvalue.AsSingleton(labels))

    def _pairs(self, upstream: StageOutputs) -> tuple[Any, Any, beam.PCollection, beam.PCollection]:
        task = self.config.task
        made = upstream.docs | "Pairs" >> beam.ParDo(PairsFn(self.config, self.tokenizer)).with_outputs(
            COUNTS, QUARANTINE, main=DOCS
        )
        resolved = (
            made[DOCS]
            | "BySource" >> beam.GroupByKey()
            | "ResolvePairs"
            >> beam.ParDo(ResolvePairsFn(self.keep_dropped, task.fractions(), task.split_seed)).with_outputs(
                COUNTS, DROPPED, main=DOCS
            )
        )
        return made, resolved, resolved[DOCS], self._shard_plan(resolved[DOCS], [])

    def _write_manifest(self) -> Any:
        out, source, tokenizer_file = self.output_dir, self.tokenizer, self.tokenizer_file
        task, version = self.config.task, self.code_version
        recorded = {
            **self.config.recorded(),
            "tokenizer_from": {"dataset": source.dataset, "fingerprint": source.fingerprint},
        }

        def write(stats_doc: dict, results: list[dict]) -> dict:
            from lmcore.dataset_writer import write_manifest

            info = dataclasses.replace(source.info, file=tokenizer_file)
            manifest = build_manifest(info, results, stats_doc["counts"], recorded, version_string=version)
            if not manifest.counts.is_balanced():
                log.error("%s: counts do not add up; manifest.json not written", STAGE)
                return {}
            # schema_version "": the manifest declares the lowest version that describes it
            # (1.1 for classification, 1.2 for pairs)
            manifest = dataclasses.replace(manifest, task=task_info(task, results), schema_version="")
            storage.atomic_write_bytes(storage.join(out, tokenizer_file), source.read_checked())
            write_manifest(out, manifest)
            return manifest.to_dict()

        return write


def task_info(task: Any, results: list[dict]) -> TaskInfo:
    """The manifest's ``task`` from the shards written: labels and examples per split and label
    (classification), or examples per split (pairs)."""
    if task.is_pairs:
        per_split = shards.example_counts(results)
        return TaskInfo(
            "pairs",
            [],
            {},
            example_counts={split: per_split.get(split, 0) for split in SPLITS},
            source_field=task.source_field,
            target_field=task.target_field,
        )
    labels = results[0]["labels"] if results else splits.label_list([], task.labels)
    per_split_labels = shards.task_label_counts(results)
    return TaskInfo(
        task.kind,
        labels,
        {split: per_split_labels.get(split, {}) for split in SPLITS},
        task.text_field,
        task.label_field,
    )

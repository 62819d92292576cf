"""Token shards inside Beam: shards per split, documents to shards, one dataset writer per shard file.

    (split, TokenizedDocs) ─► tokens per split ─► ShardPlan (side input)
                └─► WriteBucketed: (split, shard) groups ─► sorted rows ─► DIR/shards/*.arrow

The layout rules live in ``shards``; the files are written by ``lmcore.dataset_writer``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue

from lmcore.dataset_writer import DatasetWriter
from lmcore.faults import crash_point
from lmcore.hashing import stable_fraction
from lmcore.layout import SHARDS_DIR, TOKENIZER_FILENAME
from pipelines.stage.accounting import DOCS, QUARANTINE
from pipelines.stage.bucketed import WriteBucketed
from pipelines.stage.counting import COUNTS
from pipelines.tokenize import shards
from pipelines.tokenize.config import TokenizeConfig
from pipelines.tokenize.tokenize_docs import TokenizeFn
from pipelines.tokenize.tokenizer import tokenizer_info
from schemas import token_dtype_for_vocab

Doc = dict[str, Any]
Chunk = tuple[str, list[Doc]]


class ShardPlan(NamedTuple):
    """What every shard writer needs to know: shards per split and the token dtype."""

    num_shards: dict[str, int]
    dtype: str


def _assign_shards(
    item: tuple[str, shards.TokenizedDocs], plan: ShardPlan, seed: int
) -> Iterator[tuple[tuple[str, int], shards.TokenizedDocs]]:
    split, docs = item
    n = plan.num_shards[split]
    groups: dict[int, list[int]] = {}
    for i, doc_id in enumerate(docs.doc_ids):
        groups.setdefault(shards.shard_of(doc_id, n, seed), []).append(i)
    for index in sorted(groups):
        yield (split, index), docs.select(groups[index])


class ShardWriter:
    """Writes one (split, shard index) file of sorted documents; returns its ``ShardInfo`` as a dict."""

    def __init__(self, output_dir: str, shards_dir: str, compression: str | None):
        self.output_dir = output_dir
        self.shards_dir = shards_dir
        self.compression = compression

    def __call__(
        self, file_id: tuple[str, int], docs: shards.TokenizedDocs, plan: ShardPlan
    ) -> dict[str, Any]:
        split, index = file_id
        writer = DatasetWriter(self.output_dir, self.shards_dir, self.compression)
        table = shards.shard_table(docs, plan.dtype, split)
        info = writer.add_shard(split, index, plan.num_shards[split], table, plan.dtype)
        crash_point("shards")  # crash-safety tests only (LMFORGE_CRASH_AT=shards): a shard is written
        return info.to_dict()


class ShardOutputs(NamedTuple):
    shards: beam.PCollection  # ShardInfo dicts of the shards written
    counts: beam.PCollection  # flat counts: dropped/empty_text, quarantined/tokenize_error, kept, tokens/*
    quarantine: beam.PCollection


def shard_counts(info: dict[str, Any]) -> dict[str, int]:
    """``kept`` counted from a written shard, plus token/byte annotations for ``stats.json``."""
    split = info["split"]
    return {
        "kept": info["num_docs"],
        f"tokens/{split}": info["num_tokens"],
        f"text_bytes/{split}": info["num_bytes"],
        f"shards/{split}": 1,
    }


def _split_keys(chunk: Chunk, seed: int) -> Iterator[float]:
    for doc in chunk[1]:
        if doc["text"]:
            yield stable_fraction(doc["id"], seed)


class ValidationFloor(beam.PTransform):
    """chunks -> one float: the split key at or below which ``wanted`` documents go to validation."""

    def __init__(self, wanted: int, seed: int):
        super().__init__()
        self.wanted = wanted
        self.seed = seed

    def expand(self, chunks: beam.PCollection) -> beam.PCollection:
        keys = chunks | "SplitKeys" >> beam.FlatMap(_split_keys, self.seed)
        count = keys | "CountDocs" >> beam.combiners.Count.Globally()
        wanted = self.wanted
        return (
            keys
            | "SmallestKeys" >> beam.combiners.Top.Smallest(wanted)
            | "FloorKey"
            >> beam.Map(
                lambda smallest, n: shards.validation_floor_key(smallest, n, wanted),
                pvalue.AsSingleton(count),
            )
        )


class TokenizeAndShard(beam.PTransform):
    """chunks -> shards under ``DIR/<shards_dir>/``, given the tokenizer JSON as a one-element PCollection.

    ``min_validation``: at least this many of the chunks' documents go to the validation
    split (``tokenize.min_validation_docs`` less what earlier versions hold).
    """

    def __init__(
        self,
        output_dir: str,
        config: TokenizeConfig,
        tokenizer_json: beam.PCollection,
        shards_dir: str = SHARDS_DIR,
        stage: str = "tokenize",
        min_validation: int = 0,
        tokenizer_file: str = TOKENIZER_FILENAME,
    ):
        super().__init__()
        self.output_dir = output_dir
        self.config = config
        self.tokenizer_json = tokenizer_json
        self.shards_dir = shards_dir
        self.stage = stage
        self.min_validation = min_validation
        self.tokenizer_file = tokenizer_file

    def expand(self, chunks: beam.PCollection) -> ShardOutputs:
        cfg = self.config
        sides: list[Any] = [pvalue.AsSingleton(self.tokenizer_json)]
        if self.min_validation > 0:
            floor = chunks | "ValidationFloor" >> ValidationFloor(self.min_validation, cfg.split_seed)
            sides.append(pvalue.AsSingleton(floor))
        info = self.tokenizer_json | "TokenizerInfo" >> beam.Map(tokenizer_info, cfg, self.tokenizer_file)
        tokenized = chunks | "Tokenize" >> beam.ParDo(TokenizeFn(cfg, self.stage), *sides).with_outputs(
            COUNTS, QUARANTINE, main=DOCS
        )
        docs = tokenized[DOCS]
        num_shards = (
            docs
            | "SplitTokens" >> beam.Map(lambda kv: (kv[0], kv[1].num_tokens()))
            | "SumSplitTokens" >> beam.CombinePerKey(sum)
            | "NumShards"
            >> beam.Map(lambda kv, t: (kv[0], shards.num_shards_for(kv[1], t)), cfg.target_shard_tokens)
        )
        plan = (
            num_shards
            | "ShardsPerSplit" >> beam.combiners.ToDict()
            | "ShardPlan"
            >> beam.Map(
                lambda n, tok: ShardPlan(n, token_dtype_for_vocab(tok.vocab_size)), pvalue.AsSingleton(info)
            )
        )
        written = docs | "WriteShards" >> WriteBucketed(
            num_files=plan,
            assign=_assign_shards,
            assign_side_inputs=(cfg.shard_seed,),
            gather=shards.merge_sorted,
            write=ShardWriter(self.output_dir, self.shards_dir, cfg.compression),
        )
        kept = written | "CountKept" >> beam.Map(shard_counts)
        counts = (tokenized[COUNTS], kept) | "ShardCounts" >> beam.Flatten()
        return ShardOutputs(written, counts, tokenized[QUARANTINE])

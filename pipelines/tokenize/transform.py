"""Beam wiring of the tokenize stage: tokenizer, batched encoding, shards, stats, manifest.

    chunks ──► TrainOrLoadTokenizer ──► DIR/tokenizer.json ──(side input: JSON)──┐
       └─────► TokenizeFn (encode_batch per chunk, + EOD) ◄──────────────────────┘
                 ├─► tokens per split ─► shards per split (side input)
                 └─► (split, shard) groups ─► sorted rows ─► DIR/shards/*.arrow
    counts + kept-from-shards ─► stats.json ─► manifest.json (last)

The logic lives in ``bpe``, ``encode``, ``shards`` and ``dataset``; this module only
batches, routes and counts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue

from lmcore import storage
from lmcore.faults import crash_point
from lmcore.hashing import stable_fraction, stable_hash64
from lmcore.layout import SHARDS_DIR, TOKENIZER_FILENAME
from pipelines.stage.accounting import COUNTS, DOCS, QUARANTINE, StageOutputs, quarantine_record
from pipelines.stage.bucketed import WriteBucketed
from pipelines.stage.counting import emit_counts
from pipelines.stage.outputs import WriteAccounting
from pipelines.stage.progress import RateLogger
from pipelines.tokenize import bpe, encode, shards
from pipelines.tokenize.config import TokenizeConfig
from pipelines.tokenize.dataset import build_manifest, code_version
from schemas import MANIFEST_FILENAME, Manifest, TokenizerInfo, sha256_bytes, token_dtype_for_vocab
from schemas.token_shard import token_shard_to_bytes

if TYPE_CHECKING:
    from pipelines.config import PipelineConfig

log = logging.getLogger("lmforge.tokenize")
Doc = dict[str, Any]
Chunk = tuple[str, list[Doc]]


# -- tokenizer -------------------------------------------------------------------------------------
def _sample(chunk: Chunk, fraction: float, seed: int) -> Iterator[tuple[int, str, str]]:
    for doc in chunk[1]:
        if doc["text"] and bpe.in_sample(doc["id"], fraction, seed):
            yield bpe.sample_key(doc["id"], seed), doc["id"], doc["text"]


class TrainOrLoadTokenizer(beam.PTransform):
    """chunks -> one-element PCollection holding the tokenizer JSON, written to ``DIR/tokenizer.json``.

    Trains a byte-level BPE on the documents with the ``sample_max_docs`` smallest stable
    hashes among those under ``sample_fraction`` (so the sample does not depend on the
    runner), or loads ``config.tokenizer_path``.
    """

    def __init__(self, output_dir: str, config: TokenizeConfig, filename: str = TOKENIZER_FILENAME):
        super().__init__()
        self.path = storage.join(output_dir, filename)
        self.config = config

    def expand(self, chunks: beam.PCollection) -> beam.PCollection:
        cfg, path = self.config, self.path
        if cfg.tokenizer_path:
            source = cfg.tokenizer_path

            def load(_: Any) -> str:
                text = storage.read_text(source)
                bpe.check_json(text)
                bpe.describe(text, cfg)  # fails early without the EOD token
                if storage.get_fs(source)[1] != storage.get_fs(path)[1] or not storage.exists(path):
                    storage.atomic_write_text(path, text)
                return text

            return (
                chunks.pipeline | "TokenizerPath" >> beam.Create([None]) | "LoadTokenizer" >> beam.Map(load)
            )

        def train(sample: list[tuple[int, str, str]]) -> str:
            texts = [text for _, _, text in sorted(sample)]
            log.info("tokenize: training a %d-token BPE on %d documents", cfg.vocab_size, len(texts))
            text = bpe.train_bpe(texts, cfg)
            storage.atomic_write_text(path, text)
            return text

        return (
            chunks
            | "Sample" >> beam.FlatMap(_sample, cfg.sample_fraction, cfg.sample_seed)
            | "SmallestHashes" >> beam.combiners.Top.Smallest(cfg.sample_max_docs)
            | "TrainBPE" >> beam.Map(train)
        )


def tokenizer_info(
    tokenizer_json: str, config: TokenizeConfig, filename: str = TOKENIZER_FILENAME
) -> TokenizerInfo:
    spec = bpe.describe(tokenizer_json, config)
    return TokenizerInfo(
        file=filename,
        sha256=sha256_bytes(tokenizer_json.encode("utf-8")),
        vocab_size=spec.vocab_size,
        special_tokens=spec.special_tokens,
        eos_id=spec.eos_id,
        pad_id=spec.pad_id,
    )


# -- tokenization ----------------------------------------------------------------------------------
class TokenizeFn(beam.DoFn):
    """(chunk_key, docs) -> (split, TokenizedDocs) per split present in the chunk.

    The tokenizer arrives as a side input (its JSON) and is parsed once per worker:
    ``setup()`` prepares the cache, the first bundle fills it, later bundles reuse it.
    Empty texts are dropped (``empty_text``); a text the tokenizer refuses (e.g. a lone
    surrogate) is quarantined (``tokenize_error``).
    """

    def __init__(self, config: TokenizeConfig, stage: str = "tokenize"):
        self.config = config
        self.stage = stage

    def setup(self) -> None:
        self._json_key: int | None = None
        self._tokenizer = None
        self._eos_id = 0
        self._dtype = "uint32"
        self.progress = RateLogger(f"{self.stage}: tokenizing")

    def _ensure_tokenizer(self, tokenizer_json: str) -> None:
        key = stable_hash64(tokenizer_json)
        if key != self._json_key:
            spec = bpe.describe(tokenizer_json, self.config)
            self._tokenizer = bpe.load_tokenizer(tokenizer_json)
            self._eos_id = spec.eos_id
            self._dtype = token_dtype_for_vocab(spec.vocab_size)
            self._json_key = key

    def _encode(self, texts: list[str]) -> list[Any]:
        """Token arrays, or None for a text the tokenizer refuses (found by retrying one by one)."""
        cfg = self.config
        try:
            return encode.encode_texts(self._tokenizer, texts, self._eos_id, cfg.max_piece_chars, self._dtype)
        except Exception:
            out: list[Any] = []
            for text in texts:
                try:
                    out.extend(
                        encode.encode_texts(
                            self._tokenizer, [text], self._eos_id, cfg.max_piece_chars, self._dtype
                        )
                    )
                except Exception as exc:
                    out.append(exc)
            return out

    def process(self, chunk: Chunk, tokenizer_json: str, floor_key: float = shards.NO_FLOOR) -> Iterator[Any]:
        self._ensure_tokenizer(tokenizer_json)
        cfg = self.config
        docs = [d for d in chunk[1] if d["text"]]
        counts: dict[str, int] = {}
        if len(docs) < len(chunk[1]):
            counts["dropped/empty_text"] = len(chunk[1]) - len(docs)
        encoded = self._encode([d["text"] for d in docs])
        by_split: dict[str, shards.TokenizedDocs] = {}
        nbytes_total = 0
        for doc, tokens in zip(docs, encoded, strict=True):
            if isinstance(tokens, Exception):
                counts["quarantined/tokenize_error"] = counts.get("quarantined/tokenize_error", 0) + 1
                yield pvalue.TaggedOutput(
                    QUARANTINE,
                    quarantine_record(
                        self.stage,
                        doc.get("source") or "",
                        None,
                        "tokenize_error",
                        f"{doc['id']}: {type(tokens).__name__}: {tokens}",
                        doc["text"].encode("utf-8", "backslashreplace"),
                    ),
                )
                continue
            nbytes = len(doc["text"].encode("utf-8", "surrogatepass"))
            nbytes_total += nbytes
            split = shards.split_of(doc["id"], cfg.validation_fraction, cfg.split_seed, floor_key)
            part = by_split.setdefault(split, shards.TokenizedDocs.empty())
            part.doc_ids.append(doc["id"])
            part.sources.append(doc["source"])
            part.langs.append(doc.get("lang"))
            part.num_bytes.append(nbytes)
            part.tokens.append(tokens)
        self.progress.update(len(docs), nbytes_total)
        yield from emit_counts(self.stage, counts)
        for split in sorted(by_split):
            yield split, by_split[split]


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
        self.shards_dir = shards_dir.strip("/")
        self.compression = compression

    def __call__(
        self, file_id: tuple[str, int], docs: shards.TokenizedDocs, plan: ShardPlan
    ) -> dict[str, Any]:
        split, index = file_id
        table = shards.shard_table(docs, plan.dtype, split)
        data = token_shard_to_bytes(table, self.compression)
        rel = f"{self.shards_dir}/{shards.shard_name(split, index, plan.num_shards[split])}"
        storage.atomic_write_bytes(storage.join(self.output_dir, rel), data)
        crash_point("shards")  # crash-safety tests only (LMFORGE_CRASH_AT=shards): a shard is written
        return {
            "path": rel,
            "split": split,
            "sha256": sha256_bytes(data),
            "num_docs": len(docs),
            "num_tokens": docs.num_tokens(),
            "num_bytes": int(sum(docs.num_bytes)),
            "dtype": plan.dtype,
        }


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


# -- the whole stage -------------------------------------------------------------------------------
def dataset_relative(path: str, output_dir: str) -> str:
    """``path`` relative to the dataset directory when it lies inside it, else unchanged: a
    manifest must not record where the dataset happened to live (it moves, it is copied)."""
    if "://" in path or "://" in output_dir:
        base = output_dir.rstrip("/") + "/"
        return path[len(base) :] if path.startswith(base) else path
    root = os.path.abspath(output_dir)
    full = os.path.abspath(path)
    return os.path.relpath(full, root) if full.startswith(root + os.sep) else path


def recorded_config(config: PipelineConfig, output_dir: str) -> dict[str, Any]:
    """The settings a manifest records; a tokenizer inside the dataset by its relative path."""
    data = dataclasses.asdict(config)
    tok = data.get("tokenize", {})
    if tok.get("tokenizer_path"):
        tok["tokenizer_path"] = dataset_relative(tok["tokenizer_path"], output_dir)
    return data


ManifestWriter = Callable[[Manifest], None]


class ManifestFileWriter:
    """Default manifest sink: ``DIR/manifest.json``, atomically."""

    def __init__(self, output_dir: str):
        self.path = storage.join(output_dir, MANIFEST_FILENAME)

    def __call__(self, manifest: Manifest) -> None:
        storage.atomic_write_text(self.path, manifest.to_json())


class TokenDatasetOutputs(NamedTuple):
    tokenizer_json: beam.PCollection  # one element
    shards: beam.PCollection  # ShardInfo dicts
    stats: beam.PCollection  # the stats.json document
    manifest: beam.PCollection  # the manifest dict, once written


class WriteTokenDataset(beam.PTransform):
    """Upstream ``StageOutputs`` -> tokenizer, shards, ``stats.json`` and, last, the manifest.

    Counts in the manifest = the upstream counts + this stage's drops/quarantine + ``kept``
    counted from the shards written. ``parent`` (an earlier version's manifest) makes the
    manifest cumulative; ``manifest_writer`` replaces the plain ``DIR/manifest.json`` write
    (e.g. with ``pipelines.dataset.versions.commit``).
    """

    def __init__(
        self,
        output_dir: str,
        config: PipelineConfig,
        stage: str = "tokenize",
        keep_dropped: bool = False,
        shards_dir: str = SHARDS_DIR,
        parent: Manifest | None = None,
        manifest_writer: ManifestWriter | None = None,
        accounting_dir: str | None = None,
        tokenizer_file: str = TOKENIZER_FILENAME,
    ):
        super().__init__()
        self.tokenizer_file = tokenizer_file
        self.accounting_dir = accounting_dir or output_dir  # stats.json, quarantine/, dropped/
        config.tokenize.check()
        self.output_dir = output_dir
        self.config = config
        self.stage = stage
        self.keep_dropped = keep_dropped
        self.shards_dir = shards_dir
        self.parent = parent
        self.manifest_writer = manifest_writer or ManifestFileWriter(output_dir)
        self.code_version = code_version()  # at construction: workers may have no git checkout

    def min_validation(self) -> int:
        """Validation documents this run must add: the configured minimum less the parent's."""
        held = sum(s.num_docs for s in self.parent.shards if s.split == "validation") if self.parent else 0
        return max(0, self.config.tokenize.min_validation_docs - held)

    def expand(self, upstream: StageOutputs) -> TokenDatasetOutputs:
        cfg = self.config.tokenize
        tok_json = upstream.docs | "Tokenizer" >> TrainOrLoadTokenizer(
            self.output_dir, cfg, self.tokenizer_file
        )
        out = upstream.docs | "TokenizeAndShard" >> TokenizeAndShard(
            self.output_dir,
            cfg,
            tok_json,
            self.shards_dir,
            self.stage,
            self.min_validation(),
            self.tokenizer_file,
        )
        counts = (upstream.counts, out.counts) | "AllCounts" >> beam.Flatten()
        quarantine = (upstream.quarantine, out.quarantine) | "AllQuarantine" >> beam.Flatten()
        stats = StageOutputs(
            upstream.docs, counts, upstream.dropped, quarantine
        ) | "Accounting" >> WriteAccounting(
            self.accounting_dir, self.stage, self.keep_dropped, after=[out.shards, tok_json]
        )
        config_dict = recorded_config(self.config, self.output_dir)
        parent, writer, version, stage = self.parent, self.manifest_writer, self.code_version, self.stage
        tokenizer_file = self.tokenizer_file

        def write_manifest(stats_doc: dict, shard_infos: list[dict], tok: str) -> dict:
            manifest = build_manifest(
                tokenizer_info(tok, cfg, tokenizer_file),
                shard_infos,
                stats_doc["counts"],
                config_dict,
                parent,
                version_string=version,
            )
            if not manifest.counts.is_balanced():
                # stats.json already says so and the CLI exits non-zero; an unbalanced
                # manifest would be refused by every reader, so none is written.
                log.error("%s: counts do not add up; manifest.json not written", stage)
                return {}
            writer(manifest)
            return manifest.to_dict()

        manifest = stats | "WriteManifest" >> beam.Map(
            write_manifest, pvalue.AsList(out.shards), pvalue.AsSingleton(tok_json)
        )
        return TokenDatasetOutputs(tok_json, out.shards, stats, manifest)

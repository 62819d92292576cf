"""Beam wiring of the tokenize stage: tokenizer, batched encoding, shards, stats, manifest.

    chunks ──► TrainOrLoadTokenizer ──► DIR/tokenizer.json ──(side input: JSON)──┐
       └─────► TokenizeFn (encode_batch per chunk, + EOD) ◄──────────────────────┘
                 ├─► tokens per split ─► shards per split (side input)
                 └─► (split, shard) groups ─► sorted rows ─► DIR/shards/*.arrow
    counts + kept-from-shards ─► stats.json ─► manifest.json (last)

Each job has its module: ``tokenizer`` (train or load), ``tokenize_docs`` (``TokenizeFn``),
``sharding`` (shard plan and writers), ``dataset`` (the manifest); the logic they call lives
in ``bpe``, ``encode`` and ``shards``, the files are written by ``lmcore.dataset_writer``.
This module wires the whole stage.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue

from lmcore.dataset_writer import write_manifest
from lmcore.layout import SHARDS_DIR, TOKENIZER_FILENAME
from pipelines.stage.accounting import StageOutputs
from pipelines.stage.outputs import WriteAccounting
from pipelines.tokenize.dataset import build_manifest, code_version
from pipelines.tokenize.sharding import (
    TokenizeAndShard,
)
from pipelines.tokenize.tokenizer import TrainOrLoadTokenizer, tokenizer_info
from schemas import Manifest

if TYPE_CHECKING:
    from pipelines.config import PipelineConfig

__all__ = [
    "ManifestFileWriter", "ManifestWriter", "TokenDatasetOutputs", "WriteTokenDataset", "dataset_relative",
    "recorded_config",
]  # fmt: skip

log = logging.getLogger("lmforge.tokenize")


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
        self.output_dir = output_dir

    def __call__(self, manifest: Manifest) -> None:
        write_manifest(self.output_dir, manifest)


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

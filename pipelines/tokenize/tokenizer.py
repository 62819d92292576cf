"""The tokenizer of a tokenize run: trained on a stable sample of the documents, or loaded."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from lmcore import storage
from lmcore.layout import TOKENIZER_FILENAME
from pipelines.tokenize import bpe
from pipelines.tokenize.config import TokenizeConfig
from schemas import TokenizerInfo, sha256_bytes

log = logging.getLogger("lmforge.tokenize")
Doc = dict[str, Any]
Chunk = tuple[str, list[Doc]]


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

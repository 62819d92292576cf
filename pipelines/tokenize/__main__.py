"""``python -m pipelines.tokenize --input=DOCS --output=DIR``: tokenizer, token shards, manifest.

Reads documents (normally ``DIR/documents/*.parquet`` of ``clean`` or ``dedup``; any
format the readers know works), trains a byte-level BPE on a deterministic sample or
loads ``tokenize.tokenizer_path``, and writes ``DIR/shards/*.arrow``, ``DIR/tokenizer.json``,
``DIR/stats.json`` and, last, ``DIR/manifest.json``.
"""

from __future__ import annotations

import apache_beam as beam

from pipelines.config import PipelineConfig
from pipelines.io.readers import ReadDocuments
from pipelines.options import LmforgeOptions
from pipelines.runner import run_stage
from pipelines.tokenize.transform import WriteTokenDataset


def build(pipeline: beam.Pipeline, opts: LmforgeOptions, config: PipelineConfig) -> None:
    try:
        config.tokenize.check()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    read = pipeline | "Read" >> ReadDocuments(opts.input, config.read)
    read | "TokenDataset" >> WriteTokenDataset(opts.output, config, "tokenize", opts.keep_dropped)


def main(argv: list[str] | None = None) -> int:
    return run_stage(
        argv,
        LmforgeOptions,
        "tokenize",
        "Train or load a byte-level BPE tokenizer, tokenize documents and write Arrow token shards.",
        build,
    )


if __name__ == "__main__":
    raise SystemExit(main())

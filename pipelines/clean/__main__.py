"""``python -m pipelines.clean --input=GLOB --output=DIR``: collect + clean -> ``DIR/documents/*.parquet``."""

from __future__ import annotations

import apache_beam as beam

from pipelines.accounting import chain
from pipelines.clean.transform import CleanDocuments
from pipelines.config import PipelineConfig
from pipelines.io.readers import ReadDocuments
from pipelines.options import LmforgeOptions
from pipelines.outputs import WriteStageOutputs
from pipelines.runner import run_stage


def build(pipeline: beam.Pipeline, opts: LmforgeOptions, config: PipelineConfig) -> None:
    read = pipeline | "Read" >> ReadDocuments(opts.input, config.read)
    clean = read.docs | "Clean" >> CleanDocuments(config.clean, report_dir=opts.output)
    chain(read, clean) | "Write" >> WriteStageOutputs(opts.output, "clean", opts.keep_dropped)


def main(argv: list[str] | None = None) -> int:
    return run_stage(
        argv, LmforgeOptions, "clean", "Collect and clean raw text into document Parquet files.", build
    )


if __name__ == "__main__":
    raise SystemExit(main())

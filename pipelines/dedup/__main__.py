"""``python -m pipelines.dedup --input=DOCS --output=DIR``: remove boilerplate lines and duplicates.

``--index-from=DIR_OR_GLOB`` (repeatable) deduplicates against the index of earlier runs
(e.g. ``--index-from=OLD/dedup_index``); those documents always stay. The index of this
run's kept documents is written to ``DIR/dedup_index/`` and the most frequent removed
boilerplate lines to ``DIR/dedup_boilerplate.json``. Settings: the ``dedup:`` section of
``--config`` (``pipelines.dedup.config.DedupConfig``).
"""

from __future__ import annotations

import argparse

import apache_beam as beam

from pipelines import fsutil
from pipelines.accounting import chain
from pipelines.config import PipelineConfig
from pipelines.dedup.transform import DeduplicateDocuments
from pipelines.io.readers import ReadDocuments
from pipelines.options import LmforgeOptions
from pipelines.outputs import WriteStageOutputs
from pipelines.runner import run_stage


class DedupOptions(LmforgeOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--index-from",
            "--index_from",
            dest="index_from",
            action="append",
            default=None,
            help="dedup index of an earlier run: directory or glob of its Parquet files "
            "(e.g. OLD/dedup_index); its documents stay, new duplicates of them are removed; repeatable",
        )


def build(pipeline: beam.Pipeline, opts: DedupOptions, config: PipelineConfig) -> None:
    read = pipeline | "Read" >> ReadDocuments(opts.input, config.read)
    dedup = read.docs | "Dedup" >> DeduplicateDocuments(
        config.dedup,
        index_inputs=opts.index_from or [],
        index_output=fsutil.join(opts.output, "dedup_index"),
        report_dir=opts.output,
    )
    chain(read, dedup) | "Write" >> WriteStageOutputs(opts.output, "dedup", opts.keep_dropped)


def main(argv: list[str] | None = None) -> int:
    return run_stage(
        argv, DedupOptions, "dedup", "Remove boilerplate lines, exact and near duplicates.", build
    )


if __name__ == "__main__":
    raise SystemExit(main())

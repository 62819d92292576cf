"""``python -m pipelines.dedup --input=DOCS --output=DIR``: remove boilerplate lines and duplicates.

``--index-from=DIR_OR_GLOB`` (repeatable) deduplicates against the index of earlier runs
(e.g. ``--index-from=OLD/dedup_index``); those documents always stay. The index of this
run's kept documents is written to ``DIR/dedup_index/`` and the most frequent removed
boilerplate lines to ``DIR/dedup_boilerplate.json``. Settings: the ``dedup:`` section of
``--config`` (``pipelines.dedup.config.DedupConfig``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from lmcore import storage
from pipelines.stage.options import Command, options_class
from pipelines.stage.runner import run_stage

if TYPE_CHECKING:
    import apache_beam as beam

    from pipelines.config import PipelineConfig


def add_dedup_args(parser: Any) -> None:
    """The dedup stage's own flag."""
    parser.add_argument(
        "--index-from",
        "--index_from",
        dest="index_from",
        action="append",
        default=None,
        help="dedup index of an earlier run: directory or glob of its Parquet files "
        "(e.g. OLD/dedup_index); its documents stay, new duplicates of them are removed; repeatable",
    )


COMMAND = Command(
    "dedup",
    "Remove boilerplate lines, exact and near duplicates.",
    epilog="""\
Writes, under --output:
  documents/part-*.parquet     the kept documents
  dedup_index/*.parquet        the index of the kept documents (for a later --index-from)
  dedup_boilerplate.json       the most frequent removed boilerplate lines
  stats.json                   counts, bytes removed (annotations)
  dropped/*.jsonl.gz           duplicates with duplicate_of (--keep-dropped)

Exit status: 0 ok, 1 the counts do not add up, 2 a bad --config or --input, 3 another run holds
the output's lock, 5 the disk filled up (the previous output stays as it was).
""",
    extra_args=add_dedup_args,
)


def __getattr__(name: str) -> Any:
    """``DedupOptions``: the Beam options class of this stage, built (with Beam) on first use."""
    if name == "DedupOptions":
        return options_class(add_dedup_args)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build(pipeline: beam.Pipeline, opts: Any, config: PipelineConfig) -> None:
    from lmcore import storage
    from pipelines.dedup.transform import DeduplicateDocuments
    from pipelines.io.readers import ReadDocuments
    from pipelines.stage.accounting import chain
    from pipelines.stage.outputs import WriteStageOutputs

    read = pipeline | "Read" >> ReadDocuments(
        opts.input, config.read, files=getattr(opts, "input_files", None)
    )
    dedup = read.docs | "Dedup" >> DeduplicateDocuments(
        config.dedup,
        index_inputs=index_inputs(opts.index_from or [], getattr(opts, "final_output", None)),
        index_output=storage.join(opts.output, "dedup_index"),
        report_dir=opts.output,
    )
    chain(read, dedup) | "Write" >> WriteStageOutputs(opts.output, "dedup", opts.keep_dropped)


def index_inputs(patterns: list[str], final_output: str | None) -> list[str]:
    """``--index-from`` files, never this output's own ``dedup_index/`` (which this run replaces):
    the run writes into a staging directory, so the transform cannot tell them apart itself."""
    if not final_output or not patterns:
        return patterns
    from pipelines.dedup import index

    own = os.path.abspath(storage.join(final_output, "dedup_index")) + os.sep
    files = index.expand(patterns)
    return [f for f in files if "://" in f or not os.path.abspath(f).startswith(own)] or []


def main(argv: list[str] | None = None) -> int:
    return run_stage(argv, COMMAND, build)


if __name__ == "__main__":
    raise SystemExit(main())

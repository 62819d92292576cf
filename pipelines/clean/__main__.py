"""``python -m pipelines.clean --input=GLOB --output=DIR``: collect + clean -> ``DIR/documents/*.parquet``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.stage.options import Command
from pipelines.stage.runner import run_stage

if TYPE_CHECKING:
    import apache_beam as beam

    from pipelines.config import PipelineConfig

COMMAND = Command(
    "clean",
    "Collect and clean raw text into document Parquet files.",
    epilog="""\
Writes, under --output:
  documents/part-*.parquet     the kept documents (meta["quality"]: the measures behind every rule)
  stats.json                   counts, bytes per rule and per source (annotations), the settings
  clean_losses.json            the kept documents that lost the largest share of their text
  quarantine/*.jsonl.gz        records that could not be read, with the error
  dropped/*.jsonl.gz           dropped documents with reason and measures (--keep-dropped)
Then: python -m pipelines.report DIR (add --what-if clean.thresholds.LANG.KEY=VALUE to try thresholds).

Exit status: 0 ok, 1 the counts do not add up, 2 a bad --config or --input, 3 another run holds
the output's lock, 5 the disk filled up (the previous output stays as it was).
""",
)


def build(pipeline: beam.Pipeline, opts: Any, config: PipelineConfig) -> None:
    from lmcore.config import to_dict
    from pipelines.clean.transform import CleanDocuments
    from pipelines.io.readers import ReadDocuments
    from pipelines.stage.accounting import chain
    from pipelines.stage.outputs import WriteStageOutputs

    read = pipeline | "Read" >> ReadDocuments(
        opts.input, config.read, files=getattr(opts, "input_files", None)
    )
    clean = read.docs | "Clean" >> CleanDocuments(config.clean, report_dir=opts.output)
    # The settings go into stats.json: `pipelines.report --what-if` compares with them.
    recorded = {"config": {"read": to_dict(config.read), "clean": to_dict(config.clean)}}
    chain(read, clean) | "Write" >> WriteStageOutputs(opts.output, "clean", opts.keep_dropped, extra=recorded)


def main(argv: list[str] | None = None) -> int:
    return run_stage(argv, COMMAND, build)


if __name__ == "__main__":
    raise SystemExit(main())

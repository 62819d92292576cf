"""Command-line options shared by every stage, as Beam ``PipelineOptions`` subclasses.

Each stage module adds its own subclass when it has stage-only flags. Anything not
listed here (``--runner``, ``--direct_num_workers``, Dataflow/Flink flags...) is passed
to Beam unchanged.
"""

from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions


class LmforgeOptions(PipelineOptions):
    """--input/--output/--config/--keep-dropped, common to every ``python -m pipelines.<stage>``."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("lmforge")
        group.add_argument(
            "--input",
            action="append",
            default=None,
            help="input file, directory or glob (local or any fsspec URL: s3://, gs://, memory://). "
            "Repeat for several. Formats by extension: .jsonl/.json, .parquet, .txt, .html/.htm, .warc; "
            "optionally compressed with .gz or .zst.",
        )
        group.add_argument("--output", default=None, help="output dataset directory (local or fsspec URL)")
        group.add_argument("--config", default=None, help="YAML file overriding the default settings")
        group.add_argument(
            "--keep-dropped",
            "--keep_dropped",
            dest="keep_dropped",
            action="store_true",
            default=False,
            help="also write every dropped or duplicate document, with its reason, under OUTPUT/dropped/",
        )


def parse_options(
    argv: list[str], options_cls: type[LmforgeOptions], description: str
) -> tuple[PipelineOptions, LmforgeOptions]:
    """Parse ``argv`` into Beam options; handle ``--help``; check that --input and --output are given."""
    if any(a in ("-h", "--help") for a in argv):
        parser = argparse.ArgumentParser(
            description=description,
            epilog="Any other flag is a Beam pipeline option, for example --runner=PortableRunner, "
            "--direct_running_mode=multi_processing --direct_num_workers=4, or Dataflow/Flink options. "
            "Without --runner the pipeline runs in-process on Beam's FnApiRunner.",
        )
        # Beam registers every PipelineOptions subclass, so each class adds only its own
        # flags; for --help, collect them along the class hierarchy.
        for klass in reversed(options_cls.__mro__):
            if "_add_argparse_args" in vars(klass) and issubclass(klass, LmforgeOptions):
                klass._add_argparse_args(parser)
        parser.print_help()
        raise SystemExit(0)
    options = PipelineOptions(argv)
    ours = options.view_as(options_cls)
    missing = [flag for flag, value in (("--input", ours.input), ("--output", ours.output)) if not value]
    if missing:
        raise SystemExit(f"error: {' and '.join(missing)} required (see --help)")
    return options, ours

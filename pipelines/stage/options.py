"""Command-line options shared by every stage, and the ``--help`` / ``--print-config`` answers.

Nothing here imports Beam at module level: ``--help`` must answer at once, and importing
Beam (with its GCP IO modules) takes seconds. The flags are declared once, as plain
``argparse`` functions (``ArgAdder``); the Beam ``PipelineOptions`` classes that parse
them in a real run are built on first use (``options_class``). Anything not listed here
(``--runner``, ``--direct_num_workers``, Dataflow/Flink flags...) is passed to Beam unchanged.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

ArgAdder = Callable[[Any], None]  # adds flags to a parser or an argument group

# --runner values that mean "a dask.distributed cluster": lmforge's short alias and Beam's
# full name; both run pipelines.stage.dask_runner (Beam 2.77's own loses data, see there).
DASK_RUNNER_NAMES = ("DaskRunner", "apache_beam.runners.dask.dask_runner.DaskRunner", "dask")

# Printed by Beam's GCP IO modules on import although lmforge never uses BigQuery.
QUIET_LOG_PREFIXES = ("apitools not found",)

BEAM_EPILOG = """\
Beam options: any other flag goes to Beam, for example --runner=PortableRunner
--job_endpoint=localhost:8099, --direct_running_mode=multi_processing --direct_num_workers=4,
or Dataflow/Flink/Spark options (README.md, "Running the pipelines on Flink, Spark or
Dataflow"). Without --runner the pipeline runs in-process on Beam's FnApiRunner.
--runner=DaskRunner --dask_client_address=HOST:PORT runs it on a dask.distributed cluster
(deploy/README.md; Beam's full name apache_beam.runners.dask.dask_runner.DaskRunner is the same).

Settings: --config=FILE.yaml overrides the defaults section by section (read, clean,
dedup, tokenize), then --set SECTION.KEY=VALUE (repeatable; the value is read as YAML,
e.g. --set dedup.threshold=0.7 --set clean.languages=[en]); unknown keys and values out of
range are errors that name the key. --print-config prints every key with its effective
value (defaults, then --config, then --set) as YAML, and exits.
"""


class _DropMessages(logging.Filter):
    """Drops log records whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes: Sequence[str]):
        super().__init__()
        self.prefixes = tuple(prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def quiet_beam_import() -> None:
    """Silence the 'apitools not found' warning; must run before Beam is first imported."""
    root = logging.getLogger()
    if not any(isinstance(f, _DropMessages) for f in root.filters):
        root.addFilter(_DropMessages(QUIET_LOG_PREFIXES))


def is_dask_runner(runner: str | None) -> bool:
    """Whether ``--runner`` asks for the Dask cluster (any spelling in ``DASK_RUNNER_NAMES``, any case)."""
    return runner is not None and runner.lower() in {name.lower() for name in DASK_RUNNER_NAMES}


def add_lmforge_args(parser: argparse.ArgumentParser) -> None:
    """--input/--output/--config/--set/--keep-dropped/--print-config, common to every stage."""
    group = parser.add_argument_group("lmforge")
    group.add_argument(
        "--input",
        action="append",
        default=None,
        help="input file, directory or glob (local or any fsspec URL: s3://, gs://, memory://). "
        "Repeat for several. Formats by extension: .jsonl/.json, .parquet, .csv, .tsv, .txt, .html/.htm, .warc; "
        "optionally compressed with .gz or .zst (files without a known extension are quarantined).",
    )
    group.add_argument("--output", default=None, help="output dataset directory (local or fsspec URL)")
    group.add_argument(
        "--config", default=None, help="YAML file overriding the default settings (see --print-config)"
    )
    group.add_argument(
        "--set",
        dest="set",
        action="append",
        default=None,
        metavar="SECTION.KEY=VALUE",
        help="override one setting after --config (e.g. dedup.threshold=0.7); repeatable",
    )
    group.add_argument(
        "--keep-dropped",
        "--keep_dropped",
        dest="keep_dropped",
        action="store_true",
        default=False,
        help="also write every dropped or duplicate document, with its reason, under dropped/ "
        "(OUTPUT/dropped/ for clean, dedup, tokenize; OUTPUT/state/v0000N/dropped/ for prepare)",
    )
    group.add_argument(
        "--print-config",
        "--print_config",
        dest="print_config",
        action="store_true",
        default=False,
        help="print the effective settings (defaults + --config + --set) as YAML and exit",
    )


@dataclass(frozen=True)
class Command:
    """What a stage's command line looks like: its name, usage, help text and extra flags."""

    stage: str
    description: str
    epilog: str = ""
    extra_args: ArgAdder | None = None

    @property
    def prog(self) -> str:
        return f"python -m pipelines.{self.stage}"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout and appends each flag's default (when it has one)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def light_parser(command: Command) -> argparse.ArgumentParser:
    """The command's flags on a plain argparse parser (no Beam): for --help and early checks."""
    parser = argparse.ArgumentParser(
        prog=command.prog,
        description=textwrap.fill(command.description, 88),
        epilog="\n".join(part for part in (command.epilog, BEAM_EPILOG) if part),
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    add_lmforge_args(parser)
    if command.extra_args is not None:
        command.extra_args(parser.add_argument_group(command.stage))
    return parser


@functools.cache
def _lmforge_options() -> type:
    quiet_beam_import()
    from apache_beam.options.pipeline_options import PipelineOptions

    class LmforgeOptions(PipelineOptions):
        """The lmforge flags as Beam options (Beam registers every PipelineOptions subclass)."""

        @classmethod
        def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
            add_lmforge_args(parser)

    return LmforgeOptions


@functools.cache
def options_class(extra: ArgAdder | None = None) -> type:
    """``LmforgeOptions``, or a subclass adding a stage's ``extra`` flags (imports Beam)."""
    base = _lmforge_options()
    if extra is None:
        return base

    def add(cls: type, parser: argparse.ArgumentParser) -> None:
        extra(parser)

    return type(f"{base.__name__}_{extra.__name__}", (base,), {"_add_argparse_args": classmethod(add)})


def _plain(value: Any) -> Any:
    """Tuples and nested containers as YAML-safe lists and dicts."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def effective_config_yaml(path: str | None, overrides: Sequence[str] | None = None) -> str:
    """Every setting with its value (defaults, then ``path``, then ``key=value`` overrides), as YAML."""
    import yaml

    from lmcore.config import to_dict
    from pipelines.config import load_pipeline_config

    data = _plain(to_dict(load_pipeline_config(path, overrides or None)))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _config_error_exit(exc: Exception | str) -> NoReturn:
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None


def _print_config(path: str | None, overrides: Sequence[str] | None) -> None:
    from lmcore.config import ConfigError

    try:
        text = effective_config_yaml(path, overrides)
    except ConfigError as exc:
        _config_error_exit(exc)
    sys.stdout.write(text)
    raise SystemExit(0)


def parse_options(argv: list[str], command: Command) -> tuple[Any, Any]:
    """(Beam ``PipelineOptions``, the stage's options view); answers --help and --print-config.

    Both answers, and the check that --input and --output are given, happen before Beam
    is imported.
    """
    parser = light_parser(command)
    if any(a in ("-h", "--help") for a in argv):
        parser.print_help()
        raise SystemExit(0)
    ours, _ = parser.parse_known_args(argv)
    if ours.print_config:
        _print_config(ours.config, ours.set)
    missing = [flag for flag, value in (("--input", ours.input), ("--output", ours.output)) if not value]
    if missing:
        parser.print_usage(sys.stderr)
        raise SystemExit(f"error: {' and '.join(missing)} required (see --help)")
    klass = options_class(command.extra_args)
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(argv)
    return options, options.view_as(klass)

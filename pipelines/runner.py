"""Running a stage: pick the runner, build, run, print the summary.

Without ``--runner`` we set Beam's in-process ``FnApiRunner`` explicitly: the stock
default first tries to download a Prism binary, which fails offline. Everything else
(``--runner=PortableRunner``, Flink, Spark, Dataflow) is Beam's own.

Beam is imported inside the functions that need it, so that a stage's ``--help`` (which
imports this module) answers without loading it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pipelines.options import Command, parse_options, quiet_beam_import

if TYPE_CHECKING:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.config import PipelineConfig

log = logging.getLogger("lmforge")
# Below this many validation documents, the validation loss says little; prepare and tokenize warn.
VALIDATION_WARN_DOCS = 100


def make_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """A ``beam.Pipeline`` on the requested runner, or the in-process FnApiRunner by default."""
    quiet_beam_import()
    import apache_beam as beam
    from apache_beam.options.pipeline_options import StandardOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    if options.view_as(StandardOptions).runner is None:
        return beam.Pipeline(runner=FnApiRunner(), options=options)
    return beam.Pipeline(options=options)


def setup_logging() -> None:
    quiet_beam_import()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("apache_beam", "root"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def format_summary(stats: dict) -> str:
    """A small table of where the documents went, for the end of a run."""
    counts = stats["counts"]
    rows = [("input", counts["input"]), ("kept", counts["kept"])]
    for bucket in ("dropped", "duplicates", "quarantined"):
        for reason, n in counts[bucket].items():
            rows.append((f"{bucket}: {reason}", n))
    width = max(len(r[0]) for r in rows)
    lines = [f"  {name:<{width}}  {n:>10,}" for name, n in rows]
    status = "counts add up" if stats.get("balanced") else "COUNTS DO NOT ADD UP"
    return "\n".join([f"{stats['stage']} summary ({status}):", *lines])


def validation_warning(manifest: Mapping[str, Any], tokenize: Mapping[str, Any]) -> str | None:
    """A warning when the manifest's validation split is too small to measure anything, else None.

    The floor is ``tokenize.min_validation_docs`` when set, else ``VALIDATION_WARN_DOCS``;
    a dataset that asks for no validation split at all (both settings 0) is not warned about.
    """
    fraction = float(tokenize.get("validation_fraction") or 0.0)
    minimum = int(tokenize.get("min_validation_docs") or 0)
    if fraction <= 0 and minimum <= 0:
        return None
    shards = manifest.get("shards", [])
    val = [s for s in shards if s.get("split") == "validation"]
    docs = sum(int(s.get("num_docs", 0)) for s in val)
    total = sum(int(s.get("num_docs", 0)) for s in shards)
    floor = minimum or VALIDATION_WARN_DOCS
    if docs >= floor or docs >= total:
        return None
    tokens = sum(int(s.get("num_tokens", 0)) for s in val)
    share = f"{docs / total:.2%}" if total else "0%"
    return (
        f"warning: the validation split holds only {docs:,} document(s) ({share} of {total:,}; {tokens:,} tokens), "
        f"below {floor:,}: its loss will be noise. Raise tokenize.validation_fraction "
        f"(now {fraction:g}) or set tokenize.min_validation_docs: {max(floor, VALIDATION_WARN_DOCS)} "
        "(a deterministic minimum: the documents with the smallest split hashes)"
    )


BuildFn = Callable[["beam.Pipeline", Any, "PipelineConfig"], None]
AfterFn = Callable[[Any, "PipelineConfig"], None]


def load_config_or_exit(path: str | None) -> PipelineConfig:
    """The pipeline config, or exit 2 with the config error (no traceback)."""
    from pipelines.config import ConfigError, load_pipeline_config

    try:
        return load_pipeline_config(path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run_stage(argv: list[str] | None, command: Command, build: BuildFn, after: AfterFn | None = None) -> int:
    """Parse flags, load config, build the pipeline with ``build``, run it and print the summary.

    ``after(options, config)`` runs once the pipeline has finished (e.g. to warn about the output).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    options, ours = parse_options(argv, command)
    setup_logging()
    from pipelines import fsutil
    from pipelines.accounting import STATS_FILENAME

    try:
        config = load_config_or_exit(ours.config)
    except SystemExit as exc:
        return int(exc.code or 0)
    started = time.monotonic()
    pipeline = make_pipeline(options)
    build(pipeline, ours, config)
    result = pipeline.run()
    result.wait_until_finish()
    elapsed = time.monotonic() - started
    if after is not None:
        after(ours, config)
    stats_path = fsutil.join(ours.output, STATS_FILENAME)
    if fsutil.exists(stats_path):
        stats = json.loads(fsutil.read_text(stats_path))
        print(format_summary(stats), file=sys.stderr)
        print(f"{command.stage} finished in {elapsed:.1f}s; stats in {stats_path}", file=sys.stderr)
        return 0 if stats.get("balanced") else 1
    print(f"{command.stage} finished in {elapsed:.1f}s", file=sys.stderr)
    return 0

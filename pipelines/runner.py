"""Running a stage: pick the runner, build, run, print the summary.

Without ``--runner`` we set Beam's in-process ``FnApiRunner`` explicitly: the stock
default first tries to download a Prism binary, which fails offline. Everything else
(``--runner=PortableRunner``, Flink, Spark, Dataflow) is Beam's own.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipelines import fsutil
from pipelines.accounting import STATS_FILENAME
from pipelines.config import ConfigError, PipelineConfig, load_pipeline_config
from pipelines.options import LmforgeOptions, parse_options

log = logging.getLogger("lmforge")


def make_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """A ``beam.Pipeline`` on the requested runner, or the in-process FnApiRunner by default."""
    if options.view_as(StandardOptions).runner is None:
        return beam.Pipeline(runner=FnApiRunner(), options=options)
    return beam.Pipeline(options=options)


def setup_logging() -> None:
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


BuildFn = Callable[[beam.Pipeline, LmforgeOptions, PipelineConfig], None]


def run_stage(
    argv: list[str] | None, options_cls: type[LmforgeOptions], stage: str, description: str, build: BuildFn
) -> int:
    """Parse flags, load config, build the pipeline with ``build``, run it and print the summary."""
    setup_logging()
    argv = list(sys.argv[1:] if argv is None else argv)
    options, ours = parse_options(argv, options_cls, description)
    try:
        config = load_pipeline_config(ours.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    pipeline = make_pipeline(options)
    build(pipeline, ours, config)
    result = pipeline.run()
    result.wait_until_finish()
    elapsed = time.monotonic() - started
    stats_path = fsutil.join(ours.output, STATS_FILENAME)
    if fsutil.exists(stats_path):
        stats = json.loads(fsutil.read_text(stats_path))
        print(format_summary(stats), file=sys.stderr)
        print(f"{stage} finished in {elapsed:.1f}s; stats in {stats_path}", file=sys.stderr)
        return 0 if stats.get("balanced") else 1
    print(f"{stage} finished in {elapsed:.1f}s", file=sys.stderr)
    return 0

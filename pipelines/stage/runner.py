"""Running a stage: pick the runner, build, run, print the summary.

Without ``--runner`` we set Beam's in-process ``FnApiRunner`` explicitly: the stock
default first tries to download a Prism binary, which fails offline. ``--runner=DaskRunner``
(or Beam's full name for it) runs ``pipelines.stage.dask_runner`` on a ``dask.distributed``
cluster. Everything else (``--runner=PortableRunner``, Flink, Spark, Dataflow) is Beam's own.

Beam is imported inside the functions that need it, so that a stage's ``--help`` (which
imports this module) answers without loading it.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipelines.stage.listings import forget_listings
from pipelines.stage.options import Command, is_dask_runner, parse_options, quiet_beam_import

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

    runner = options.view_as(StandardOptions).runner
    if runner is None:
        warn_multi_threading(options)
        return beam.Pipeline(runner=FnApiRunner(), options=options)
    if is_dask_runner(runner):
        from pipelines.stage.dask_runner import DaskRunner

        return beam.Pipeline(runner=DaskRunner(), options=options)
    return beam.Pipeline(options=options)


# Seen in lmforge's runs (not yet explained): on crowded cores, Beam's multi-threaded local
# mode now and then lost documents between stages; the count check then refused the commit.
MULTI_THREADING_WARNING = (
    "--direct_running_mode=multi_threading: on busy machines this mode has lost documents between "
    "stages in lmforge's runs (the count check then refuses to commit the run); "
    "--direct_running_mode=multi_processing gives the same outputs"
)


def warn_multi_threading(options: PipelineOptions) -> bool:
    """Warn (and say so) when the local runner is asked for several threads in one process."""
    from apache_beam.options.pipeline_options import DirectOptions

    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode == "multi_threading" and direct.direct_num_workers != 1:
        log.warning(MULTI_THREADING_WARNING)
        return True
    return False


def setup_logging() -> None:
    quiet_beam_import()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("apache_beam", "root"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Beam logs a failing step's traceback before re-raising it; the CLI says what went wrong
    # in one line (a full disk) or re-raises a genuine bug with its traceback anyway.
    logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)


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


def load_config_or_exit(path: str | None, overrides: Sequence[str] | None = None) -> PipelineConfig:
    """The pipeline config (defaults, ``--config``, then ``--set`` items), or exit 2 with the
    config error (no traceback)."""
    from lmcore.config import ConfigError
    from pipelines.config import load_pipeline_config

    try:
        return load_pipeline_config(path, overrides or None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


EXIT_BAD_INPUT = 2  # a bad --config, an --input that matches nothing, an output a stage must not touch
EXIT_LOCKED = 3  # another run holds the output's lock
EXIT_DISK_FULL = 5  # the disk filled up: nothing was committed
DISK_FULL_LINE = re.compile(r"disk full: .*?(?= \[while running|'\]|\]|$)")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes/contexts, outermost first (Beam wraps a worker's exception)."""
    out: list[BaseException] = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def explain_failure(exc: BaseException) -> str | None:
    """One line for a failure a user can fix (a full disk), or None for a genuine bug."""
    for e in _chain(exc):
        text = str(e)
        m = DISK_FULL_LINE.search(text)
        if m:
            return f"error: {m.group().rstrip()}"
        if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "No space left on device" in text:
            where = f" writing {e.filename}" if isinstance(e, OSError) and e.filename else ""
            return f"error: disk full (no space left on device){where}. Free some space or write --output elsewhere"
    return None


class RunOptions:
    """A stage's options view plus what the runner decided (input files, staging, layout):
    Beam's options views refuse attributes they do not declare."""

    def __init__(self, view: Any):
        self._view = view

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)


def run_stage(argv: list[str] | None, command: Command, build: BuildFn, after: AfterFn | None = None) -> int:
    """Parse flags, load config, build the pipeline with ``build``, run it and print the summary.

    The output takes the dataset lock (a second run on it is refused, exit 3); leftovers of a
    killed run are removed first; everything is written beside the old output and switched in
    at the end (``pipelines.dataset.commit``). ``after(options, config)`` runs once the pipeline has
    finished (e.g. to warn about the output). Settings a user gets wrong end with one line.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    options, view = parse_options(argv, command)
    ours = RunOptions(view)
    setup_logging()
    from lmcore import storage
    from pipelines.dataset import commit

    try:
        config = load_config_or_exit(ours.config, ours.set)
    except SystemExit as exc:
        return int(exc.code or 0)
    ours.output = ours.output.rstrip("/") or ours.output
    try:
        ours.input_files = storage.expand_inputs(ours.input)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return locked_run(
        ours.output,
        command.stage,
        lambda: _run_locked(options, ours, config, command, build, after),
        commit.OWN_DIRS,
    )


def locked_run(
    output: str, stage: str, body: Callable[[], int], within: tuple[str, ...] | None = None
) -> int:
    """Run ``body`` holding ``output``'s lock, after removing what a killed run left there
    (``within``: only those sub-directories; None: the whole output). What a user can fix
    (another run holds the lock, a refused input, a full disk) ends in one line and its exit
    status, never a traceback."""
    from lmcore import storage
    from pipelines.dataset.commit import StageRefused
    from pipelines.dataset.lock import DatasetLock, LockedError

    try:
        with DatasetLock(output) as lock:
            if lock.took_over is not None:
                log.warning(
                    "took over a stale lock left by host %s pid %s", lock.took_over.host, lock.took_over.pid
                )
            removed = storage.remove_stale_temporaries(output, within)
            if removed:
                log.info("%s: removed %d leftover temporary file(s) of a killed run", stage, removed)
            return body()
    except LockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except StageRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except StageFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DISK_FULL
    except Exception as exc:
        line = explain_failure(exc)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return EXIT_DISK_FULL


class StageFailed(RuntimeError):
    """A run that failed for a reason the user can fix; the message is the whole explanation."""


def _run_locked(
    options: Any, ours: Any, config: PipelineConfig, command: Command, build: BuildFn, after: AfterFn | None
) -> int:
    """Build and run into a staging area, switch the outputs in, print the summary."""
    from lmcore import storage
    from lmcore.layout import STATS_FILENAME
    from pipelines.dataset import commit

    final = ours.output
    staging = commit.new_staging_dir(final)
    token_dataset = command.stage == "tokenize"
    if token_dataset:  # shards and tokenizer: new names, then the manifest switch (commit.promote)
        ours.token_layout = commit.prepare_token_output(final)
        ours.accounting_dir = staging
    else:
        ours.output, ours.final_output = staging, final
    try:
        started = time.monotonic()
        pipeline = make_pipeline(options)
        build(pipeline, ours, config)
        try:
            pipeline.run().wait_until_finish()
            forget_listings()  # the workers wrote; this process's cached listings predate that
        except Exception as exc:
            line = explain_failure(exc)
            if line is None:
                raise
            # the file the user will look for: its final name, not the staging one
            raise StageFailed(line.removeprefix("error: ").replace(staging, final)) from None
        elapsed = time.monotonic() - started
        ours.output = final
        if token_dataset:
            commit.promote(final)
        commit.switch_outputs(staging, final, commit.STAGE_OUTPUTS.get(command.stage, ()))
    finally:
        ours.output = final
        storage.remove_tree(staging)
    if after is not None:
        after(ours, config)
    stats_path = storage.join(final, STATS_FILENAME)
    if storage.exists(stats_path):
        stats = json.loads(storage.read_text(stats_path))
        print(format_summary(stats), file=sys.stderr)
        print(f"{command.stage} finished in {elapsed:.1f}s; stats in {stats_path}", file=sys.stderr)
        return 0 if stats.get("balanced") else 1
    print(f"{command.stage} finished in {elapsed:.1f}s", file=sys.stderr)
    return 0

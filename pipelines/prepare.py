"""``python -m pipelines.prepare --input=GLOB --output=DIR``: collect -> clean -> dedup -> tokenize -> shard.

One Beam pipeline, and an incremental one: pointed at the same ``--output`` again, it
processes only input files no earlier version consumed (path + size + mtime/etag),
deduplicates them against everything kept so far (the persisted dedup index), and
commits a new dataset version (see ``pipelines/versions.py``). A run with nothing new
does nothing and says so. Concurrent runs on one output are refused (``pipelines/lock.py``).

Crash safety: everything a version writes lives under its own ``v0000N`` names and the
manifest is written last, so after ``kill -9`` at any moment a re-run deletes the
leftovers and redoes the same deterministic work, ending with the same bytes.
"""

from __future__ import annotations

import json
import logging
import sys
import time

import apache_beam as beam

from pipelines import fsutil, versions
from pipelines.accounting import STATS_FILENAME, chain
from pipelines.clean.transform import CleanDocuments
from pipelines.clock import crash_point
from pipelines.config import ConfigError, PipelineConfig, load_pipeline_config
from pipelines.dedup.transform import DeduplicateDocuments
from pipelines.io.readers import ReadDocuments
from pipelines.lock import DatasetLock, LockedError
from pipelines.options import LmforgeOptions, parse_options
from pipelines.runner import format_summary, make_pipeline, setup_logging
from pipelines.tokenize.transform import WriteTokenDataset
from schemas import Manifest

log = logging.getLogger("lmforge.prepare")
STAGE = "prepare"


class CommitVersion:
    """Manifest sink for ``WriteTokenDataset``: commit the version (inputs, manifest-vN, pointer)."""

    def __init__(self, output_dir: str, files: list[fsutil.InputFile]):
        self.output_dir = output_dir
        self.files = files

    def __call__(self, manifest: Manifest) -> None:
        versions.commit(self.output_dir, manifest, self.files, before_pointer=lambda: crash_point("manifest"))


def _crash_probe(name: str):
    def probe(element):
        crash_point(name)
        return element

    return probe


def build(
    pipeline: beam.Pipeline, opts: LmforgeOptions, config: PipelineConfig, plan: versions.RunPlan
) -> None:
    out, v = opts.output, plan.version
    committed = versions.committed_versions(out)
    read = pipeline | "Read" >> ReadDocuments(config=config.read, files=plan.files)
    docs = read.docs | "CrashWhileReading" >> beam.Map(_crash_probe("read"))
    clean = docs | "Clean" >> CleanDocuments(
        config.clean, report_dir=versions.version_dir(out, versions.STATE_DIR, v)
    )
    dedup = clean.docs | "Dedup" >> DeduplicateDocuments(
        config.dedup,
        index_inputs=[
            fsutil.join(versions.version_dir(out, versions.INDEX_DIR, k), "*.parquet") for k in committed
        ],
        index_output=versions.version_dir(out, versions.INDEX_DIR, v),
        report_dir=versions.version_dir(out, versions.STATE_DIR, v),
    )
    # The fusion break keeps FnApiRunner from fusing dedup's side-input consumers with
    # tokenize's (it stalls with "watermark-pending bundles" otherwise).
    kept = (
        dedup.docs | "CrashDuringDedup" >> beam.Map(_crash_probe("dedup")) | "FusionBreak" >> beam.Reshuffle()
    )
    upstream = chain(read, clean, dedup)._replace(docs=kept)
    dataset = upstream | "TokenDataset" >> WriteTokenDataset(
        out,
        config,
        STAGE,
        opts.keep_dropped,
        shards_dir=f"{versions.SHARDS_DIR}/{versions.version_name(v)}",
        parent=plan.parent,
        manifest_writer=CommitVersion(out, plan.files),
        accounting_dir=versions.version_dir(out, versions.STATE_DIR, v),
    )
    _ = dataset.shards | "CrashWhileWritingShards" >> beam.Map(_crash_probe("shards"))


def sync_latest_stats(out: str) -> None:
    """``DIR/stats.json`` = the accounting of the latest committed version."""
    committed = versions.committed_versions(out)
    if not committed:
        return
    src = fsutil.join(versions.version_dir(out, versions.STATE_DIR, committed[-1]), STATS_FILENAME)
    dst = fsutil.join(out, STATS_FILENAME)
    if fsutil.exists(src) and (not fsutil.exists(dst) or fsutil.read_text(dst) != fsutil.read_text(src)):
        fsutil.atomic_write_text(dst, fsutil.read_text(src))


def run(argv: list[str] | None = None) -> int:
    setup_logging()
    argv = list(sys.argv[1:] if argv is None else argv)
    options, opts = parse_options(argv, LmforgeOptions, __doc__.splitlines()[0])
    try:
        config = load_pipeline_config(opts.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = opts.output.rstrip("/")
    opts.output = out
    try:
        with DatasetLock(out) as lock:
            if lock.took_over is not None:
                log.warning(
                    "took over a stale lock left by host %s pid %s", lock.took_over.host, lock.took_over.pid
                )
            files = fsutil.expand_inputs(opts.input)
            plan = versions.plan_run(out, files)
            if plan.repaired_pointer:
                log.warning("finished an interrupted commit: manifest.json now points at the newest version")
            if plan.nothing_new:
                sync_latest_stats(out)
                latest = versions.committed_versions(out)
                where = f"version {latest[-1]}" if latest else "no version yet"
                print(
                    f"prepare: nothing new in {len(files)} input file(s); {out} stays at {where}",
                    file=sys.stderr,
                )
                return 0
            versions.remove_uncommitted(out, plan.version)
            if plan.parent is not None:  # later versions keep the dataset's tokenizer
                config.tokenize.tokenizer_path = fsutil.join(out, plan.parent.tokenizer.file)
            print(
                f"prepare: version {plan.version} of {out} from {len(plan.files)} new input file(s) "
                f"({sum(f.size for f in plan.files) / 1e6:.1f} MB)"
                + (f" on top of version {plan.parent.version}" if plan.parent else ""),
                file=sys.stderr,
            )
            crash_point("start")
            started = time.monotonic()
            pipeline = make_pipeline(options)
            build(pipeline, opts, config, plan)
            pipeline.run().wait_until_finish()
            elapsed = time.monotonic() - started
    except LockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    stats_path = fsutil.join(versions.version_dir(out, versions.STATE_DIR, plan.version), STATS_FILENAME)
    stats = json.loads(fsutil.read_text(stats_path))
    print(format_summary(stats), file=sys.stderr)
    if plan.version not in versions.committed_versions(out):
        print(f"prepare: version {plan.version} NOT committed (see the summary above)", file=sys.stderr)
        return 1
    sync_latest_stats(out)
    total_mb = sum(f.size for f in plan.files) / 1e6
    print(
        f"prepare: committed version {plan.version} in {elapsed:.1f}s ({total_mb / max(elapsed, 1e-9):.2f} MB/s input); "
        f"manifest {fsutil.join(out, versions.manifest_name(plan.version))}",
        file=sys.stderr,
    )
    return 0 if stats.get("balanced") else 1


def main() -> None:
    raise SystemExit(run())


if __name__ == "__main__":
    main()

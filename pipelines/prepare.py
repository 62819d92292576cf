"""``python -m pipelines.prepare --input=GLOB --output=DIR``: collect -> clean -> dedup -> tokenize -> shard.

One Beam pipeline, and an incremental one: pointed at the same ``--output`` again, it
processes only input files no earlier version consumed (path + size + mtime/etag),
deduplicates them against everything kept so far (the persisted dedup index), and
commits a new dataset version (see ``pipelines/dataset/versions.py``). A run with nothing new
does nothing and says so; ``--reprocess`` reads consumed files again. A run that keeps
no document commits nothing. Concurrent runs on one output are refused (``pipelines/dataset/lock.py``).

Crash safety: everything a version writes lives under its own ``v0000N`` names and the
manifest is written last, so after ``kill -9`` at any moment a re-run deletes the
leftovers and redoes the same deterministic work, ending with the same bytes. The
crash points of the tests (``LMFORGE_CRASH_AT``) sit inside the steps that do the work,
so the pipeline graph has no steps of its own for them.

Beam and the stages are imported inside the functions, so ``--help`` answers at once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from lmcore import layout
from pipelines.stage.options import Command
from pipelines.stage.runner import load_config_or_exit, validation_warning

if TYPE_CHECKING:
    import apache_beam as beam

    from lmcore import storage
    from pipelines.config import PipelineConfig
    from pipelines.dataset import versions
    from schemas import Manifest

log = logging.getLogger("lmforge.prepare")
STAGE = "prepare"
EXIT_EMPTY = 4  # the run kept no document: nothing was committed


def add_prepare_args(parser: Any) -> None:
    """The prepare stage's own flags."""
    parser.add_argument(
        "--reprocess",
        action="append",
        nargs="?",
        const="failed",
        default=None,
        metavar="failed|all|PATH",
        help="read input files again that an earlier version consumed (unchanged path, size and "
        "mtime): 'failed' (also a bare --reprocess) = files with quarantined records, 'all', or a "
        "path/glob; "
        "repeatable. Documents an earlier version kept come out as exact duplicates.",
    )


COMMAND = Command(
    STAGE,
    "Collect -> clean -> dedup -> tokenize -> shard, as one incremental Beam pipeline: each run over "
    "the same --output reads only input files no earlier version consumed, deduplicates them against "
    "everything kept so far and commits a new dataset version.",
    epilog="""\
Writes, under --output (v0000N is the version this run commits):
  manifest.json                        the latest version (a copy of manifest-v0000N.json)
  manifest-v0000N.json                 every committed version: its shards (cumulative) and counts
  tokenizer.json                       trained by version 1, reused by later versions
  shards/v0000N/{train,validation}-IIIII-of-NNNNN.arrow     the shards version N added
  stats.json                           the accounting of the latest run (= state/v0000N/stats.json)
  state/v0000N/inputs.json             the input files version N consumed
  state/v0000N/quarantine/*.jsonl.gz   records that could not be read, with the error
  state/v0000N/dropped/*.jsonl.gz      dropped and duplicate documents (--keep-dropped)
  state/v0000N/clean_losses.json, dedup_boilerplate.json    what clean and dedup removed
  dedup_index/v0000N/                  the dedup index after version N
Then: python -m pipelines.verify DIR; python -m pipelines.report DIR.

Exit status: 0 committed (or nothing new), 1 the counts do not add up (nothing committed),
2 a bad --config, 3 another run holds the dataset's lock, 4 the run kept no document (nothing
committed; the message names the quarantine and drop reasons), 5 the disk filled up (nothing
committed; the message names the file and the space it needed).
""",
    extra_args=add_prepare_args,
)


class CommitVersion:
    """Manifest sink for ``WriteTokenDataset``: commit the version (inputs, manifest-vN, pointer).

    A version that adds no document is not committed: a commit would mark its inputs as
    consumed, and a rerun would then say "nothing new" with no way to redo them.
    """

    def __init__(self, output_dir: str, files: list[storage.InputFile], parent_kept: int = 0):
        self.output_dir = output_dir
        self.files = files
        self.parent_kept = parent_kept

    def __call__(self, manifest: Manifest) -> None:
        from lmcore.faults import crash_point
        from pipelines.dataset import versions

        if manifest.counts.kept <= self.parent_kept:
            log.error("prepare: version %d keeps no document; not committed", manifest.version)
            return
        versions.commit(self.output_dir, manifest, self.files, before_pointer=lambda: crash_point("manifest"))


def ungroup_chunks(keyed: tuple[str, Any]) -> Iterator[tuple[str, list]]:
    """(chunk key, [docs, ...]) after the fusion break -> the (chunk key, docs) chunks again."""
    from lmcore.faults import crash_point

    crash_point("dedup")  # the first deduplicated chunk reaches tokenization
    key, chunks = keyed
    for docs in chunks:
        yield key, docs


def build(pipeline: beam.Pipeline, opts: Any, config: PipelineConfig, plan: versions.RunPlan) -> None:
    import apache_beam as beam

    from lmcore import storage
    from pipelines.clean.transform import CleanDocuments
    from pipelines.dataset import versions
    from pipelines.dedup.transform import DeduplicateDocuments
    from pipelines.io.readers import ReadDocuments
    from pipelines.stage.accounting import chain
    from pipelines.tokenize.transform import WriteTokenDataset

    out, v = opts.output, plan.version
    committed = versions.committed_versions(out)
    state = versions.version_dir(out, layout.STATE_DIR, v)
    read = pipeline | "Read" >> ReadDocuments(config=config.read, files=plan.files)
    clean = read.docs | "Clean" >> CleanDocuments(config.clean, report_dir=state)
    dedup = clean.docs | "Dedup" >> DeduplicateDocuments(
        config.dedup,
        index_inputs=[
            storage.join(versions.version_dir(out, layout.INDEX_DIR, k), "*.parquet") for k in committed
        ],
        index_output=versions.version_dir(out, layout.INDEX_DIR, v),
        report_dir=state,
    )
    # The fusion break (a GroupByKey on the unique chunk keys) keeps FnApiRunner from fusing
    # dedup's side-input consumers with tokenize's (it stalls with "watermark-pending bundles"
    # otherwise).
    kept = dedup.docs | "FusionBreak" >> (beam.GroupByKey() | beam.FlatMap(ungroup_chunks))
    upstream = chain(read, clean, dedup)._replace(docs=kept)
    _ = upstream | "TokenDataset" >> WriteTokenDataset(
        out,
        config,
        STAGE,
        opts.keep_dropped,
        shards_dir=f"{layout.SHARDS_DIR}/{versions.version_name(v)}",
        parent=plan.parent,
        manifest_writer=CommitVersion(out, plan.files, plan.parent.counts.kept if plan.parent else 0),
        accounting_dir=state,
    )


def sync_latest_stats(out: str) -> None:
    """``DIR/stats.json`` = the accounting of the latest committed version."""
    from lmcore import storage
    from lmcore.layout import STATS_FILENAME
    from pipelines.dataset import versions

    committed = versions.committed_versions(out)
    if not committed:
        return
    src = storage.join(versions.version_dir(out, layout.STATE_DIR, committed[-1]), STATS_FILENAME)
    dst = storage.join(out, STATS_FILENAME)
    if storage.exists(src) and (not storage.exists(dst) or storage.read_text(dst) != storage.read_text(src)):
        storage.atomic_write_text(dst, storage.read_text(src))


def empty_version_message(out: str, version: int, counts: Mapping[str, Any]) -> str:
    """Why nothing was committed: the quarantine and drop reasons, and what to do."""
    from lmcore import storage
    from pipelines.dataset import versions

    state = versions.version_dir(out, layout.STATE_DIR, version)
    lines = [
        f"prepare: version {version} NOT committed: its {counts.get('input', 0):,} input record(s) "
        "gave no document to keep"
    ]
    for bucket in ("quarantined", "dropped", "duplicates"):
        reasons = sorted(counts.get(bucket, {}).items(), key=lambda kv: (-kv[1], kv[0]))
        if reasons:
            lines.append(f"  {bucket}: " + ", ".join(f"{reason} {n:,}" for reason, n in reasons))
    if counts.get("quarantined"):
        lines.append(
            f"  the quarantine records, with each error: {storage.join(state, layout.QUARANTINE_DIR)}/"
        )
    if "unsupported_format" in counts.get("quarantined", {}):
        lines.append(
            "  unsupported_format: the format comes from the file name; give the files a known extension "
            "(.jsonl, .jsonl.gz, .parquet, .txt, .html, .warc, optionally .gz/.zst)"
        )
    lines.append(
        "  Fix the inputs and run again (changed files are read again by themselves; "
        "--reprocess=failed|all|PATH reads unchanged ones again)."
    )
    return "\n".join(lines)


def _plan(out: str, opts: Any) -> versions.RunPlan:
    """What this run reads (new inputs, plus --reprocess); says so when that is nothing."""
    from lmcore import storage
    from pipelines.dataset import versions

    files = storage.expand_inputs(opts.input)
    plan = versions.plan_run(out, files, opts.reprocess or ())
    if plan.repaired_pointer:
        log.warning("finished an interrupted commit: manifest.json now points at the newest version")
    if plan.nothing_new:
        sync_latest_stats(out)
        latest = versions.committed_versions(out)
        where = f"version {latest[-1]}" if latest else "no version yet"
        print(
            f"prepare: nothing new in {len(files)} input file(s); {out} stays at {where} "
            "(--reprocess=failed|all|PATH reads consumed files again)",
            file=sys.stderr,
        )
    return plan


def _execute(options: Any, opts: Any, config: PipelineConfig, plan: versions.RunPlan) -> float:
    """Run the pipeline for ``plan``; return the seconds it took."""
    from lmcore import storage
    from lmcore.faults import crash_point
    from pipelines.dataset import versions
    from pipelines.stage.listings import forget_listings
    from pipelines.stage.runner import make_pipeline

    out = opts.output
    versions.remove_uncommitted(out, plan.version)
    if plan.parent is not None:  # later versions keep the dataset's tokenizer
        config.tokenize.tokenizer_path = storage.join(out, plan.parent.tokenizer.file)
    again = f", {len(plan.reprocessed)} of them read again (--reprocess)" if plan.reprocessed else ""
    print(
        f"prepare: version {plan.version} of {out} from {len(plan.files)} new input file(s) "
        f"({sum(f.size for f in plan.files) / 1e6:.1f} MB{again})"
        + (f" on top of version {plan.parent.version}" if plan.parent else ""),
        file=sys.stderr,
    )
    crash_point("start")
    started = time.monotonic()
    pipeline = make_pipeline(options)
    build(pipeline, opts, config, plan)
    pipeline.run().wait_until_finish()
    forget_listings()  # the workers wrote the version; listings cached before would hide it
    return time.monotonic() - started


def _finish(opts: Any, config: PipelineConfig, plan: versions.RunPlan, elapsed: float) -> int:
    """Report the run: the summary, why nothing was committed, or the commit and its warnings."""
    from lmcore import storage
    from lmcore.layout import STATS_FILENAME
    from pipelines.dataset import versions
    from pipelines.stage.runner import format_summary
    from schemas import load_manifest

    out = opts.output
    stats_path = storage.join(versions.version_dir(out, layout.STATE_DIR, plan.version), STATS_FILENAME)
    stats = json.loads(storage.read_text(stats_path))
    print(format_summary(stats), file=sys.stderr)
    if plan.version not in versions.committed_versions(out):
        if stats["counts"].get("kept", 0) == 0 and stats.get("balanced"):
            if not versions.committed_versions(out):  # a tokenizer trained on nothing
                storage.remove(storage.join(out, layout.TOKENIZER_FILENAME))
            print(empty_version_message(out, plan.version, stats["counts"]), file=sys.stderr)
            return EXIT_EMPTY
        print(f"prepare: version {plan.version} NOT committed (see the summary above)", file=sys.stderr)
        return 1
    sync_latest_stats(out)
    total_mb = sum(f.size for f in plan.files) / 1e6
    print(
        f"prepare: committed version {plan.version} in {elapsed:.1f}s ({total_mb / max(elapsed, 1e-9):.2f} MB/s input); "
        f"manifest {storage.join(out, versions.manifest_name(plan.version))}",
        file=sys.stderr,
    )
    manifest = load_manifest(storage.join(out, versions.manifest_name(plan.version))).to_dict()
    warning = validation_warning(manifest, dataclasses.asdict(config.tokenize))
    if warning:
        print(f"prepare: {warning}", file=sys.stderr)
    return 0 if stats.get("balanced") else 1


def run(argv: list[str] | None = None) -> int:
    from pipelines.stage.options import parse_options

    argv = list(sys.argv[1:] if argv is None else argv)
    options, opts = parse_options(argv, COMMAND)
    from pipelines.stage.runner import locked_run, setup_logging

    setup_logging()
    try:
        config = load_config_or_exit(opts.config, opts.set)
    except SystemExit as exc:
        return int(exc.code or 0)
    opts.output = out = opts.output.rstrip("/")

    def body() -> int:
        try:
            plan = _plan(out, opts)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if plan.nothing_new:
            return 0
        elapsed = _execute(options, opts, config, plan)
        return _finish(opts, config, plan, elapsed)

    # a killed run's ._tmp-* files go from the whole dataset, even if nothing is new
    return locked_run(out, STAGE, body)


def main() -> None:
    raise SystemExit(run())


if __name__ == "__main__":
    main()

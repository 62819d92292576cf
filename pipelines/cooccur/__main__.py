"""``python -m pipelines.cooccur --documents DIR --output OUT``: GloVe's co-occurrence counts, as a Beam job.

Reads the documents of DIR (``DIR/documents/*.parquet``, as ``pipelines.clean``/``dedup``
write them), splits them into words (``lmcore.words``) and writes OUT (see
``schemas/cooccurrence.py``): ``part-*.arrow`` (i, j, x), ``vocab.tsv`` and, last,
``manifest.json``. Anything else on the command line goes to Beam (``--runner``,
``--direct_running_mode=multi_processing --direct_num_workers=N``...).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from typing import Any

from lmcore import storage
from lmcore.documents import NoDocumentsError, describe, find_document_files
from pipelines.cooccur.counting import MAX_WINDOW
from pipelines.stage.options import HelpFormatter, quiet_beam_import
from pipelines.stage.runner import EXIT_BAD_INPUT, locked_run, make_pipeline, setup_logging
from schemas.cooccurrence import (
    COOCCURRENCE_KIND,
    COOCCURRENCE_MANIFEST_FILENAME,
    VOCAB_FILENAME,
    CooccurrenceError,
    CooccurrenceManifest,
)

PROG = "python -m pipelines.cooccur"
EPILOG = f"""\
Writes, under --output (the manifest last, so a reader never sees a half-written directory):
  part-0000B-of-0000N.arrow   rows (i int32, j int32, x float64) with i % N == B, sorted by (i, j)
  vocab.tsv                   word<TAB>count; word id = line number (count descending, then word)
  manifest.json               settings, documents, words, vocabulary size, nonzeros, the parts

x sums 1/d over every occurrence of word j at distance d <= --window (in-vocabulary words
apart) from word i, within a document; symmetric. Sums are exact (integers over
lcm(1..window)), so the files are byte-identical for any runner, worker count or --num-parts
split of the same rows. Memory: one row group's pairs per worker and one part per merge;
raise --num-parts for a bigger corpus (a part's nonzeros x 16 bytes must fit a worker).

--output must be empty, new, or an earlier co-occurrence output (replaced). Exit status:
0 ok, 2 bad options or documents, 3 another run holds --output, 5 the disk filled up.

Beam options: any other flag goes to Beam, for example --runner=PortableRunner
--job_endpoint=localhost:8099, or --direct_running_mode=multi_processing
--direct_num_workers=4. Without --runner the pipeline runs in-process on Beam's FnApiRunner.
Window: 1..{MAX_WINDOW}.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Count word co-occurrences for GloVe (lm_train.word2vec --algorithm=glove).",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("--documents", required=True, help="a clean/dedup output directory (documents/*.parquet)")
    p.add_argument(
        "--output", required=True, help="the co-occurrence directory to write (local or fsspec URL)"
    )
    p.add_argument("--window", type=int, default=10, help="context words on each side")
    p.add_argument(
        "--min-count",
        "--min_count",
        dest="min_count",
        type=int,
        default=5,
        help="vocabulary: words seen at least this often",
    )
    p.add_argument(
        "--max-vocab",
        "--max_vocab",
        dest="max_vocab",
        type=int,
        default=None,
        help="vocabulary: at most this many words (the most frequent)",
    )
    p.add_argument(
        "--num-parts",
        "--num_parts",
        dest="num_parts",
        type=int,
        default=8,
        help="output files (and merge buckets)",
    )
    return p


def check_args(args: argparse.Namespace) -> str | None:
    """The first bad option, as the line to print, or None."""
    if not 1 <= args.window <= MAX_WINDOW:
        return f"--window must be 1..{MAX_WINDOW}, got {args.window}"
    if args.min_count < 1:
        return f"--min-count must be at least 1, got {args.min_count}"
    if args.max_vocab is not None and args.max_vocab < 1:
        return f"--max-vocab must be at least 1, got {args.max_vocab}"
    if not 1 <= args.num_parts <= 65536:
        return f"--num-parts must be 1..65536, got {args.num_parts}"
    return None


def is_own_name(name: str) -> bool:
    return (
        name in (COOCCURRENCE_MANIFEST_FILENAME, VOCAB_FILENAME)
        or (name.startswith("part-") and name.endswith(".arrow"))
        or name.startswith(storage.TMP_PREFIX)
        or name == ".lmforge.lock"
    )


def refuse_output(output: str) -> str | None:
    """Why ``output`` must not be written (it holds something else), or None."""
    names = storage.list_names(output)
    other = [n for n in names if not is_own_name(n)]
    if other:
        return (
            f"--output {output} holds files that are not a co-occurrence output ({', '.join(other[:3])}); "
            "choose an empty or new directory"
        )
    if COOCCURRENCE_MANIFEST_FILENAME in names:
        try:
            CooccurrenceManifest.from_json(
                storage.read_text(storage.join(output, COOCCURRENCE_MANIFEST_FILENAME))
            )
        except CooccurrenceError:
            return f"--output {output} holds a {COOCCURRENCE_MANIFEST_FILENAME} that is not a {COOCCURRENCE_KIND} manifest"
    return None


def work_units(files: list[str]) -> tuple[list[tuple[str, int, int, int]], int]:
    """One element per row group (path, index, its share of the file's bytes, its rows), and the
    total bytes."""
    units, total = [], 0
    for path in files:
        info = describe(path)
        total += info.size
        groups = max(info.num_row_groups, 1)
        rows = info.num_rows // groups
        units += [(path, g, info.size // groups, rows) for g in range(info.num_row_groups)]
    return units, total


def publish(staging: str, output: str) -> None:
    """Replace the old output by the new files: old manifest first (so a reader never sees a mix),
    then the old parts and vocabulary, then the new parts and vocabulary, the new manifest last."""
    fs, _ = storage.get_fs(output)
    storage.remove(storage.join(output, COOCCURRENCE_MANIFEST_FILENAME))
    for name in storage.list_names(output):
        if name == VOCAB_FILENAME or (name.startswith("part-") and name.endswith(".arrow")):
            storage.remove(storage.join(output, name))
    names = storage.list_names(staging)
    for name in [n for n in names if n != COOCCURRENCE_MANIFEST_FILENAME] + [COOCCURRENCE_MANIFEST_FILENAME]:
        src, dst = (
            storage.get_fs(storage.join(staging, name))[1],
            storage.get_fs(storage.join(output, name))[1],
        )
        fs.mv(src, dst)
    storage.remove_tree(staging)


def format_summary(m: CooccurrenceManifest, seconds: float, output: str) -> str:
    rate = m.tokens / seconds if seconds > 0 else 0.0
    return "\n".join(
        [
            "cooccur summary:",
            f"  documents            {m.documents:>14,}",
            f"  words                {m.tokens:>14,}",
            f"  vocabulary           {m.vocab_size:>14,}  (min count {m.min_count}"
            + (f", at most {m.max_vocab:,}" if m.max_vocab else "")
            + ")",
            f"  in-vocabulary words  {m.vocab_tokens:>14,}",
            f"  nonzeros             {m.nonzeros:>14,}  in {len(m.parts)} part(s), window {m.window}",
            f"cooccur finished in {seconds:.1f}s ({rate:,.0f} words/s, both passes); manifest in "
            f"{storage.join(output, COOCCURRENCE_MANIFEST_FILENAME)}",
        ]
    )


def run(args: argparse.Namespace, beam_argv: list[str], files: list[str]) -> int:
    quiet_beam_import()
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.cooccur.transform import CountCooccurrences

    output = args.output
    staging = storage.join(output, f"{storage.TMP_PREFIX}run-{uuid.uuid4().hex[:12]}")
    started = time.monotonic()
    units, total_bytes = work_units(files)
    print(
        f"cooccur: {len(files)} file(s), {len(units)} row group(s), {total_bytes / 1e6:.1f} MB of Parquet; "
        f"window {args.window}, min count {args.min_count}, {args.num_parts} part(s)",
        file=sys.stderr,
    )
    import apache_beam as beam

    try:
        pipeline = make_pipeline(PipelineOptions(beam_argv))
        _ = (
            pipeline
            | "Units" >> beam.Create(units)
            | "Cooccur"
            >> CountCooccurrences(
                staging, args.window, args.min_count, args.max_vocab, args.num_parts, total_bytes or None
            )
        )
        pipeline.run().wait_until_finish()
        publish(staging, output)
    finally:
        storage.remove_tree(staging)
    seconds = time.monotonic() - started
    manifest = CooccurrenceManifest.from_json(
        storage.read_text(storage.join(output, COOCCURRENCE_MANIFEST_FILENAME))
    )
    print(format_summary(manifest, seconds, output), file=sys.stderr)
    if manifest.vocab_size == 0:
        print(
            f"warning: no word occurs {args.min_count} times: the vocabulary is empty (lower --min-count)",
            file=sys.stderr,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if any(a in ("-h", "--help") for a in argv):
        parser.print_help()
        return 0
    try:
        args, beam_argv = parser.parse_known_args(argv)
    except SystemExit as exc:  # argparse printed the usage and the error
        return int(exc.code or 0)
    problem = check_args(args)
    if problem is None:
        args.output = args.output.rstrip("/") or args.output
        problem = refuse_output(args.output)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        files = find_document_files(args.documents)
    except NoDocumentsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    setup_logging()
    return locked_run(args.output, "cooccur", lambda: run(args, beam_argv, files))


def _entry() -> Any:  # pragma: no cover
    raise SystemExit(main())


if __name__ == "__main__":
    _entry()

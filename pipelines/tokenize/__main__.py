"""``python -m pipelines.tokenize --input=DOCS --output=DIR``: tokenizer, token shards, manifest.

Reads documents (normally ``DIR/documents/*.parquet`` of ``clean`` or ``dedup``; any
format the readers know works), trains a byte-level BPE on a deterministic sample or
loads ``tokenize.tokenizer_path``, and writes ``DIR/shards/{train,validation}-*.arrow``,
``DIR/tokenizer.json``, ``DIR/stats.json`` and, last, ``DIR/manifest.json``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from pipelines.stage.options import Command
from pipelines.stage.runner import run_stage, validation_warning

if TYPE_CHECKING:
    import apache_beam as beam

    from pipelines.config import PipelineConfig

COMMAND = Command(
    "tokenize",
    "Train or load a byte-level BPE tokenizer, tokenize documents and write Arrow token shards.",
    epilog="""\
Writes, under --output:
  shards/{train,validation}-IIIII-of-NNNNN.arrow   token shards (Arrow IPC files)
  tokenizer.json, stats.json, manifest.json        (the manifest last: it lists the shards)
  quarantine/*.jsonl.gz, dropped/*.jsonl.gz        (dropped/ with --keep-dropped)
The validation split: documents whose stable id hash falls below tokenize.validation_fraction,
at least tokenize.min_validation_docs of them (see --print-config).

Over an existing dataset, the new files are written beside the old ones and manifest.json is
replaced last: a run killed at any moment leaves the previous dataset usable.

Exit status: 0 ok, 1 the counts do not add up, 2 a bad --config, --input or tokenize setting, 3
another run holds the output's lock, 5 the disk filled up (the previous dataset stays as it was).
""",
)


def build(pipeline: beam.Pipeline, opts: Any, config: PipelineConfig) -> None:
    import apache_beam as beam

    from pipelines.dataset.commit import TokenLayout
    from pipelines.io.ids import UniqueIds
    from pipelines.io.readers import ReadDocuments
    from pipelines.tokenize.transform import WriteTokenDataset

    try:
        config.tokenize.check()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    read = pipeline | "Read" >> ReadDocuments(
        opts.input, config.read, files=getattr(opts, "input_files", None)
    )
    layout = getattr(opts, "token_layout", None) or TokenLayout()
    # documents not deduplicated (raw input, clean's output) may share ids: a shard needs unique ones
    docs, id_counts = read.docs | "UniqueIds" >> UniqueIds()
    counts = (read.counts, id_counts) | "ReadCounts" >> beam.Flatten()
    read._replace(docs=docs, counts=counts) | "TokenDataset" >> WriteTokenDataset(
        opts.output,
        config,
        "tokenize",
        opts.keep_dropped,
        shards_dir=layout.shards_dir,
        accounting_dir=getattr(opts, "accounting_dir", None),
        tokenizer_file=layout.tokenizer_file,
    )


def warn_small_validation(opts: Any, config: PipelineConfig) -> None:
    """Say so when the validation split came out too small to be useful."""
    import dataclasses

    from schemas import ManifestError, load_manifest

    try:
        manifest = load_manifest(opts.output).to_dict()
    except (ManifestError, OSError):
        return
    warning = validation_warning(manifest, dataclasses.asdict(config.tokenize))
    if warning:
        print(f"tokenize: {warning}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    return run_stage(argv, COMMAND, build, after=warn_small_validation)


if __name__ == "__main__":
    raise SystemExit(main())

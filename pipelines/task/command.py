"""The ``prepare_task`` command: flags, settings, the lock, and the write-new-then-switch run.

It runs like the tokenize stage (``pipelines.stage.runner``): new shards beside an existing
dataset's, ``manifest.json`` replaced last, accounting switched in from a staging area. Its
settings are ``TaskPipelineConfig`` (``read`` and ``task`` sections), so ``--config``,
``--set`` and ``--print-config`` go through ``pipelines.task.config`` instead.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.stage.options import Command, light_parser

STAGE = "prepare_task"
ACCOUNTING_OUTPUTS = ("quarantine", "dropped", "stats.json")
# --flag -> task.<key>
FLAG_KEYS = {
    "task": "kind",
    "text_field": "text_field",
    "label_field": "label_field",
    "source_field": "source_field",
    "target_field": "target_field",
    "split_field": "split_field",
}


def add_task_args(group: Any) -> None:
    group.add_argument(
        "--task",
        default=None,
        help="the task kind: classification or pairs (task.kind; default classification)",
    )
    group.add_argument(
        "--tokenizer",
        default=None,
        metavar="PRETRAIN_DATASET_DIR",
        help="the pretraining token dataset whose tokenizer.json is used and copied (same sha256)",
    )
    group.add_argument(
        "--text-field", "--text_field", dest="text_field", default=None, help="task.text_field"
    )
    group.add_argument(
        "--label-field", "--label_field", dest="label_field", default=None, help="task.label_field"
    )
    group.add_argument(
        "--source-field",
        "--source_field",
        dest="source_field",
        default=None,
        help="task.source_field: pairs, the input field of the source text (default source)",
    )
    group.add_argument(
        "--target-field",
        "--target_field",
        dest="target_field",
        default=None,
        help="task.target_field: pairs, the input field of the target text (default target)",
    )
    group.add_argument(
        "--split-field",
        "--split_field",
        dest="split_field",
        default=None,
        help="task.split_field: an input field naming each record's split (train/validation/test)",
    )


COMMAND = Command(
    STAGE,
    "Turn labelled records or text pairs (JSONL, CSV, TSV, Parquet) into a task dataset: "
    "normalised, exact duplicates removed, tokenized with a pretraining dataset's tokenizer, split "
    "into train/validation/test (classification: stratified by label; pairs: by the source's "
    "hash, a source in one split only), token shards with a label (or target) column.",
    epilog="""\
Writes, under --output:
  shards/{train,validation,test}-IIIII-of-NNNNN.arrow   token shards with a 'label' column
     (--task=pairs: 'tokens' the source side, a 'target' column the target side; both end
     with the end-of-document id)
  tokenizer.json (the pretraining dataset's, byte for byte), stats.json, manifest.json (last;
  its 'task' field lists the labels in id order and the examples per split and label, or
  for pairs the examples per split)
  quarantine/*.jsonl.gz, dropped/*.jsonl.gz (with --keep-dropped)
Where records go (classification): kept; duplicates/exact (same normalised text, same
label); dropped/label_conflict (same text, different labels: every such record);
quarantined/ empty_text, missing_label, bad_label, unknown_label (not in task.labels),
missing_split, bad_split, too_long (task.max_tokens), tokenize_error, and the readers'
reasons (bad_json, bad_row, bad_csv, missing_text, ...).
Pairs: kept (every distinct target of a source, all in the source's split);
duplicates/exact (same normalised source and target); dropped/split_conflict (a split
field puts one source in two splits: every such record); quarantined/ missing_source,
bad_source, empty_source, missing_target, bad_target, empty_target, missing_split,
bad_split, too_long (either side), tokenize_error, and the readers' reasons.
See docs/tasks.md.
Settings: sections read and task (--print-config); flags override them.
Exit status: 0 ok, 1 the counts do not add up, 2 a bad setting, --input or --tokenizer,
3 another run holds the output's lock, 5 the disk filled up.
""",
    extra_args=add_task_args,
)


def flag_overrides(ours: Any) -> dict[str, Any]:
    """The task settings given as flags, as a ``{"task": {...}}`` override."""
    task = {key: getattr(ours, flag) for flag, key in FLAG_KEYS.items() if getattr(ours, flag, None)}
    return {"task": task} if task else {}


def load_config(ours: Any) -> Any:
    from lmcore.config import merge, parse_overrides
    from pipelines.task.config import load_task_config

    overrides: Mapping[str, Any] = merge(parse_overrides(ours.set or []), flag_overrides(ours))
    return load_task_config(ours.config, overrides)


def config_yaml(config: Any) -> str:
    import yaml

    from lmcore.config import to_dict
    from pipelines.stage.options import _plain

    return yaml.safe_dump(
        _plain(to_dict(config)), sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def _error(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = light_parser(COMMAND)
    if any(a in ("-h", "--help") for a in argv):
        parser.print_help()
        return 0
    ours, beam_args = parser.parse_known_args(argv)
    from lmcore.config import ConfigError

    try:
        config = load_config(ours)
    except ConfigError as exc:
        return _error(str(exc))
    if ours.print_config:
        sys.stdout.write(config_yaml(config))
        return 0
    missing = [flag for flag in ("input", "output", "tokenizer") if not getattr(ours, flag)]
    if missing:
        parser.print_usage(sys.stderr)
        return _error(f"{' and '.join('--' + m for m in missing)} required (see --help)")
    from pipelines.stage.options import quiet_beam_import

    quiet_beam_import()
    from apache_beam.options.pipeline_options import PipelineOptions

    # Beam gets only the flags that are not ours (--runner, --direct_num_workers, ...)
    return run(PipelineOptions(beam_args), ours, config)


def run(options: Any, view: Any, config: Any) -> int:
    """Lock the output, check the inputs and the tokenizer, run, switch the outputs in."""
    from lmcore import storage
    from pipelines.dataset import commit
    from pipelines.stage.runner import locked_run, setup_logging
    from pipelines.task.tokenizer import TokenizerSourceError, pretraining_tokenizer

    setup_logging()
    output = view.output.rstrip("/") or view.output
    try:
        files = storage.expand_inputs(view.input)
    except FileNotFoundError as exc:
        return _error(str(exc))
    try:
        tokenizer = pretraining_tokenizer(view.tokenizer)
    except TokenizerSourceError as exc:
        return _error(str(exc))
    return locked_run(
        output, STAGE, lambda: _run_locked(options, view, config, output, files, tokenizer), commit.OWN_DIRS
    )


def _run_locked(options: Any, view: Any, config: Any, output: str, files: list, tokenizer: Any) -> int:
    import apache_beam as beam

    from lmcore import storage
    from lmcore.layout import STATS_FILENAME
    from pipelines.dataset import commit
    from pipelines.io.ids import UniqueIds
    from pipelines.stage.runner import format_summary, make_pipeline
    from pipelines.task.read import ReadLabelled
    from pipelines.task.transform import WriteTaskDataset

    layout = commit.prepare_token_output(output)
    staging = commit.new_staging_dir(output)
    started = time.monotonic()
    try:
        pipeline = make_pipeline(options)
        read = pipeline | "Read" >> ReadLabelled(files, config, "read")
        docs, id_counts = read.docs | "UniqueIds" >> UniqueIds()
        counts = (read.counts, id_counts) | "ReadCounts" >> beam.Flatten()
        read._replace(docs=docs, counts=counts) | "TaskDataset" >> WriteTaskDataset(
            output,
            config,
            tokenizer,
            view.keep_dropped,
            shards_dir=layout.shards_dir,
            tokenizer_file=layout.tokenizer_file,
            accounting_dir=staging,
        )
        pipeline.run().wait_until_finish()
        commit.promote(output)
        commit.switch_outputs(staging, output, ACCOUNTING_OUTPUTS)
    finally:
        storage.remove_tree(staging)
    stats = json.loads(storage.read_text(storage.join(output, STATS_FILENAME)))
    print(format_summary(stats), file=sys.stderr)
    print(f"{STAGE} finished in {time.monotonic() - started:.1f}s; dataset in {output}", file=sys.stderr)
    return 0 if stats.get("balanced") else 1

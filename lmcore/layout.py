"""Every file and folder name of a dataset directory and a run directory, defined once.

A dataset directory (``pipelines`` writes it, ``lm_train`` reads it)::

    manifest.json  manifest-v0000N.json  tokenizer.json  stats.json
    documents/part-*.parquet        shards/[v0000N/]{train,validation}-*.arrow
    state/v0000N/{inputs.json,stats.json,clean_losses.json,dedup_boilerplate.json,dedup_contamination.json}
    quarantine/  dropped/  dedup_index/  .lmforge-index/  .lmforge.lock  .lmforge-next/

A run directory (``lm_train.train`` writes it)::

    config.yaml  run.json  tokenizer.json  metrics.jsonl  tensorboard/  checkpoints/  report.html
"""

from __future__ import annotations

# -- dataset directory ---------------------------------------------------------------------
TOKENIZER_FILENAME = "tokenizer.json"
STATS_FILENAME = "stats.json"
INPUTS_FILENAME = "inputs.json"  # state/v0000N/: the input files a version consumed
LOSSES_FILENAME = "clean_losses.json"  # the kept documents clean cut the most
BOILERPLATE_FILENAME = "dedup_boilerplate.json"  # the most frequent boilerplate lines
CONTAMINATION_FILENAME = "dedup_contamination.json"  # documents dropped for sharing text with a task
DOCUMENTS_DIR = "documents"
SHARDS_DIR = "shards"
STATE_DIR = "state"
INDEX_DIR = "dedup_index"
QUARANTINE_DIR = "quarantine"
DROPPED_DIR = "dropped"
INDEX_CACHE_DIR = ".lmforge-index"  # the loader's sample index, beside the shards
LOCK_FILENAME = ".lmforge.lock"
NEXT_DIR = ".lmforge-next"  # a standalone stage's output before it replaces the old one
REPORT_HTML = "report.html"
REPORT_JSON = "report.json"

# -- run directory ---------------------------------------------------------------------------
CONFIG_FILENAME = "config.yaml"
RUN_FILENAME = "run.json"
METRICS_FILENAME = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
CKPT_DIR = "checkpoints"

__all__ = [name for name in dir() if name.isupper()]

"""Every file and folder name of a dataset directory and a run directory, defined once.

A dataset directory (``pipelines`` writes it, ``lm_train`` reads it)::

    manifest.json  manifest-v0000N.json  tokenizer.json  stats.json
    documents/part-*.parquet        shards/[v0000N/]{train,validation}-*.arrow
    state/v0000N/{inputs.json,stats.json,clean_losses.json,dedup_boilerplate.json,dedup_contamination.json}
    quarantine/  dropped/  dedup_index/  .lmforge-index/  .lmforge.lock  .lmforge-next/

A run directory (``lm_train.train`` writes it)::

    config.yaml  run.json  tokenizer.json  metrics.jsonl  tensorboard/  checkpoints/  report.html
    eval-<split>.json  embeddings/{vectors.kv,vectors.txt}  eval-embeddings.json

A word-embedding run directory (``lm_train.word2vec`` writes it)::

    embeddings.json  vectors.kv[.vectors.npy]  vectors.txt  eval-embeddings.json  report.html
    cooccurrence/ (GloVe: manifest.json, vocab.tsv, part-*.arrow; ``pipelines.cooccur`` writes it)
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

# -- word embeddings ---------------------------------------------------------------------------
EMBEDDINGS_META_FILENAME = "embeddings.json"  # what trained the vectors: algorithm, settings, corpus
VECTORS_KV_FILENAME = "vectors.kv"  # gensim KeyedVectors.save (numpy arrays beside it)
VECTORS_TXT_FILENAME = "vectors.txt"  # the word2vec text format
EMBEDDINGS_EVAL_FILENAME = "eval-embeddings.json"  # word similarity, analogies, coverage
EMBEDDINGS_DIR = "embeddings"  # a trainer run's exported token embeddings
COOCCURRENCE_DIR = "cooccurrence"  # GloVe's co-occurrence counts

__all__ = [name for name in dir() if name.isupper()]

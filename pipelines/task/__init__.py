"""Labelled task datasets (``python -m pipelines.prepare_task``): read, normalise, deduplicate,
tokenize with a pretraining dataset's tokenizer, split by label, write shards with labels."""

"""Tokenizer training, batched tokenization and deterministic Arrow token shards."""

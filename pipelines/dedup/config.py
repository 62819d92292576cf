"""Settings for the dedup stage (the ``dedup:`` section of ``--config``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DedupConfig:
    exact: bool = True  # hash of normalised text
    boilerplate: bool = True  # C4-style lines repeated across documents
    fuzzy: bool = True  # MinHash LSH
    # boilerplate lines
    boilerplate_min_docs: int = 5  # a line in at least this many documents is boilerplate
    boilerplate_min_chars: int = 10  # shorter lines are never considered
    min_chars_after_boilerplate: int = 50  # documents left shorter are dropped
    # MinHash LSH
    threshold: float = 0.8  # Jaccard similarity that makes two documents duplicates
    num_perm: int = 256
    seed: int = 1
    word_ngram: int = 5  # shingles for space-separated languages
    char_ngram: int = 5  # shingles for Chinese/Japanese
    false_positive_weight: float = 0.3  # band x row choice (datasketch's optimiser): favour recall,
    false_negative_weight: float = 0.7  # since verification removes false positives
    verify: bool = True  # check candidate pairs against the full signatures
    verify_min_jaccard: float = 0.75  # estimated Jaccard a verified pair must reach
    index_files: int = 4  # Parquet files of the persisted index written per run

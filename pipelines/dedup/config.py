"""Settings for the dedup stage (the ``dedup:`` section of ``--config``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lmcore.config import at_least, in_range, one_of, require

VERIFY_MODES = ("exact", "signature", "none")
BOILERPLATE_SCOPES = ("edges", "anywhere")
# the bands x rows search grows with num_perm, and a signature costs 4 bytes per permutation
# per document (in every shuffle and in the index)
MAX_NUM_PERM = 4096
# shorter n-grams are shared by unrelated texts (set phrases, names, numbers): decontamination
# would drop innocent documents by the thousand
MIN_DECONTAMINATE_NGRAM = 5
# where the decontamination summary goes (beside dedup_boilerplate.json)


@dataclass
class DedupConfig:
    exact: bool = True  # hash of normalised text (case, punctuation and spacing ignored)
    boilerplate: bool = True  # C4-style lines repeated across documents
    fuzzy: bool = True  # MinHash LSH
    # boilerplate lines
    boilerplate_min_docs: int = 5  # a line found in at least this many documents is boilerplate
    boilerplate_min_chars: int = 10  # shorter lines are never considered
    min_chars_after_boilerplate: int = 50  # documents that lost lines and are now shorter are dropped
    # "edges": only runs of boilerplate lines at a document's start and end (headers,
    # navigation, footers); "anywhere": wherever they are (C4)
    boilerplate_scope: str = "edges"
    # MinHash LSH
    # Jaccard similarity of shingle sets that makes two documents duplicates. Measured on real
    # documents with realistic edits (bench/bench_dedup_quality.py): a few typos or 2-3 % of
    # words edited already bring word 5-gram Jaccard under 0.8, and different real documents
    # stay under 0.5; word 3-grams at 0.6 find 99 % of such copies at 99.5 % precision
    threshold: float = 0.6
    num_perm: int = 128
    seed: int = 1
    word_ngram: int = 3  # word shingles for space-separated languages
    char_ngram: int = 5  # character shingles for Chinese/Japanese
    # bands x rows: datasketch's optimiser with these weights; recall-heavy because every
    # candidate pair is verified afterwards, which removes the extra false positives
    false_positive_weight: float = 0.02
    false_negative_weight: float = 0.98
    # candidate verification: "exact" (Jaccard of the shingle sets >= threshold; pairs with a
    # document of an earlier run use the signature estimate), "signature" (estimated Jaccard
    # from the full signatures >= signature_min_jaccard), or "none" (every LSH candidate)
    verify: str = "exact"
    signature_min_jaccard: float = 0.55  # a little below threshold: absorbs the estimator's noise
    shuffle_shards: int = 32  # hash shards of the exact/band/line shuffles (numpy batches per chunk)
    index_files: int = 4  # Parquet files of the persisted index written per run
    # threads per worker for packing, shingling, MinHash and candidate recomputation: that
    # work releases the GIL, so it keeps another core busy while Beam runs on the calling
    # thread (1 = everything on the calling thread)
    threads: int = 2
    # decontamination: task datasets (their validation and test splits) or raw files of any
    # readable format whose texts must not be in the pretraining data; a document sharing
    # one n-gram of decontaminate_ngram tokens with them is dropped (dropped/contaminated).
    # What each kind of entry contributes: pipelines/dedup/references.py. Empty: off. A
    # single string is one entry (--set dedup.decontaminate=DIR)
    decontaminate: list[str] | str = field(default_factory=list)
    decontaminate_ngram: int = 13  # tokens: words, or single Chinese/Japanese characters

    def __post_init__(self) -> None:
        """Every value is checked when the config is loaded: a bad one would otherwise fail
        in a worker (or, for a zero size, divide by zero) after the read."""
        one_of(self.verify, VERIFY_MODES, "dedup.verify")
        one_of(self.boilerplate_scope, BOILERPLATE_SCOPES, "dedup.boilerplate_scope")
        # a line "found in 1 document" would make every line boilerplate
        at_least(self.boilerplate_min_docs, "dedup.boilerplate_min_docs", 2)
        at_least(self.boilerplate_min_chars, "dedup.boilerplate_min_chars", 0)
        at_least(self.min_chars_after_boilerplate, "dedup.min_chars_after_boilerplate", 0)
        in_range(self.threshold, "dedup.threshold", 0, 1, low_open=True)
        in_range(self.num_perm, "dedup.num_perm", 1, MAX_NUM_PERM)
        in_range(self.seed, "dedup.seed", 0, 2**32 - 1)  # numpy's RandomState seeds datasketch
        at_least(self.word_ngram, "dedup.word_ngram", 1)
        at_least(self.char_ngram, "dedup.char_ngram", 1)
        in_range(self.false_positive_weight, "dedup.false_positive_weight", 0, 1)
        in_range(self.false_negative_weight, "dedup.false_negative_weight", 0, 1)
        require(
            self.false_positive_weight + self.false_negative_weight > 0,
            "dedup.false_positive_weight and dedup.false_negative_weight must not both be 0",
        )
        in_range(self.signature_min_jaccard, "dedup.signature_min_jaccard", 0, 1)
        at_least(self.shuffle_shards, "dedup.shuffle_shards", 1)
        at_least(self.index_files, "dedup.index_files", 1)
        at_least(self.threads, "dedup.threads", 1)
        at_least(self.decontaminate_ngram, "dedup.decontaminate_ngram", MIN_DECONTAMINATE_NGRAM)
        if isinstance(self.decontaminate, str):
            self.decontaminate = [self.decontaminate]
        for i, entry in enumerate(self.decontaminate):
            require(bool(entry.strip()), f"dedup.decontaminate[{i}] must be a path or glob, not {entry!r}")

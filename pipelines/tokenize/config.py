"""Settings for the tokenize stage (the ``tokenize:`` section of ``--config``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lmcore.config import require

EOD_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
MASK_TOKEN = "<|mask|>"  # masked-LM training (lm_train objective=masked_lm) replaces tokens by it
COMPRESSIONS = (None, "zstd", "lz4")  # None: memory-mappable shards


@dataclass
class TokenizeConfig:
    # -- tokenizer: train a byte-level BPE, or load tokenizer_path -------------------------
    tokenizer_path: str | None = None  # an existing HF tokenizers JSON file; skips training
    vocab_size: int = 8192  # including the special tokens
    min_frequency: int = 2  # a pair must occur this often to be merged
    eod_token: str = EOD_TOKEN  # appended to every document; always a special token
    pad_token: str | None = PAD_TOKEN
    mask_token: str | None = MASK_TOKEN  # after EOD and pad, so their ids stay 0 and 1; empty: none
    special_tokens: list[str] = field(default_factory=list)  # extra special tokens (after EOD, pad, mask)
    # -- training sample: documents whose stable hash of id falls below the fraction ------
    sample_fraction: float = 1.0
    sample_max_docs: int = 200_000  # of the sampled documents, those with the smallest hashes
    sample_seed: int = 17
    # -- tokenization ---------------------------------------------------------------------
    max_piece_chars: int = 16_384  # longer texts are split at whitespace/punctuation before encoding
    # -- shards -----------------------------------------------------------------------------
    validation_fraction: float = 0.01  # documents whose stable hash of id falls below it
    # ... and at least this many: the documents with the smallest such hashes (never more
    # than half of a run's documents; in prepare, counted over every version so far)
    min_validation_docs: int = 0
    split_seed: int = 23
    target_shard_tokens: int = 100_000_000  # shards per split = ceil(split tokens / this)
    compression: str | None = None  # COMPRESSIONS: "zstd"/"lz4" for remote storage
    shard_seed: int = 29

    def all_special_tokens(self) -> list[str]:
        """EOD first (id 0), then pad, then mask, then the extra ones, without repeats."""
        out: list[str] = []
        for tok in (self.eod_token, self.pad_token, self.mask_token, *self.special_tokens):
            if tok and tok not in out:
                out.append(tok)
        return out

    def __post_init__(self) -> None:
        """Settings out of range fail when the config is loaded, before a pipeline starts.
        (The seeds may be any integer; an empty pad_token or mask_token means none.)"""
        self.check()

    def check(self) -> None:
        """Raise ``ConfigError`` naming the first setting out of range, its value and what is allowed."""
        require(bool(self.eod_token), "tokenize.eod_token must be a non-empty string")
        floor = 256 + len(self.all_special_tokens())
        require(
            self.vocab_size >= floor,
            f"tokenize.vocab_size must be at least {floor} (the 256 byte tokens plus "
            f"{floor - 256} special token(s)), not {self.vocab_size}",
        )
        require(self.vocab_size <= 2**32, f"tokenize.vocab_size must be at most 2**32, not {self.vocab_size}")
        require(
            self.min_frequency >= 1, f"tokenize.min_frequency must be 1 or more, not {self.min_frequency}"
        )
        require(
            0.0 < self.sample_fraction <= 1.0,
            f"tokenize.sample_fraction must be in (0, 1], not {self.sample_fraction}",
        )
        require(
            self.sample_max_docs >= 1,
            f"tokenize.sample_max_docs must be positive, not {self.sample_max_docs}",
        )
        require(
            0.0 <= self.validation_fraction < 1.0,
            f"tokenize.validation_fraction must be in [0, 1), not {self.validation_fraction}",
        )
        require(
            self.min_validation_docs >= 0,
            f"tokenize.min_validation_docs must be 0 or more, not {self.min_validation_docs}",
        )
        require(
            1 <= self.target_shard_tokens <= 2**30,
            f"tokenize.target_shard_tokens must be in [1, 2**30], not {self.target_shard_tokens}",
        )
        require(
            self.max_piece_chars >= 64,
            f"tokenize.max_piece_chars must be at least 64, not {self.max_piece_chars}",
        )
        require(
            self.compression in COMPRESSIONS,
            f"tokenize.compression must be null, 'zstd' or 'lz4', not {self.compression!r}",
        )

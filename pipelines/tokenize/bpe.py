"""Byte-level BPE: training on a sample, loading a given tokenizer, and describing it.

Byte level means every string is representable (256 byte tokens), so decoding the ids of
any text gives the text back exactly. No normaliser and no prefix space: either would
change the text. Special tokens come first (the end-of-document token is id 0).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from lmcore.hashing import stable_hash64
from pipelines.tokenize.config import TokenizeConfig

_FRACTION_SCALE = 2.0**64


class TokenizerError(ValueError):
    """A tokenizer that lacks what the dataset needs (e.g. the end-of-document token)."""


def sample_key(doc_id: str, seed: int) -> int:
    """The stable 64-bit key that decides whether (and in which order) a document is sampled."""
    return stable_hash64(doc_id, seed)


def in_sample(doc_id: str, fraction: float, seed: int) -> bool:
    return sample_key(doc_id, seed) < fraction * _FRACTION_SCALE


def new_byte_level_bpe() -> Tokenizer:
    """An untrained byte-level BPE whose decoding is the exact inverse of its encoding."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def train_bpe(texts: Iterable[str], config: TokenizeConfig) -> str:
    """Train on ``texts`` (in the given order) and return the tokenizer JSON.

    HF ``tokenizers`` training is deterministic for the same texts in the same order
    (``tests/test_tokenize_bpe.py`` checks identical bytes), so callers sort the sample.
    """
    tok = new_byte_level_bpe()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=config.all_special_tokens(),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok.to_str()


def load_tokenizer(tokenizer_json: str) -> Tokenizer:
    """A tokenizer from its JSON, set so special-token strings inside documents stay plain text."""
    tok = Tokenizer.from_str(tokenizer_json)
    # A document that contains "<|endoftext|>" literally must not get a second EOD id.
    tok.encode_special_tokens = True
    return tok


@dataclass(frozen=True)
class TokenizerSpec:
    """What the dataset records about its tokenizer (``schemas.TokenizerInfo`` minus file and hash)."""

    vocab_size: int
    special_tokens: dict[str, int]
    eos_id: int
    pad_id: int | None


def describe(tokenizer_json: str, config: TokenizeConfig) -> TokenizerSpec:
    """Vocabulary size and special ids; raise ``TokenizerError`` when the EOD token is missing."""
    tok = Tokenizer.from_str(tokenizer_json)
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    specials = {
        t.content: tok.token_to_id(t.content)
        for t in tok.get_added_tokens_decoder().values()
        if t.special and tok.token_to_id(t.content) is not None
    }
    eos_id = tok.token_to_id(config.eod_token)
    if eos_id is None:
        raise TokenizerError(f"the tokenizer has no end-of-document token {config.eod_token!r}")
    specials[config.eod_token] = eos_id
    pad_id = tok.token_to_id(config.pad_token) if config.pad_token else None
    if pad_id is not None:
        specials[config.pad_token] = pad_id
    ids = [tok.id_to_token(i) for i in range(vocab_size)]
    if any(t is None for t in ids):
        raise TokenizerError("the tokenizer's ids are not contiguous from 0 to vocab_size - 1")
    return TokenizerSpec(vocab_size, dict(sorted(specials.items())), eos_id, pad_id)


def check_json(tokenizer_json: str) -> None:
    """Fail early, with the reason, on a file that is not a tokenizers JSON."""
    try:
        json.loads(tokenizer_json)
        Tokenizer.from_str(tokenizer_json)
    except Exception as exc:
        raise TokenizerError(f"not a HF tokenizers JSON file: {exc}") from exc

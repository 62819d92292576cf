"""The tokenizer file a run trains and generates with, checked before it is trusted.

The manifest pins ``tokenizer.json`` by sha256 and states ``vocab_size``; the trainer
builds its embedding from that number and copies the file into the run directory, and
``generate`` decodes with the copy. A swapped file, a garbage file or a ``vocab_size``
that does not match the file would otherwise surface much later (an ``IndexError`` while
generating, or an embedding of 10**12 rows). ``check_bytes`` refuses all three at once;
the vocabulary size is read from the file itself, so it is pinned by the same sha256.
"""

from __future__ import annotations

import json
from typing import Any

from schemas import sha256_bytes


class TokenizerError(ValueError):
    """A tokenizer file that is missing, swapped, unreadable or disagrees with what was recorded."""


def vocab_size_of(data: bytes, name: str) -> int:
    """Ids in a tokenizer file: an HF ``tokenizers`` JSON, or the marker synthetic datasets write."""
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise TokenizerError(f"{name} is not a tokenizer file (not JSON: {exc})") from exc
    if isinstance(obj, dict) and obj.get("synthetic") is True:  # lm_train.data.synthetic
        size = obj.get("vocab_size")
        if isinstance(size, int) and not isinstance(size, bool):
            return size
    return load_tokenizer_bytes(data, name).get_vocab_size(with_added_tokens=True)


def load_tokenizer_bytes(data: bytes, name: str) -> Any:
    """An HF ``tokenizers.Tokenizer`` from the file's bytes, or a ``TokenizerError`` in one line."""
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_str(data.decode("utf-8"))
    except Exception as exc:  # tokenizers raises plain Exception for a malformed file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TokenizerError(f"{name} is not an HF tokenizers file ({first})") from exc


def check_bytes(data: bytes, name: str, sha256: str, vocab_size: int | None = None) -> None:
    """Refuse ``data`` unless its sha256 is ``sha256`` and (when given) it holds ``vocab_size`` ids."""
    actual = sha256_bytes(data)
    if actual != sha256:
        raise TokenizerError(
            f"{name} is not the tokenizer that was recorded: sha256 {actual[:16]}... instead of "
            f"{sha256[:16]}...; the file was swapped or damaged"
        )
    if vocab_size is not None:
        found = vocab_size_of(data, name)
        if found != vocab_size:
            raise TokenizerError(
                f"{name} has {found:,} ids, but the manifest says tokenizer.vocab_size {vocab_size:,}; "
                "the manifest was edited or belongs to another tokenizer"
            )

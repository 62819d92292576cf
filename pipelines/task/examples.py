"""One input document -> a labelled example, or the reason it cannot be one (pure, no Beam).

The text is normalised exactly as the clean stage normalises it (NFC, mojibake, controls,
spaces; none of its web-quality filters, which would throw away short reviews and
tweets). A label is a non-empty string or an integer (``1`` and ``"1"`` are the same label);
a split, when the input names one, is ``train``, ``validation`` or ``test``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

import numpy as np

from lmcore.hashing import stable_hash_hex
from lmcore.text import normalize_text
from pipelines.task.config import SPLIT_NAMES, TaskConfig


class Refused(Exception):
    """A record that cannot become an example: its quarantine reason and a message."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class Candidate(NamedTuple):
    """A record that passed the checks, before tokenization."""

    doc_id: str
    text: str  # normalised
    label: str
    split: str | None  # from the split field, else None (split by label later)
    source: str
    lang: str | None


class Example(NamedTuple):
    """A tokenized labelled example, as it travels to deduplication, splitting and the shards."""

    doc_id: str
    text_key: str  # stable hash of the normalised text: equal texts, equal keys
    text: str
    label: str
    split: str | None
    source: str
    lang: str | None
    num_bytes: int
    tokens: np.ndarray  # token ids, ending with the end-of-document id


def label_name(value: Any, field: str) -> str:
    """The label a record's field value names; ``Refused`` when missing or not a label."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Refused("missing_label", f"no label in field {field!r}")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Refused(
            "bad_label", f"field {field!r} is a {type(value).__name__} ({value!r}), not a label name"
        )
    return value.strip() if isinstance(value, str) else str(value)


def split_name(value: Any, field: str) -> str:
    """The split a record's split field names; ``Refused`` for anything but train/validation/test."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Refused("missing_split", f"no split in field {field!r}")
    name = value.strip().lower() if isinstance(value, str) else value
    if name not in SPLIT_NAMES:
        raise Refused("bad_split", f"field {field!r} = {value!r} is not one of {', '.join(SPLIT_NAMES)}")
    return name


def candidate(doc: Mapping[str, Any], task: TaskConfig, known: Collection[str] | None = None) -> Candidate:
    """The example a document stands for (text normalised), or ``Refused`` with the reason.

    ``known``: the only labels allowed (``task.labels``); others are ``unknown_label``.
    """
    text = normalize_text(doc["text"])
    if not text:
        raise Refused("empty_text", "the text is empty after normalisation")
    meta = doc.get("meta") or {}
    label = label_name(meta.get(task.label_field), task.label_field)
    if known is not None and label not in known:
        raise Refused("unknown_label", f"label {label!r} is not one of task.labels {sorted(known)}")
    split = split_name(meta.get(task.split_field), task.split_field) if task.split_field else None
    return Candidate(doc["id"], text, label, split, doc["source"], doc.get("lang"))


def text_key(text: str) -> str:
    """The deduplication key of a normalised text."""
    return stable_hash_hex(text)


def example(c: Candidate, tokens: np.ndarray, max_tokens: int | None) -> Example:
    """The tokenized example; ``Refused`` (``too_long``) past ``max_tokens``."""
    if max_tokens is not None and len(tokens) > max_tokens:
        raise Refused("too_long", f"{len(tokens):,} tokens, more than task.max_tokens={max_tokens:,}")
    nbytes = len(c.text.encode("utf-8"))
    return Example(c.doc_id, text_key(c.text), c.text, c.label, c.split, c.source, c.lang, nbytes, tokens)

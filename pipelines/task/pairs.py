"""One input document -> a (source, target) pair, or the reason it cannot be one (pure, no Beam).

A pairs task (translation, summarisation, ...) reads the source side as the document's text
(``read.text_field`` follows ``task.source_field``) and the target side from ``meta``. Both
sides are normalised as classification texts are (``lmcore.text.normalize_text``) and both are
tokenized with the pretraining tokenizer, each ending with the end-of-document id: the source
like every document of every shard, the target so that a decoder learns where to stop (the
trainer adds its own start token in front of the target).

Quarantine reasons, by side: ``missing_source`` / ``missing_target`` (no field, or null),
``bad_source`` / ``bad_target`` (not a string), ``empty_source`` / ``empty_target`` (nothing
left after normalisation), and ``too_long`` (either side past ``task.max_tokens``; the
message says which).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from lmcore.hashing import stable_hash_hex
from lmcore.text import normalize_text
from pipelines.task.config import TaskConfig
from pipelines.task.examples import Refused, split_name


class PairCandidate(NamedTuple):
    """A record that passed the checks, before tokenization."""

    doc_id: str
    source_text: str  # normalised
    target_text: str  # normalised
    split: str | None  # from the split field, else None (split by the source's hash later)
    source: str  # where the record came from (the shard's ``source`` column)
    lang: str | None


class Pair(NamedTuple):
    """A tokenized pair, as it travels to deduplication, splitting and the shards."""

    doc_id: str
    source_key: str  # stable hash of the normalised source: equal sources, equal keys
    target_key: str  # stable hash of the normalised target
    source_text: str
    target_text: str
    split: str | None
    source: str
    lang: str | None
    num_bytes: int  # UTF-8 bytes of the source text (what the ``tokens`` column encodes)
    tokens: np.ndarray  # source token ids, ending with the end-of-document id
    target_tokens: np.ndarray  # target token ids, ending with the end-of-document id


def side_text(value: Any, side: str, field: str) -> str:
    """A side's normalised text; ``Refused`` when missing, not a string, or empty."""
    if value is None:
        raise Refused(f"missing_{side}", f"no {side} in field {field!r}")
    if not isinstance(value, str):
        raise Refused(
            f"bad_{side}", f"field {field!r} is a {type(value).__name__} ({value!r:.60}), not a string"
        )
    text = normalize_text(value)
    if not text:
        raise Refused(f"empty_{side}", f"the {side} (field {field!r}) is empty after normalisation")
    return text


def pair_candidate(doc: Mapping[str, Any], task: TaskConfig) -> PairCandidate:
    """The pair a document stands for (both sides normalised), or ``Refused`` with the reason."""
    meta = doc.get("meta") or {}
    source_text = side_text(doc["text"], "source", task.source_field)
    target_text = side_text(meta.get(task.target_field), "target", task.target_field)
    split = split_name(meta.get(task.split_field), task.split_field) if task.split_field else None
    return PairCandidate(doc["id"], source_text, target_text, split, doc["source"], doc.get("lang"))


def pair(c: PairCandidate, tokens: np.ndarray, target_tokens: np.ndarray, max_tokens: int | None) -> Pair:
    """The tokenized pair; ``Refused`` (``too_long``) when either side is past ``max_tokens``."""
    if max_tokens is not None:
        for side, ids in (("source", tokens), ("target", target_tokens)):
            if len(ids) > max_tokens:
                raise Refused(
                    "too_long",
                    f"the {side} has {len(ids):,} tokens, more than task.max_tokens={max_tokens:,}",
                )
    return Pair(
        c.doc_id,
        stable_hash_hex(c.source_text),
        stable_hash_hex(c.target_text),
        c.source_text,
        c.target_text,
        c.split,
        c.source,
        c.lang,
        len(c.source_text.encode("utf-8")),
        tokens,
        target_tokens,
    )

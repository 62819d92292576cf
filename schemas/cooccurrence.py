"""The *co-occurrence* directory: GloVe's counts, written by ``pipelines.cooccur``, read by ``lm_train.glove``.

::

    DIR/manifest.json                     written last: settings, counts, the part files
    DIR/vocab.tsv                         word <TAB> count, one line per word id (0, 1, ...)
    DIR/part-00000-of-0000N.arrow         Arrow IPC files with COOCCURRENCE_SCHEMA

Word ids are line numbers of ``vocab.tsv``: words with at least ``min_count`` occurrences,
by count descending, then by the word (code point order), cut at ``max_vocab``. A row
``(i, j, x)`` says words ``j`` occurred ``x`` times near word ``i``, each occurrence at
distance ``d`` (in-vocabulary words apart, ``1 <= d <= window``) weighted ``1/d``; the matrix
is symmetric (both ``(i, j)`` and ``(j, i)`` are stored). Part ``b`` holds the rows with
``i % N == b``, sorted by ``(i, j)``; a pair appears once in the whole directory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

COOCCURRENCE_SCHEMA_VERSION = "1.0"
COOCCURRENCE_MANIFEST_FILENAME = "manifest.json"
VOCAB_FILENAME = "vocab.tsv"
COOCCURRENCE_KIND = "cooccurrence"

COOCCURRENCE_SCHEMA = pa.schema(
    [
        pa.field("i", pa.int32(), nullable=False),
        pa.field("j", pa.int32(), nullable=False),
        pa.field("x", pa.float64(), nullable=False),
    ],
    metadata={
        b"lmforge.kind": COOCCURRENCE_KIND.encode(),
        b"lmforge.schema_version": COOCCURRENCE_SCHEMA_VERSION.encode(),
    },
)


class CooccurrenceError(ValueError):
    """A co-occurrence directory, table or vocabulary that breaks the contract."""


def part_filename(index: int, num_parts: int) -> str:
    return f"part-{index:05d}-of-{num_parts:05d}.arrow"


def cooccurrence_table(i: np.ndarray, j: np.ndarray, x: np.ndarray) -> pa.Table:
    """An Arrow table with ``COOCCURRENCE_SCHEMA`` from three equal-length arrays."""
    return pa.Table.from_arrays(
        [
            pa.array(np.asarray(i, dtype=np.int32)),
            pa.array(np.asarray(j, dtype=np.int32)),
            pa.array(np.asarray(x, dtype=np.float64)),
        ],
        schema=COOCCURRENCE_SCHEMA,
    )


def table_to_bytes(table: pa.Table) -> bytes:
    """An Arrow IPC *file* (uncompressed, memory-mappable); same table, same bytes."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        for batch in table.to_batches():
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def read_table(data: bytes | pa.Buffer) -> pa.Table:
    """A part file's table, checked against the schema."""
    table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
    if table.schema.remove_metadata() != COOCCURRENCE_SCHEMA.remove_metadata():
        raise CooccurrenceError(
            f"co-occurrence part has schema {table.schema}, expected {COOCCURRENCE_SCHEMA}"
        )
    return table


def vocab_to_tsv(words: Sequence[str], counts: Sequence[int]) -> str:
    """``word<TAB>count`` lines; a word holding a tab or a line break cannot be written."""
    lines = []
    for word, count in zip(words, counts, strict=True):
        if not word or any(c in word for c in "\t\n\r"):
            raise CooccurrenceError(f"vocabulary word {word!r} is empty or holds a tab or line break")
        lines.append(f"{word}\t{int(count)}\n")
    return "".join(lines)


def parse_vocab_tsv(text: str) -> tuple[list[str], list[int]]:
    words: list[str] = []
    counts: list[int] = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        word, sep, count = line.partition("\t")
        if not sep or not count.isdigit():
            raise CooccurrenceError(f"{VOCAB_FILENAME} line {n}: expected word<TAB>count, got {line!r}")
        words.append(word)
        counts.append(int(count))
    return words, counts


@dataclass(frozen=True)
class CooccurrenceManifest:
    """What ``manifest.json`` records: the settings, the counts and the part files."""

    window: int
    min_count: int
    max_vocab: int | None
    vocab_size: int
    documents: int  # documents read
    tokens: int  # words read (before the vocabulary cut)
    vocab_tokens: int  # words kept (in the vocabulary)
    nonzeros: int  # rows over all parts
    total_weight: float  # sum of x over all parts
    parts: list[dict[str, Any]] = field(default_factory=list)  # {"path", "rows"} per part, in order
    weighting: str = "1/distance"
    symmetric: bool = True
    kind: str = COOCCURRENCE_KIND
    schema_version: str = COOCCURRENCE_SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> CooccurrenceManifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CooccurrenceError(f"{COOCCURRENCE_MANIFEST_FILENAME}: not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("kind") != COOCCURRENCE_KIND:
            raise CooccurrenceError(f"{COOCCURRENCE_MANIFEST_FILENAME}: not a co-occurrence manifest")
        major = str(data.get("schema_version", "")).split(".")[0]
        if major != COOCCURRENCE_SCHEMA_VERSION.split(".")[0]:
            raise CooccurrenceError(
                f"{COOCCURRENCE_MANIFEST_FILENAME}: schema version {data.get('schema_version')!r}, "
                f"this lmforge reads {COOCCURRENCE_SCHEMA_VERSION}"
            )
        known = set(cls.__dataclass_fields__)
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise CooccurrenceError(f"{COOCCURRENCE_MANIFEST_FILENAME}: {exc}") from None

    def part_paths(self) -> list[str]:
        return [str(p["path"]) for p in self.parts]


def check_rows(i: np.ndarray, j: np.ndarray, x: np.ndarray, vocab_size: int) -> None:
    """Ids inside the vocabulary and weights positive and finite."""
    for name, ids in (("i", i), ("j", j)):
        if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
            raise CooccurrenceError(f"co-occurrence column {name} has ids outside 0..{vocab_size - 1}")
    if len(x) and not (np.isfinite(x).all() and (x > 0).all()):
        raise CooccurrenceError("co-occurrence column x must be positive and finite")


def total_rows(parts: Iterable[dict[str, Any]]) -> int:
    return sum(int(p["rows"]) for p in parts)


__all__ = [
    "COOCCURRENCE_KIND",
    "COOCCURRENCE_MANIFEST_FILENAME",
    "COOCCURRENCE_SCHEMA",
    "COOCCURRENCE_SCHEMA_VERSION",
    "VOCAB_FILENAME",
    "CooccurrenceError",
    "CooccurrenceManifest",
    "check_rows",
    "cooccurrence_table",
    "parse_vocab_tsv",
    "part_filename",
    "read_table",
    "table_to_bytes",
    "total_rows",
    "vocab_to_tsv",
]

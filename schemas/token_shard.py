"""The *token shard*: an uncompressed Arrow IPC stream whose rows are tokenized documents.

The container is the IPC *stream* format from version 2.0 on: memory-mappable like the
*file* format versions 1.x used, as fast to write and open, and the format
``datasets.Dataset.from_file`` memory-maps, so the shards open in ``datasets`` with no copy
and no conversion. Readers accept both: a 1.x shard (``ARROW1`` magic) must be a file, a
2.x shard a stream, and a shard whose container contradicts its declared version is refused.

A shard holds exactly one record batch, so a memory-mapped shard exposes the whole
concatenated token stream (``tokens`` list values) and the document offsets (the list
offsets) as zero-copy numpy arrays. Every document's tokens end with the tokenizer's
end-of-document id.

Optional columns, written by ``pipelines.prepare_task``: ``label`` (1.1; int32, an index
into the manifest's ``task.labels``) for classification, and ``target`` (1.2; a list of
token ids of the same dtype as ``tokens``) for paired text, whose source side is the
``tokens`` column (``source`` already names the column of where a document came from).
The columns are those of 1.2; a shard declares 2.0, the lowest version with the stream
container.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

TOKEN_SHARD_SCHEMA_VERSION = "2.0"  # the newest version this code reads and writes
BASE_SCHEMA_VERSION = "2.0"  # what a shard without optional columns declares: the stream container
READ_MAJORS = ("1", "2")  # 1.x: IPC file container; 2.x: IPC stream container
FILE_MAGIC = b"ARROW1"  # the first bytes of an IPC file (a stream starts with 0xFFFFFFFF)
LABEL_COLUMN = "label"
TARGET_COLUMN = "target"
TOKEN_DTYPES = ("uint16", "uint32")
MAX_TOKENS_PER_SHARD = 2**31 - 1  # list offsets are int32

_ARROW_TYPES = {"uint16": pa.uint16(), "uint32": pa.uint32()}


def _token_list_type(dtype: str) -> pa.DataType:
    return pa.list_(pa.field("item", _ARROW_TYPES[dtype], nullable=False))


# Optional columns by name: their Arrow type (given the token dtype) and the schema version
# that introduced them.
OPTIONAL_COLUMNS: dict[str, tuple[Callable[[str], pa.DataType], str]] = {
    LABEL_COLUMN: (lambda dtype: pa.int32(), "1.1"),
    TARGET_COLUMN: (_token_list_type, "1.2"),
}


class TokenShardError(ValueError):
    """A shard that does not match the token-shard schema."""


def token_dtype_for_vocab(vocab_size: int) -> str:
    """The narrowest token dtype that holds every id of a vocabulary of ``vocab_size``."""
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    if vocab_size <= 2**16:
        return "uint16"
    if vocab_size <= 2**32:
        return "uint32"
    raise ValueError(f"vocab_size {vocab_size} does not fit in uint32")


def _declared_version(optional: Sequence[str]) -> str:
    """The lowest schema version that has every one of the ``optional`` columns."""
    versions = [BASE_SCHEMA_VERSION, *(OPTIONAL_COLUMNS[name][1] for name in optional)]
    return max(versions, key=lambda v: tuple(int(p) for p in v.split(".")))


def token_shard_schema(dtype: str, split: str | None = None, optional: Sequence[str] = ()) -> pa.Schema:
    """Arrow schema of a token shard whose token ids are ``dtype`` (uint16 or uint32), with the
    ``optional`` columns (``("label",)``) after the required ones, in ``OPTIONAL_COLUMNS`` order."""
    if dtype not in _ARROW_TYPES:
        raise TokenShardError(f"token dtype must be one of {TOKEN_DTYPES}, got {dtype!r}")
    unknown = sorted(set(optional) - set(OPTIONAL_COLUMNS))
    if unknown:
        raise TokenShardError(f"unknown optional column(s) {unknown}; known: {sorted(OPTIONAL_COLUMNS)}")
    optional = [name for name in OPTIONAL_COLUMNS if name in optional]
    metadata = {
        b"lmforge.kind": b"token_shard",
        b"lmforge.schema_version": _declared_version(optional).encode(),
        b"lmforge.token_dtype": dtype.encode(),
    }
    if split is not None:
        metadata[b"lmforge.split"] = split.encode()
    return pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("source", pa.string(), nullable=False),
            pa.field("lang", pa.string(), nullable=True),
            pa.field("num_bytes", pa.int64(), nullable=False),
            pa.field("tokens", _token_list_type(dtype), nullable=False),
            *(pa.field(name, OPTIONAL_COLUMNS[name][0](dtype), nullable=False) for name in optional),
        ],
        metadata=metadata,
    )


def build_token_shard_table(
    doc_ids: Sequence[str],
    sources: Sequence[str],
    langs: Sequence[str | None],
    num_bytes: Sequence[int] | np.ndarray,
    tokens: Sequence[np.ndarray],
    dtype: str,
    split: str | None = None,
    labels: Sequence[int] | np.ndarray | None = None,
    targets: Sequence[np.ndarray] | None = None,
) -> pa.Table:
    """Assemble a one-batch shard table from per-document token arrays (one concatenate, no
    Python loop per token); ``labels`` (label ids) adds the ``label`` column, ``targets``
    (per-row target token arrays of paired text) the ``target`` column."""
    n = len(doc_ids)
    if not (len(sources) == len(langs) == len(num_bytes) == len(tokens) == n):
        raise TokenShardError("doc_ids, sources, langs, num_bytes and tokens must have the same length")
    if labels is not None and len(labels) != n:
        raise TokenShardError(f"labels has {len(labels)} entries for {n} documents")
    if targets is not None and len(targets) != n:
        raise TokenShardError(f"targets has {len(targets)} entries for {n} documents")
    optional = ((LABEL_COLUMN,) if labels is not None else ()) + (
        (TARGET_COLUMN,) if targets is not None else ()
    )
    schema = token_shard_schema(dtype, split, optional)
    columns = [
        pa.array(doc_ids, type=pa.string()),
        pa.array(sources, type=pa.string()),
        pa.array(langs, type=pa.string()),
        pa.array(np.asarray(num_bytes, dtype=np.int64)),
        token_list_array(tokens, dtype).cast(schema.field("tokens").type),
    ]
    if labels is not None:
        columns.append(pa.array(np.asarray(labels, dtype=np.int32)))
    if targets is not None:
        columns.append(token_list_array(targets, dtype).cast(schema.field(TARGET_COLUMN).type))
    batch = pa.RecordBatch.from_arrays(columns, schema=schema)
    return pa.Table.from_batches([batch], schema=schema)


def token_list_array(tokens: Sequence[np.ndarray], dtype: str) -> pa.ListArray:
    """One list array of ``dtype`` ids from per-row arrays (one concatenate, int32 offsets)."""
    n = len(tokens)
    np_dtype = np.dtype(dtype)
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > MAX_TOKENS_PER_SHARD:
        raise TokenShardError(f"shard would hold {offsets[-1]} tokens, more than {MAX_TOKENS_PER_SHARD}")
    flat = np.concatenate(tokens).astype(np_dtype, copy=False) if n else np.zeros(0, np_dtype)
    return pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), pa.array(flat, type=_ARROW_TYPES[dtype])
    )


def optional_columns(schema: pa.Schema) -> tuple[str, ...]:
    """The optional columns a shard's schema declares (``("label",)`` for a task dataset)."""
    return tuple(name for name in OPTIONAL_COLUMNS if name in schema.names)


def check_schema_version(schema: pa.Schema, container: str | None = None) -> None:
    """Refuse a shard written by a major version of the contract this code does not read, or
    (``container`` "file"/"stream", when known) whose container is not its version's."""
    declared = (schema.metadata or {}).get(b"lmforge.schema_version")
    if declared is None:
        return
    text = declared.decode("utf-8", "replace")
    major = text.split(".")[0]
    if major not in READ_MAJORS:
        raise TokenShardError(
            f"token shard schema version {text!r}: this code reads major versions {', '.join(READ_MAJORS)}"
        )
    expected = "file" if major == "1" else "stream"
    if container is not None and container != expected:
        raise TokenShardError(
            f"token shard declares schema version {text} but is an Arrow IPC {container}; "
            f"version {major}.x shards are IPC {expected}s"
        )


def shard_container(source: pa.NativeFile | pa.Buffer) -> str:
    """ "file" or "stream": which Arrow IPC container ``source`` holds, from its first bytes."""
    head = source[: len(FILE_MAGIC)].to_pybytes() if isinstance(source, pa.Buffer) else source.read_at(6, 0)
    return "file" if head == FILE_MAGIC else "stream"


def read_shard_table(source: str | pa.NativeFile | pa.Buffer) -> pa.Table:
    """The table of a shard in either container (a path is memory-mapped), its version checked
    against its container; compressed shards are decompressed on read."""
    if isinstance(source, str):
        source = pa.memory_map(source, "r")
    container = shard_container(source)
    try:
        opened = pa.ipc.open_file(source) if container == "file" else pa.ipc.open_stream(source)
        table = opened.read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise TokenShardError(f"not a readable Arrow IPC {container}: {exc}") from None
    check_schema_version(table.schema, container)
    return table


def validate_token_shard_table(
    table: pa.Table,
    dtype: str | None = None,
    vocab_size: int | None = None,
    num_labels: int | None = None,
) -> None:
    """Raise ``TokenShardError`` when ``table`` breaks the contract (schema, one batch, nulls,
    ids; label ids in ``[0, num_labels)`` when given and the shard has labels)."""
    if "tokens" not in table.schema.names:
        raise TokenShardError("token shard has no 'tokens' column")
    tok_type = table.schema.field("tokens").type
    if not pa.types.is_list(tok_type) or str(tok_type.value_type) not in TOKEN_DTYPES:
        raise TokenShardError(f"'tokens' must be list<uint16|uint32>, got {tok_type}")
    found_dtype = str(tok_type.value_type)
    if dtype is not None and found_dtype != dtype:
        raise TokenShardError(f"token dtype is {found_dtype}, manifest says {dtype}")
    check_schema_version(table.schema)
    expected = token_shard_schema(found_dtype, optional=optional_columns(table.schema))
    if not table.schema.equals(expected, check_metadata=False):
        raise TokenShardError(f"schema mismatch:\n  expected {expected}\n  found    {table.schema}")
    if len(table.column("tokens").chunks) > 1:
        raise TokenShardError("token shard must hold exactly one record batch")
    for name in ("doc_id", "source", "num_bytes", "tokens", *optional_columns(table.schema)):
        if table.column(name).null_count:
            raise TokenShardError(f"column {name!r} has {table.column(name).null_count} null value(s)")
    if vocab_size is not None and table.num_rows:
        for name in ("tokens", TARGET_COLUMN):
            if name not in table.schema.names:
                continue
            values = table.column(name).chunks[0].values.to_numpy(zero_copy_only=False)
            if values.size and int(values.max()) >= vocab_size:
                raise TokenShardError(
                    f"{'token' if name == 'tokens' else 'target token'} id {int(values.max())} is not below "
                    f"the vocabulary size {vocab_size}"
                )
    if num_labels is not None and LABEL_COLUMN in table.schema.names and table.num_rows:
        labels = table.column(LABEL_COLUMN).to_numpy()
        bad = np.flatnonzero((labels < 0) | (labels >= num_labels))
        if bad.size:
            raise TokenShardError(
                f"label id {int(labels[bad[0]])} (row {int(bad[0])}, {bad.size} row(s) in all) is not "
                f"in [0, {num_labels}): the manifest lists {num_labels} label(s)"
            )


def token_shard_to_bytes(table: pa.Table, compression: str | None = None) -> bytes:
    """Serialise a shard table as an Arrow IPC *stream*.

    Uncompressed by default (memory-mappable); ``compression="zstd"`` or ``"lz4"`` gives
    smaller files for remote storage, which readers must load with ``read_all`` instead.
    """
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        for batch in table.to_batches():
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


@dataclass(frozen=True)
class TokenShard:
    """Zero-copy views over one shard: ``tokens[offsets[i]:offsets[i+1]]`` is document ``i``."""

    table: pa.Table
    tokens: np.ndarray  # the concatenated token stream, dtype uint16/uint32
    offsets: np.ndarray  # int32, length num_docs + 1, starting at 0
    labels: np.ndarray | None = None  # int32 label id per document (task datasets), else None

    @property
    def num_docs(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_tokens(self) -> int:
        return int(self.offsets[-1] - self.offsets[0])

    def document(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]


def open_token_shard(source: str | pa.NativeFile | pa.Buffer) -> TokenShard:
    """Open a shard from a local path (memory-mapped), an Arrow file object or a buffer."""
    table = read_shard_table(source)
    validate_token_shard_table(table)
    labels = None
    if LABEL_COLUMN in table.schema.names:
        col = table.column(LABEL_COLUMN)
        labels = col.chunks[0].to_numpy() if col.num_chunks else np.zeros(0, np.int32)
    if table.num_rows == 0:
        dtype = np.dtype(str(table.schema.field("tokens").type.value_type))
        return TokenShard(table, np.zeros(0, dtype), np.zeros(1, np.int32), labels)
    tokens_list = table.column("tokens").chunks[0]
    offsets = tokens_list.offsets.to_numpy()
    values = tokens_list.values.to_numpy()
    check_offsets(offsets, len(values))
    # A sliced list array keeps absolute offsets; rebase so offsets[0] == 0 over the same values.
    start = int(offsets[0])
    if start:
        offsets = offsets - start
    return TokenShard(table, values[start : start + int(offsets[-1])], offsets, labels)


def check_offsets(offsets: np.ndarray, num_values: int) -> None:
    """Refuse list offsets that run backwards or past the values: Arrow's IPC reader does not
    check them, and document boundaries taken from them become raw memory positions later."""
    if len(offsets) == 0 or offsets[0] < 0 or offsets[-1] > num_values:
        raise TokenShardError(
            f"token offsets run outside the {num_values} token values (first {offsets[:1].tolist()}, "
            f"last {offsets[-1:].tolist()}); the shard is corrupt"
        )
    if len(offsets) > 1 and bool((offsets[1:] < offsets[:-1]).any()):
        raise TokenShardError(
            "token offsets decrease: a document would have a negative length; the shard is corrupt"
        )

"""Document Parquet files: the output of ``clean`` and ``dedup``, the input of ``tokenize``.

``WriteDocuments`` spreads documents over ``part-0000i-of-0000N.parquet`` by a stable
hash of the document id and sorts each file by id, so the bytes do not depend on the
runner, the worker count or the order in which chunks arrive. N follows from the total
text size and ``target_file_bytes``. The bucketing is the writers' shared
``pipelines.stage.bucketed.WriteBucketed``: only the record key, order and encoding are set here.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from lmcore import storage
from lmcore.layout import DOCUMENTS_DIR
from pipelines.io.packing import pack, unpack
from pipelines.stage.bucketed import WriteBucketed
from schemas import documents_to_table, table_to_documents

Doc = dict[str, Any]
Chunk = tuple[str, list[Doc]]

ROW_GROUP_DOCS = 4096


def text_bytes(docs: Iterable[Doc]) -> int:
    return sum(len(d["text"].encode("utf-8")) for d in docs)


def documents_to_parquet_bytes(docs: list[Doc]) -> bytes:
    """Serialise documents (in the given order) as a zstd-compressed Parquet file."""
    table = documents_to_table(docs)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=ROW_GROUP_DOCS, write_statistics=False)
    return buf.getvalue()


def read_document_table(path: str, columns: list[str] | None = None) -> pa.Table:
    fs, p = storage.get_fs(path)
    with fs.open(p, "rb") as f:
        return pq.read_table(f, columns=columns)


def iter_document_chunks(path: str, chunk_docs: int = 1000) -> Iterator[list[Doc]]:
    """Read a document Parquet file in chunks of at most ``chunk_docs`` documents."""
    fs, p = storage.get_fs(path)
    with fs.open(p, "rb") as f:
        pf = pq.ParquetFile(f)
        for batch in pf.iter_batches(batch_size=chunk_docs):
            yield table_to_documents(batch)


def _document_id(doc: Doc) -> str:
    return doc["id"]


def _chunk_docs(chunk: Chunk) -> list[Doc]:
    return chunk[1]


class WriteDocuments(beam.PTransform):
    """(chunk_key, docs) chunks -> ``OUT/documents/part-*.parquet``; returns ``(path, num_docs)`` per file."""

    def __init__(
        self, output_dir: str, target_file_bytes: int = 64 * 1024 * 1024, subdir: str = DOCUMENTS_DIR
    ):
        super().__init__()
        self.directory = storage.join(output_dir, subdir)
        self.target_file_bytes = target_file_bytes

    def expand(self, chunks: beam.PCollection) -> beam.PCollection:
        target, directory = self.target_file_bytes, self.directory
        num_files = (
            chunks
            | "TextBytes" >> beam.Map(lambda kv: text_bytes(kv[1]))
            | "TotalBytes" >> beam.CombineGlobally(sum)
            | "NumFiles" >> beam.Map(lambda total: max(1, math.ceil(total / target)))
        )
        return chunks | "WriteParquet" >> WriteBucketed(
            num_files=num_files,
            key=_document_id,
            sort_key=_document_id,
            batched=_chunk_docs,
            pack=pack,  # the shuffle holds every document: compressed, ~45 %
            unpack=unpack,
            encode=documents_to_parquet_bytes,
            path=lambda index, n: f"{directory}/part-{index:05d}-of-{n:05d}.parquet",
        )

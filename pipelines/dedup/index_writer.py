"""``WriteIndex``: this run's kept documents -> ``DIR/index-0000i-of-0000N.parquet``.

A document goes to file ``uid % N``; each file's rows are sorted by id
(``index.to_parquet_bytes``), so its bytes depend only on the kept documents. Band keys
follow from the signatures: recomputed when a file is written rather than carried through
two of the runner's buffers (8 bytes per band per document).
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from lmcore import storage
from pipelines.dedup import index
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.minhash import band_keys
from pipelines.dedup.records import IndexRows, Removals
from pipelines.dedup.signing import bands_and_rows
from pipelines.stage.bucketed import WriteBucketed


def index_file_name(file: int, num_files: int) -> str:
    return f"index-{file:05d}-of-{num_files:05d}.parquet"


def kept_rows_by_file(rows: IndexRows, num_files: int, removed: Removals) -> Iterator[tuple[int, IndexRows]]:
    """(file, rows) for the documents of a chunk that stay, per index file."""
    keep = np.array([i not in removed for i in rows.id], bool)
    file = rows.uid % np.uint64(num_files)
    for f in np.unique(file[keep]):
        yield int(f), rows.take(np.flatnonzero(keep & (file == f)))


class WriteIndex(beam.PTransform):
    """Index rows of every signed chunk (side input: the removal map) -> the index files' paths."""

    def __init__(self, directory: str, cfg: DedupConfig, removed: pvalue.AsSingleton):
        super().__init__()
        self.directory = directory
        self.cfg = cfg
        self.removed = removed

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        cfg, directory = self.cfg, self.directory
        bands = bands_and_rows(cfg)

        def encode(file_rows: IndexRows) -> bytes:
            batch = file_rows.as_batch()
            batch["bands"] = band_keys(file_rows.sig, *bands)
            return index.to_parquet_bytes(batch, cfg)

        return rows | WriteBucketed(
            num_files=cfg.index_files,
            assign=kept_rows_by_file,
            assign_side_inputs=[self.removed],
            gather=IndexRows.concat,
            encode=encode,
            path=lambda file, n: storage.join(directory, index_file_name(file, n)),
            result=lambda path, file_rows, data: path,
        )

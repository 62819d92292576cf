"""Read raw inputs into chunks of documents: ``ReadDocuments`` (Beam wiring only).

One Beam element is a *chunk* ``(chunk_key, [doc, ...])``, never a single line: Beam's
per-element overhead (several microseconds) would dominate otherwise. Files are listed
in the driver, reshuffled so that workers share them, and read by ``ReadFileFn``. Chunk
keys are ``<hash of path>-<chunk index>``: the same input always gives the same keys.

What a file becomes is decided elsewhere: the formats in ``pipelines.io.registry`` (one
module each under ``pipelines.io.formats``), the never-crash dispatch in
``pipelines.io.file_reader``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from lmcore import storage
from lmcore.faults import crash_point
from lmcore.hashing import stable_hash_hex
from pipelines.io.config import ReadConfig
from pipelines.io.file_reader import FileReader
from pipelines.io.records import Document, Quarantine
from pipelines.stage.accounting import DOCS, QUARANTINE, StageOutputs
from pipelines.stage.counting import COUNTS, emit_counts
from pipelines.stage.progress import RateLogger


class ReadFileFn(beam.DoFn):
    """InputFile -> (chunk_key, docs) chunks; bad records go to the ``quarantine`` output."""

    def __init__(self, config: ReadConfig, stage: str = "read", total_bytes: int | None = None):
        self.config = config
        self.stage = stage
        self.total_bytes = total_bytes

    def setup(self) -> None:
        self.reader = FileReader(self.config, self.stage)
        self.progress = RateLogger(f"{self.stage}: reading", total_bytes=self.total_bytes)

    def process(self, file: storage.InputFile) -> Iterator[Any]:
        crash_point("read")  # crash-safety tests only (LMFORGE_CRASH_AT=read)
        prefix = stable_hash_hex(file.path)[:16]
        chunk: list[Document] = []
        chunk_bytes = 0
        index = 0
        for item in self.reader.records(file.path):
            if isinstance(item, Quarantine):
                yield from self._quarantine(item)
                continue
            chunk.append(item)
            chunk_bytes += len(item["text"])
            if len(chunk) >= self.config.chunk_docs or chunk_bytes >= self.config.chunk_bytes:
                yield from self._emit(prefix, index, chunk, chunk_bytes)
                index, chunk, chunk_bytes = index + 1, [], 0
        if chunk:
            yield from self._emit(prefix, index, chunk, chunk_bytes)

    def _quarantine(self, item: Quarantine) -> Iterator[Any]:
        yield beam.pvalue.TaggedOutput(QUARANTINE, item.as_record())
        yield from emit_counts(self.stage, {"input": 1, f"quarantined/{item.reason}": 1})

    def _emit(self, prefix: str, index: int, chunk: list[Document], nbytes: int) -> Iterator[Any]:
        self.progress.update(len(chunk), nbytes)
        yield from emit_counts(self.stage, {"input": len(chunk)})
        yield f"{prefix}-{index:06d}", chunk


class ReadDocuments(beam.PTransform):
    """Input globs (or an explicit file list) -> ``StageOutputs`` with chunks, counts and quarantine."""

    def __init__(
        self,
        patterns: list[str] | None = None,
        config: ReadConfig | None = None,
        stage: str = "read",
        files: list[storage.InputFile] | None = None,
    ):
        super().__init__()
        self.patterns = list(patterns or [])
        self.config = config or ReadConfig()
        self.stage = stage
        self.files = files

    def expand(self, pbegin: beam.pvalue.PBegin) -> StageOutputs:
        files = self.files if self.files is not None else storage.expand_inputs(self.patterns)
        total = sum(f.size for f in files)
        results = (
            pbegin
            | "ListFiles" >> beam.Create(files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadFiles"
            >> beam.ParDo(ReadFileFn(self.config, self.stage, total)).with_outputs(
                COUNTS, QUARANTINE, main=DOCS
            )
        )
        dropped = pbegin | "NoDropped" >> beam.Create([])
        return StageOutputs(results[DOCS], results[COUNTS], dropped, results[QUARANTINE])

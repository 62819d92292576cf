"""``FilterFn``: the duplicates leave the chunks, each as a dropped record naming its representative."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from pipelines.dedup.boilerplate import chunk_line_batches
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.records import Removals
from pipelines.io.packing import pack, unpack
from pipelines.stage.accounting import DROPPED, dropped_record
from pipelines.stage.counting import emit_counts

Doc = dict[str, Any]
LINE_BATCHES = "line_batches"  # FilterFn's tagged output: (shard, LineRows) of the survivors


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


class FilterFn(beam.DoFn):
    """Drop the duplicates (side input: the removal map) from the chunks.

    With ``config.boilerplate`` the survivors leave packed (the runner holds them until the
    frequent lines are known, and bytes are cheaper to hold than dicts), and their
    boilerplate line rows are emitted here, tagged ``LINE_BATCHES``, while the chunk is
    unpacked anyway.
    """

    def __init__(self, stage: str, config: DedupConfig | None = None):
        self.stage = stage
        self.config = config or DedupConfig(boilerplate=False)

    def process(self, chunk: tuple[str, bytes | list[Doc]], removed: Removals) -> Iterator[Any]:
        key, packed = chunk
        docs = unpack(packed)
        kept: list[Doc] = []
        counts: Counter = Counter()
        for doc in docs:
            removal = removed.get(doc["id"])
            if removal is None:
                kept.append(doc)
                continue
            counts[f"duplicates/{removal.kind}"] += 1
            counts[f"bytes_dedup_dropped/duplicate_{removal.kind}"] += utf8_len(doc["text"])
            yield pvalue.TaggedOutput(
                DROPPED,
                dropped_record(
                    self.stage, doc, f"duplicate_{removal.kind}", duplicate_of=removal.representative
                ),
            )
        yield from emit_counts(self.stage, counts)
        if not kept:
            return
        cfg = self.config
        if not cfg.boilerplate:
            yield key, kept
            return
        for batch in chunk_line_batches(kept, cfg.boilerplate_min_chars, cfg.shuffle_shards):
            yield pvalue.TaggedOutput(LINE_BATCHES, batch)
        yield key, packed if len(kept) == len(docs) and isinstance(packed, bytes) else pack(kept)

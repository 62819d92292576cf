"""The persisted dedup index: exact hash and MinHash signature of every kept document.

Written as Parquet next to the dataset (one directory per run), read back by later runs
so that new documents are deduplicated against everything kept before without
reprocessing old text. The settings that shape signatures are stored in the file
metadata; an index made with other settings is refused, since its signatures would not
be comparable.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import fsutil
from pipelines.dedup.config import DedupConfig
from pipelines.hashing import stable_bucket

SCHEMA = pa.schema([("id", pa.string()), ("exact", pa.uint64()), ("sig", pa.binary())])


def signature_settings(cfg: DedupConfig) -> dict:
    return {
        "num_perm": cfg.num_perm,
        "seed": cfg.seed,
        "word_ngram": cfg.word_ngram,
        "char_ngram": cfg.char_ngram,
    }


def expand(patterns: list[str]) -> list[str]:
    if not patterns:
        return []
    found = []
    for pattern in patterns:
        fs, p = fsutil.get_fs(pattern)
        found += [
            fs.unstrip_protocol(m) if "://" in pattern else m for m in fs.glob(p) if m.endswith(".parquet")
        ]
    return sorted(set(found))


def read_records(path: str, cfg: DedupConfig) -> Iterator[dict]:
    fs, p = fsutil.get_fs(path)
    with fs.open(p, "rb") as f:
        table = pq.read_table(f)
    stored = json.loads((table.schema.metadata or {}).get(b"lmforge.dedup", b"{}"))
    if stored != signature_settings(cfg):
        raise ValueError(
            f"dedup index {path} was built with {stored}, not {signature_settings(cfg)}; rebuild it"
        )
    for row in table.to_pylist():
        yield {
            "id": row["id"],
            "exact": row["exact"],
            "old": True,
            "sig": np.frombuffer(row["sig"], np.uint32),
        }


def to_parquet_bytes(records: Iterable[dict], cfg: DedupConfig) -> bytes:
    recs = sorted(records, key=lambda r: r["id"])
    table = pa.table(
        {
            "id": [r["id"] for r in recs],
            "exact": pa.array([r["exact"] for r in recs], pa.uint64()),
            "sig": [r["sig"].tobytes() if "sig" in r else b"" for r in recs],
        },
        schema=SCHEMA.with_metadata({"lmforge.dedup": json.dumps(signature_settings(cfg))}),
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", write_statistics=False)
    return buf.getvalue()


class WriteIndex(beam.PTransform):
    def __init__(self, directory: str, cfg: DedupConfig):
        super().__init__()
        self.directory = directory
        self.cfg = cfg

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        n, cfg, directory = self.cfg.index_files, self.cfg, self.directory

        def write(item: tuple[int, Iterable[dict]]) -> str:
            shard, recs = item
            path = fsutil.join(directory, f"index-{shard:05d}-of-{n:05d}.parquet")
            fsutil.atomic_write_bytes(path, to_parquet_bytes(recs, cfg))
            return path

        return (
            records
            | "Bucket" >> beam.Map(lambda r: (stable_bucket(r["id"], n), r))
            | "Group" >> beam.GroupByKey()
            | "Write" >> beam.Map(write)
        )

"""The persisted dedup index: exact hash, LSH band keys and MinHash signature of each kept document.

Written as Parquet (``index-00000-of-0000N.parquet``, rows sorted by id, deterministic
bytes) into a directory the caller chooses, one per run/version, so an earlier index is
never modified: a later run reads the earlier directories (``index_inputs`` globs) and
deduplicates new documents against them without reprocessing old text. Old documents
always stay (they are the representatives of their clusters).

The settings that shape signatures and band keys are stored in the file metadata; an
index made with other settings is refused, since its keys would not be comparable.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lmcore import storage
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.minhash import optimal_bands
from pipelines.dedup.shingles import SHINGLE_VERSION

METADATA_KEY = b"lmforge.dedup"


def signature_settings(cfg: DedupConfig) -> dict:
    bands, rows = optimal_bands(
        cfg.threshold, cfg.num_perm, cfg.false_positive_weight, cfg.false_negative_weight
    )
    return {
        "num_perm": cfg.num_perm,
        "seed": cfg.seed,
        "word_ngram": cfg.word_ngram,
        "char_ngram": cfg.char_ngram,
        "bands": bands,
        "rows": rows,
        "shingle_version": SHINGLE_VERSION,
    }


def schema(cfg: DedupConfig) -> pa.Schema:
    bands = signature_settings(cfg)["bands"]
    return pa.schema(
        [
            ("id", pa.string()),
            ("uid", pa.uint64()),
            ("exact", pa.uint64()),
            ("bands", pa.list_(pa.uint64(), bands)),
            ("sig", pa.binary(4 * cfg.num_perm)),
        ],
        metadata={METADATA_KEY: json.dumps(signature_settings(cfg), sort_keys=True)},
    )


def expand(patterns: list[str]) -> list[str]:
    """Index Parquet files matching the globs (a directory means all its Parquet files)."""
    found: list[str] = []
    for pattern in patterns:
        fs, p = storage.get_fs(pattern)
        if fs.isdir(p):
            p = p.rstrip("/") + "/**/*.parquet"
        matches = [m for m in fs.glob(p) if m.endswith(".parquet")]
        found += [fs.unstrip_protocol(m) if "://" in pattern else m for m in matches]
    return sorted(set(found))


def to_table(batch: dict, cfg: DedupConfig) -> pa.Table:
    order = np.argsort(np.array(batch["id"], dtype=object), kind="stable") if len(batch["id"]) else []
    n_bands = signature_settings(cfg)["bands"]
    bands = np.asarray(batch["bands"], np.uint64)[order].reshape(-1)
    sig = np.ascontiguousarray(np.asarray(batch["sig"], np.uint32)[order])
    return pa.table(
        {
            "id": pa.array([batch["id"][i] for i in order], pa.string()),
            "uid": pa.array(np.asarray(batch["uid"], np.uint64)[order], pa.uint64()),
            "exact": pa.array(np.asarray(batch["exact"], np.uint64)[order], pa.uint64()),
            "bands": pa.FixedSizeListArray.from_arrays(pa.array(bands, pa.uint64()), n_bands),
            "sig": pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(4 * cfg.num_perm), len(sig), [None, pa.py_buffer(sig.tobytes())]
            ),
        },
        schema=schema(cfg),
    )


def to_parquet_bytes(batch: dict, cfg: DedupConfig) -> bytes:
    buf = io.BytesIO()
    pq.write_table(to_table(batch, cfg), buf, compression="zstd", write_statistics=False)
    return buf.getvalue()


def read_batches(path: str, cfg: DedupConfig, rows_per_batch: int = 65536) -> Iterator[dict]:
    """An index file as column batches; refuses an index built with other signature settings."""
    fs, p = storage.get_fs(path)
    with fs.open(p, "rb") as f:
        pf = pq.ParquetFile(f)
        stored = json.loads((pf.schema_arrow.metadata or {}).get(METADATA_KEY, b"{}"))
        if stored != signature_settings(cfg):
            raise ValueError(
                f"dedup index {path} was built with {stored}, not {signature_settings(cfg)}; rebuild it"
            )
        for rb in pf.iter_batches(batch_size=rows_per_batch):
            n = rb.num_rows
            sig = np.frombuffer(rb.column("sig").buffers()[1], np.uint32)
            offset = rb.column("sig").offset
            sig = sig.reshape(-1, cfg.num_perm)[offset : offset + n]
            bands = np.asarray(rb.column("bands").flatten().to_numpy(zero_copy_only=False), np.uint64)
            yield {
                "id": rb.column("id").to_pylist(),
                "uid": rb.column("uid").to_numpy(zero_copy_only=False).astype(np.uint64),
                "exact": rb.column("exact").to_numpy(zero_copy_only=False).astype(np.uint64),
                "bands": bands.reshape(n, -1),
                "sig": sig.copy(),
            }

"""Write a valid token dataset (shards + tokenizer + manifest) of any size, for tests and benchmarks.

Documents have random lengths (log-normal, or fixed), random token ids and end with the
end-of-document id 0; each document belongs to one ``source``. Shards are built straight
from flat numpy arrays through ``schemas.token_shard_schema`` (no Python loop per
document) and written by ``lmcore.dataset_writer``, streamed, so the size is bounded by
disk speed rather than memory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from lmcore.dataset_writer import DatasetWriter
from schemas import (
    Counts,
    Manifest,
    token_dtype_for_vocab,
    token_shard_schema,
    validate_token_shard_table,
)
from schemas.token_shard import MAX_TOKENS_PER_SHARD

EOS_ID = 0
PAD_ID = 1


@dataclass(frozen=True)
class SyntheticSpec:
    num_docs: int = 1000
    mean_len: float = 200.0  # mean tokens per document (including the end-of-document token)
    sigma: float = 1.0  # log-normal spread; 0 = every document exactly mean_len tokens
    max_len: int = 1 << 16
    vocab_size: int = 1024
    sources: Sequence[str] = ("web", "books")
    source_weights: Sequence[float] | None = None
    validation_fraction: float = 0.1
    num_shards: int = 2  # per split
    seed: int = 0


def document_lengths(spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
    if spec.sigma <= 0:
        return np.full(spec.num_docs, max(int(spec.mean_len), 1), np.int64)
    mu = np.log(spec.mean_len) - spec.sigma**2 / 2
    raw = rng.lognormal(mu, spec.sigma, spec.num_docs)
    return np.clip(np.rint(raw), 1, spec.max_len).astype(np.int64)


def _shard_table(
    docs: np.ndarray,
    lengths: np.ndarray,
    sources: Sequence[str],
    src_of: np.ndarray,
    dtype: str,
    split: str,
    rng: np.random.Generator,
    vocab: int,
) -> pa.Table:
    n = lengths[docs]
    offsets = np.zeros(len(docs) + 1, np.int64)
    np.cumsum(n, out=offsets[1:])
    if offsets[-1] > MAX_TOKENS_PER_SHARD:
        raise ValueError("too many tokens for one shard; raise num_shards")
    flat = rng.integers(2, vocab, int(offsets[-1]), dtype=np.int64).astype(dtype)
    flat[offsets[1:] - 1] = EOS_ID
    schema = token_shard_schema(dtype, split)
    tokens = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(flat)).cast(
        schema.field("tokens").type
    )
    num_bytes = (n * 3).astype(np.int64)  # pretend 3 bytes per token
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array([f"doc-{d:09d}" for d in docs.tolist()], pa.string()),
            pa.array(np.asarray(sources, dtype=object)[src_of[docs]].tolist(), pa.string()),
            pa.array(["xx"] * len(docs), pa.string()),
            pa.array(num_bytes),
            tokens,
        ],
        schema=schema,
    )
    table = pa.Table.from_batches([batch])
    validate_token_shard_table(table, dtype, vocab)
    return table


def write_synthetic_dataset(root: str, spec: SyntheticSpec | None = None, **overrides) -> Manifest:
    """Write ``root/{shards/*.arrow, tokenizer.json, manifest.json}`` and return the manifest."""
    spec = spec or SyntheticSpec()
    if overrides:
        spec = SyntheticSpec(**{**spec.__dict__, **overrides})
    rng = np.random.default_rng(spec.seed)
    lengths = document_lengths(spec, rng)
    w = np.asarray(spec.source_weights or [1.0] * len(spec.sources), np.float64)
    src_of = rng.choice(len(spec.sources), size=spec.num_docs, p=w / w.sum())
    is_val = rng.random(spec.num_docs) < spec.validation_fraction
    dtype = token_dtype_for_vocab(spec.vocab_size)
    writer = DatasetWriter(root)
    for split, docs in (("train", np.flatnonzero(~is_val)), ("validation", np.flatnonzero(is_val))):
        if len(docs) == 0:
            continue
        parts = np.array_split(docs, min(spec.num_shards, len(docs)))
        for i, part in enumerate(parts):
            table = _shard_table(part, lengths, spec.sources, src_of, dtype, split, rng, spec.vocab_size)
            writer.add_shard(split, i, len(parts), table, dtype)
    writer.write_tokenizer(
        json.dumps({"synthetic": True, "vocab_size": spec.vocab_size}),
        vocab_size=spec.vocab_size,
        special_tokens={"<|endoftext|>": EOS_ID, "<|pad|>": PAD_ID},
        eos_id=EOS_ID,
        pad_id=PAD_ID,
    )
    manifest = writer.commit(
        writer.manifest(
            Counts(input=spec.num_docs, kept=spec.num_docs),
            config={
                "synthetic": {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.__dict__.items()}
            },
            created_at="1970-01-01T00:00:00Z",
            code_version="lmforge synthetic",
        )
    )
    manifest.base_dir = root
    return manifest

"""Documents -> exact-hash and LSH band-key rows, per hash shard, for the pair-finding shuffle.

Both kinds of rows go through one GroupByKey keyed by ``ShardKey(kind, shard)``; an earlier
run's index file gives the same rows for its documents (stored keys, salted uids, marked
old), so new documents meet old ones without their text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from apache_beam import pvalue

from pipelines.dedup import index
from pipelines.dedup.boilerplate import doc_uid, split_by_shard
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.minhash import band_keys, flat_signatures, optimal_bands
from pipelines.dedup.pool import PooledDoFn
from pipelines.dedup.records import BANDS, EXACT, OLD_SALT, BandRows, ExactRows, IndexRows, ShardKey
from pipelines.dedup.shingles import ChunkShingles, chunk_shingles
from pipelines.io.packing import unpack
from pipelines.stage.progress import RateLogger

Doc = dict[str, Any]
INDEX = "index"  # SignFn's tagged output: index rows of the signed documents
KeyRows = tuple[ShardKey, ExactRows | BandRows]


@dataclass
class SignedChunk:
    """Per-document dedup data of a chunk, computed in numpy batches."""

    id: list[str]
    uid: np.ndarray  # uint64
    exact: np.ndarray  # uint64
    shingles: ChunkShingles
    sig: np.ndarray | None = None  # docs x num_perm uint32
    bands: np.ndarray | None = None  # docs x bands uint64
    has_shingles: np.ndarray | None = None  # bool: documents without a word character have no bands

    def index_rows(self) -> IndexRows:
        assert self.sig is not None
        return IndexRows(self.id, self.uid, self.exact, self.sig)


def sign_chunk(docs: list[Doc], cfg: DedupConfig, with_signatures: bool = True) -> SignedChunk:
    """Shingles and exact hashes of the documents; with signatures, MinHash and band keys too."""
    sh = chunk_shingles([d["text"] for d in docs], None, cfg.word_ngram, cfg.char_ngram)
    signed = SignedChunk(
        id=[d["id"] for d in docs],
        uid=np.fromiter((doc_uid(d["id"]) for d in docs), np.uint64, len(docs)),
        exact=sh.exact,
        shingles=sh,
    )
    if with_signatures:
        signed.sig = flat_signatures(sh.hashes, sh.offsets, cfg.num_perm, cfg.seed)
        signed.bands = band_keys(signed.sig, *bands_and_rows(cfg))
        signed.has_shingles = np.diff(sh.offsets) > 0
    return signed


def bands_and_rows(cfg: DedupConfig) -> tuple[int, int]:
    return optimal_bands(cfg.threshold, cfg.num_perm, cfg.false_positive_weight, cfg.false_negative_weight)


def key_rows(
    uid: np.ndarray,
    exact: np.ndarray,
    bands: np.ndarray | None,
    has_shingles: np.ndarray | None,
    old: bool,
    cfg: DedupConfig,
) -> Iterator[KeyRows]:
    """(ShardKey, rows): exact-hash and band-key rows of some documents, per shard."""
    old_col = np.full(len(uid), old)
    if cfg.exact:
        for shard, cols in split_by_shard(exact, cfg.shuffle_shards, uid, old_col):
            yield (EXACT, shard), ExactRows(*cols)
    if cfg.fuzzy:
        assert bands is not None and has_shingles is not None
        banded = bands[has_shingles]
        b = banded.shape[1]
        for shard, cols in split_by_shard(
            banded.reshape(-1),
            cfg.shuffle_shards,
            np.repeat(uid[has_shingles], b),
            np.repeat(exact[has_shingles], b),
            np.repeat(old_col[has_shingles], b),
        ):
            yield (BANDS, shard), BandRows(*cols)


def old_key_rows(path: str, cfg: DedupConfig) -> Iterator[KeyRows]:
    """An earlier run's index file -> the key rows of its documents (salted uids, marked old)."""
    for batch in index.read_batches(path, cfg):
        yield from key_rows(
            batch["uid"] ^ OLD_SALT,
            batch["exact"],
            batch["bands"],
            np.ones(len(batch["uid"]), bool),
            True,
            cfg,
        )


class SignFn(PooledDoFn):
    """Packed chunk -> key rows (main output) and, with ``with_index``, its index rows (``INDEX``).

    Chunks are signed on the pool; the outputs feed a GroupByKey, so their order does not matter.
    """

    def __init__(self, config: DedupConfig, stage: str, with_index: bool):
        super().__init__(config)
        self.stage = stage
        self.with_index = with_index

    def setup(self) -> None:
        super().setup()
        self.progress = RateLogger(f"{self.stage}: signatures")

    def process(self, chunk: tuple[str, bytes | list[Doc]]) -> Iterator[Any]:
        for outputs in self.pool.submit(self._sign, chunk[1]):
            yield from outputs

    def _sign(self, packed: bytes | list[Doc]) -> list[Any]:
        docs = unpack(packed)
        cfg = self.config
        signed = sign_chunk(docs, cfg, with_signatures=cfg.fuzzy or self.with_index)
        out: list[Any] = list(
            key_rows(signed.uid, signed.exact, signed.bands, signed.has_shingles, False, cfg)
        )
        if self.with_index:
            out.append(pvalue.TaggedOutput(INDEX, signed.index_rows()))
        self.progress.update(len(docs), sum(len(d["text"]) for d in docs))
        return out

"""Encoding documents inside Beam: ``TokenizeFn`` turns chunks of documents into token arrays per split."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from lmcore.hashing import stable_hash64
from pipelines.stage.accounting import QUARANTINE, quarantine_record
from pipelines.stage.counting import emit_counts
from pipelines.stage.progress import RateLogger
from pipelines.tokenize import bpe, encode, shards
from pipelines.tokenize.config import TokenizeConfig
from schemas import token_dtype_for_vocab

Doc = dict[str, Any]
Chunk = tuple[str, list[Doc]]


class TokenizeFn(beam.DoFn):
    """(chunk_key, docs) -> (split, TokenizedDocs) per split present in the chunk.

    The tokenizer arrives as a side input (its JSON) and is parsed once per worker:
    ``setup()`` prepares the cache, the first bundle fills it, later bundles reuse it.
    Empty texts are dropped (``empty_text``); a text the tokenizer refuses (e.g. a lone
    surrogate) is quarantined (``tokenize_error``).
    """

    def __init__(self, config: TokenizeConfig, stage: str = "tokenize"):
        self.config = config
        self.stage = stage

    def setup(self) -> None:
        self._json_key: int | None = None
        self._tokenizer = None
        self._eos_id = 0
        self._dtype = "uint32"
        self.progress = RateLogger(f"{self.stage}: tokenizing")

    def _ensure_tokenizer(self, tokenizer_json: str) -> None:
        key = stable_hash64(tokenizer_json)
        if key != self._json_key:
            spec = bpe.describe(tokenizer_json, self.config)
            self._tokenizer = bpe.load_tokenizer(tokenizer_json)
            self._eos_id = spec.eos_id
            self._dtype = token_dtype_for_vocab(spec.vocab_size)
            self._json_key = key

    def _encode(self, texts: list[str]) -> list[Any]:
        """Token arrays, or None for a text the tokenizer refuses (found by retrying one by one)."""
        cfg = self.config
        try:
            return encode.encode_texts(self._tokenizer, texts, self._eos_id, cfg.max_piece_chars, self._dtype)
        except Exception:
            out: list[Any] = []
            for text in texts:
                try:
                    out.extend(
                        encode.encode_texts(
                            self._tokenizer, [text], self._eos_id, cfg.max_piece_chars, self._dtype
                        )
                    )
                except Exception as exc:
                    out.append(exc)
            return out

    def process(self, chunk: Chunk, tokenizer_json: str, floor_key: float = shards.NO_FLOOR) -> Iterator[Any]:
        self._ensure_tokenizer(tokenizer_json)
        cfg = self.config
        docs = [d for d in chunk[1] if d["text"]]
        counts: dict[str, int] = {}
        if len(docs) < len(chunk[1]):
            counts["dropped/empty_text"] = len(chunk[1]) - len(docs)
        encoded = self._encode([d["text"] for d in docs])
        by_split: dict[str, shards.TokenizedDocs] = {}
        nbytes_total = 0
        for doc, tokens in zip(docs, encoded, strict=True):
            if isinstance(tokens, Exception):
                counts["quarantined/tokenize_error"] = counts.get("quarantined/tokenize_error", 0) + 1
                yield pvalue.TaggedOutput(
                    QUARANTINE,
                    quarantine_record(
                        self.stage,
                        doc.get("source") or "",
                        None,
                        "tokenize_error",
                        f"{doc['id']}: {type(tokens).__name__}: {tokens}",
                        doc["text"].encode("utf-8", "backslashreplace"),
                    ),
                )
                continue
            nbytes = len(doc["text"].encode("utf-8", "surrogatepass"))
            nbytes_total += nbytes
            split = shards.split_of(doc["id"], cfg.validation_fraction, cfg.split_seed, floor_key)
            part = by_split.setdefault(split, shards.TokenizedDocs.empty())
            part.doc_ids.append(doc["id"])
            part.sources.append(doc["source"])
            part.langs.append(doc.get("lang"))
            part.num_bytes.append(nbytes)
            part.tokens.append(tokens)
        self.progress.update(len(docs), nbytes_total)
        yield from emit_counts(self.stage, counts)
        for split in sorted(by_split):
            yield split, by_split[split]

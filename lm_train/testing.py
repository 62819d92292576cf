"""Small real datasets for tests and benchmarks, written with ``schemas`` only (no Beam).

``write_text_dataset`` trains a byte-level BPE with HF ``tokenizers`` on the given texts,
tokenizes them (each document ends with the end-of-document id) and writes a valid
dataset directory: ``shards/*.arrow``, ``tokenizer.json`` and ``manifest.json`` (last).
``sample_texts`` picks English (KJV) and Chinese (fortunes) documents from the bundled
sample corpus, so tests exercise both scripts with a tokenizer that can decode them.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from schemas import (
    Counts,
    Manifest,
    ShardInfo,
    TokenizerInfo,
    build_token_shard_table,
    sha256_bytes,
    token_dtype_for_vocab,
    token_shard_to_bytes,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "raw" / "jsonl"
SPECIALS = ["<|endoftext|>", "<|pad|>"]


def sample_texts(n_en: int = 40, n_zh: int = 40, max_chars: int = 2000) -> list[tuple[str, str, str]]:
    """``(doc_id, lang, text)`` from the sample corpus: KJV verses and Chinese fortunes."""
    out: list[tuple[str, str, str]] = []
    for name, lang, n in (("kjv-new-testament", "en", n_en), ("fortunes-zh", "zh", n_zh)):
        with gzip.open(SAMPLE / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= n:
                    break
                rec = json.loads(line)
                out.append((f"{name}/{i}", lang, rec["text"][:max_chars]))
    return out


def train_tokenizer(texts: Sequence[str], vocab_size: int):
    """A byte-level BPE (any UTF-8 text encodes; decoding restores it) with our special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def _write_shard(out: Path, rel: str, split: str, docs: list[tuple[str, str, str, np.ndarray]], dtype: str):
    table = build_token_shard_table(
        [d[0] for d in docs],
        ["sample"] * len(docs),
        [d[1] for d in docs],
        [len(d[2].encode("utf-8")) for d in docs],
        [d[3] for d in docs],
        dtype,
        split,
    )
    data = token_shard_to_bytes(table)
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).write_bytes(data)
    return ShardInfo(
        path=rel,
        split=split,
        sha256=sha256_bytes(data),
        num_docs=len(docs),
        num_tokens=int(sum(len(d[3]) for d in docs)),
        num_bytes=int(sum(len(d[2].encode("utf-8")) for d in docs)),
        dtype=dtype,
    )


def write_text_dataset(
    out_dir: str | os.PathLike,
    texts: Sequence[tuple[str, str, str]] | None = None,
    vocab_size: int = 512,
    val_every: int = 8,
    train_shards: int = 2,
) -> Path:
    """Tokenize ``texts`` (default: ``sample_texts()``) into a dataset at ``out_dir``; every
    ``val_every``-th document goes to the validation split."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    texts = list(texts if texts is not None else sample_texts())
    tok = train_tokenizer([t[2] for t in texts], vocab_size)
    tok.save(str(out / "tokenizer.json"))
    eos = tok.token_to_id(SPECIALS[0])
    dtype = token_dtype_for_vocab(tok.get_vocab_size())
    docs = [
        (doc_id, lang, text, np.array([*tok.encode(text).ids, eos], dtype=np.int64))
        for doc_id, lang, text in sorted(texts)
    ]
    val = [d for i, d in enumerate(docs) if i % val_every == val_every - 1]
    train = [d for i, d in enumerate(docs) if i % val_every != val_every - 1]
    shards = [
        _write_shard(
            out, f"shards/train-{k:05d}-of-{train_shards:05d}.arrow", "train", train[k::train_shards], dtype
        )
        for k in range(train_shards)
    ]
    shards.append(_write_shard(out, "shards/validation-00000-of-00001.arrow", "validation", val, dtype))
    manifest = Manifest(
        tokenizer=TokenizerInfo(
            file="tokenizer.json",
            sha256=sha256_bytes((out / "tokenizer.json").read_bytes()),
            vocab_size=tok.get_vocab_size(),
            special_tokens={s: tok.token_to_id(s) for s in SPECIALS},
            eos_id=eos,
            pad_id=tok.token_to_id(SPECIALS[1]),
        ),
        shards=shards,
        counts=Counts(input=len(docs), kept=len(docs)),
        created_at="2026-01-01T00:00:00Z",
        code_version="test",
    )
    (out / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    return out

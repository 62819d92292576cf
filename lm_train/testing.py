"""Small real datasets for tests and benchmarks, written with ``schemas`` only (no Beam).

``write_text_dataset`` trains a byte-level BPE with HF ``tokenizers`` on the given texts,
tokenizes them (each document ends with the end-of-document id) and writes a valid
dataset directory through ``lmcore.dataset_writer`` (shards, tokenizer, manifest last).
``sample_texts`` picks English (KJV) and Chinese (fortunes) documents from the bundled
sample corpus, so tests exercise both scripts with a tokenizer that can decode them.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lmcore.dataset_writer import DatasetWriter
from schemas import Counts, build_token_shard_table, token_dtype_for_vocab

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


def _shard_table(split: str, docs: list[tuple[str, str, str, np.ndarray]], dtype: str):
    return build_token_shard_table(
        [d[0] for d in docs],
        ["sample"] * len(docs),
        [d[1] for d in docs],
        [len(d[2].encode("utf-8")) for d in docs],
        [d[3] for d in docs],
        dtype,
        split,
    )


# Trainer settings of a model small enough for a test to train in seconds (later overrides win).
TINY_TRAIN_ARGS = (
    "seq_len=32",
    "batch_size=8",
    "n_layer=1",
    "n_head=2",
    "d_model=32",
    "lr=1e-2",
    "warmup_steps=2",
    "eval_steps=2",
    "peak_flops=1e11",
    "tensorboard=false",
)


def _write_tokenizer(writer: DatasetWriter, tok: Any, tokenizer_json: str | None = None) -> None:
    """The tokenizer file (``tokenizer_json`` as given, else ``tok``'s) and its special ids."""
    writer.write_tokenizer(
        tokenizer_json or tok.to_str(pretty=True),
        vocab_size=tok.get_vocab_size(),
        special_tokens={s: tok.token_to_id(s) for s in SPECIALS},
        eos_id=tok.token_to_id(SPECIALS[0]),
        pad_id=tok.token_to_id(SPECIALS[1]),
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
    texts = list(texts if texts is not None else sample_texts())
    tok = train_tokenizer([t[2] for t in texts], vocab_size)
    eos = tok.token_to_id(SPECIALS[0])
    dtype = token_dtype_for_vocab(tok.get_vocab_size())
    docs = [
        (doc_id, lang, text, np.array([*tok.encode(text).ids, eos], dtype=np.int64))
        for doc_id, lang, text in sorted(texts)
    ]
    val = [d for i, d in enumerate(docs) if i % val_every == val_every - 1]
    train = [d for i, d in enumerate(docs) if i % val_every != val_every - 1]
    writer = DatasetWriter(str(out))
    for k in range(train_shards):
        writer.add_shard(
            "train", k, train_shards, _shard_table("train", train[k::train_shards], dtype), dtype
        )
    writer.add_shard("validation", 0, 1, _shard_table("validation", val, dtype), dtype)
    writer.write_tokenizer(
        tok.to_str(pretty=True),
        vocab_size=tok.get_vocab_size(),
        special_tokens={s: tok.token_to_id(s) for s in SPECIALS},
        eos_id=eos,
        pad_id=tok.token_to_id(SPECIALS[1]),
    )
    counts = Counts(input=len(docs), kept=len(docs))
    writer.commit(writer.manifest(counts, created_at="2026-01-01T00:00:00Z", code_version="test"))
    return out


def write_task_dataset(
    out_dir: str | os.PathLike,
    examples: Sequence[tuple[str, str]],
    labels: Sequence[str],
    tokenizer_json: str | None = None,
    vocab_size: int = 400,
    val_every: int = 5,
) -> Path:
    """A labelled classification dataset of ``(text, label name)`` examples: one document per
    example with its ``label`` id, every ``val_every``-th in the validation split, and the
    manifest's ``task``. ``tokenizer_json`` (a pretraining dataset's tokenizer.json) is used as
    is, as ``prepare_task --tokenizer`` does; else a tokenizer is trained on the texts."""
    from tokenizers import Tokenizer

    from schemas import TaskInfo

    out = Path(out_dir)
    tok = (
        Tokenizer.from_str(tokenizer_json)
        if tokenizer_json
        else train_tokenizer([t for t, _ in examples], vocab_size)
    )
    eos = tok.token_to_id(SPECIALS[0])
    dtype = token_dtype_for_vocab(tok.get_vocab_size())
    splits: dict[str, list[tuple[str, str, int, np.ndarray]]] = {"train": [], "validation": []}
    for i, (text, label) in enumerate(examples):
        split = "validation" if i % val_every == val_every - 1 else "train"
        ids = np.array([*tok.encode(text).ids, eos], dtype=np.int64)
        splits[split].append((f"ex{i:06d}", text, labels.index(label), ids))
    writer = DatasetWriter(str(out))
    for split, rows in splits.items():
        table = build_token_shard_table(
            [r[0] for r in rows],
            ["task"] * len(rows),
            ["en"] * len(rows),
            [len(r[1].encode("utf-8")) for r in rows],
            [r[3] for r in rows],
            dtype,
            split,
            labels=[r[2] for r in rows],
        )
        writer.add_shard(split, 0, 1, table, dtype)
    _write_tokenizer(writer, tok, tokenizer_json)
    counts = {
        split: {name: sum(1 for r in rows if r[2] == k) for k, name in enumerate(labels)}
        for split, rows in splits.items()
    }
    manifest = writer.manifest(
        Counts(input=len(examples), kept=len(examples)),
        created_at="2026-01-01T00:00:00Z",
        code_version="test",
    )
    task = TaskInfo("classification", list(labels), counts, "text", "label")
    writer.commit(dataclasses.replace(manifest, task=task, schema_version=""))
    return out


def keyword_task(n: int, seed: int = 0, keyword: str = "zebra") -> list[tuple[str, str]]:
    """An easy synthetic task: label ``yes`` when the text contains ``keyword``, else ``no``."""
    rng = np.random.default_rng(seed)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "blue", "sky", "tree", "old", "road"]
    out = []
    for i in range(n):
        text = [str(w) for w in rng.choice(words, size=int(rng.integers(4, 12)))]
        if i % 2:
            text.insert(int(rng.integers(0, len(text) + 1)), keyword)
        out.append((" ".join(text), "yes" if i % 2 else "no"))
    return out


def write_pairs_dataset(
    out_dir: str | os.PathLike,
    pairs: Sequence[tuple[str, str]],
    tokenizer_json: str | None = None,
    vocab_size: int = 400,
    val_every: int = 5,
    test_every: int = 0,
    lang: str = "en",
) -> Path:
    """A paired-text (``task.kind == "pairs"``) dataset of ``(source, target)`` examples: the
    source ids in ``tokens`` and the target ids in ``target``, each ending with eos. Example
    ``i`` goes to validation when ``i % val_every == val_every - 1``, else to test when
    ``test_every`` and ``i % test_every == test_every - 1``, else to train. ``tokenizer_json``
    is used as is (``prepare_task --tokenizer``); else one is trained on both sides."""
    from tokenizers import Tokenizer

    from schemas import TaskInfo

    out = Path(out_dir)
    tok = (
        Tokenizer.from_str(tokenizer_json)
        if tokenizer_json
        else train_tokenizer([t for pair in pairs for t in pair], vocab_size)
    )
    eos = tok.token_to_id(SPECIALS[0])
    dtype = token_dtype_for_vocab(tok.get_vocab_size())
    splits: dict[str, list[tuple[str, str, np.ndarray, np.ndarray]]] = {"train": [], "validation": []}
    if test_every:
        splits["test"] = []
    for i, (source, target) in enumerate(pairs):
        split = "train"
        if i % val_every == val_every - 1:
            split = "validation"
        elif test_every and i % test_every == test_every - 1:
            split = "test"
        src = np.array([*tok.encode(source).ids, eos], dtype=np.int64)
        tgt = np.array([*tok.encode(target).ids, eos], dtype=np.int64)
        splits[split].append((f"ex{i:06d}", source, src, tgt))
    writer = DatasetWriter(str(out))
    for split, rows in splits.items():
        table = build_token_shard_table(
            [r[0] for r in rows],
            ["task"] * len(rows),
            [lang] * len(rows),
            [len(r[1].encode("utf-8")) for r in rows],
            [r[2] for r in rows],
            dtype,
            split,
            targets=[r[3] for r in rows],
        )
        writer.add_shard(split, 0, 1, table, dtype)
    _write_tokenizer(writer, tok, tokenizer_json)
    manifest = writer.manifest(
        Counts(input=len(pairs), kept=len(pairs)), created_at="2026-01-01T00:00:00Z", code_version="test"
    )
    counts = {split: len(rows) for split, rows in splits.items()}
    task = TaskInfo("pairs", [], {}, example_counts=counts, source_field="source", target_field="target")
    writer.commit(dataclasses.replace(manifest, task=task, schema_version=""))
    return out


def copy_reverse_task(
    n: int,
    task: str = "reverse",
    seed: int = 0,
    min_len: int = 3,
    max_len: int = 7,
    alphabet: str = "abcdefgh",
) -> list[tuple[str, str]]:
    """Toy seq2seq pairs: a source of ``min_len..max_len`` space-separated letters and its copy
    (``task="copy"``) or the letters in reverse order (``task="reverse"``)."""
    if task not in ("copy", "reverse"):
        raise ValueError(f"task must be copy or reverse, got {task!r}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        letters = [str(c) for c in rng.choice(list(alphabet), size=int(rng.integers(min_len, max_len + 1)))]
        target = letters if task == "copy" else letters[::-1]
        out.append((" ".join(letters), " ".join(target)))
    return out

"""``python -m pipelines.verify DIR``: check a token dataset before training on it.

Checks, naming every fault it finds: the manifest (fields, balanced counts, fingerprint),
the tokenizer file (sha256, vocabulary size, end-of-document id), and every shard
(present, sha256, Arrow schema and dtype, one record batch, docs/tokens/bytes equal to the
manifest, token ids below the vocabulary size, every document ending with the EOD id,
rows sorted by unique ``doc_id``), that no document is in two shards, and that ``kept``
equals the documents in the shards. A classification task dataset (``manifest.task``) also
has a ``label`` column in every shard, every label id names one of ``task.labels``, and the
examples per split and label equal ``task.label_counts``. A pairs dataset has a ``target``
column and no ``label`` column in every shard, every target is non-empty, ends with the EOD
id and has ids below the vocabulary size, and the examples per split equal
``task.example_counts``. Exit 0 with a summary, 1 with the faults, 2 when the manifest itself
cannot be read.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lmcore import storage
from schemas import (
    LABEL_COLUMN,
    SPLITS,
    TARGET_COLUMN,
    ChecksumError,
    Manifest,
    ManifestError,
    ShardInfo,
    TokenShardError,
    load_manifest,
    read_shard_table,
    sha256_bytes,
    validate_token_shard_table,
)

# -- the comparisons (pure; ``pipelines.report`` shows the same ones as its consistency checks) ----------
REMOVAL_BUCKETS = ("dropped", "duplicates", "quarantined")
# (what a shard holds, what its manifest entry calls it)
SHARD_FIELDS = (("documents", "num_docs"), ("tokens", "num_tokens"), ("bytes", "num_bytes"))


def removed_documents(counts: Mapping[str, Any]) -> int:
    """Documents in every removal bucket of a ``counts`` object (``stats.json`` or manifest shape)."""
    return sum(sum(counts.get(bucket, {}).values()) for bucket in REMOVAL_BUCKETS)


def counts_add_up(counts: Mapping[str, Any]) -> tuple[bool, int]:
    """Whether ``input == kept + removed``, and ``kept + removed``."""
    accounted = counts["kept"] + removed_documents(counts)
    return counts["input"] == accounted, accounted


@dataclass(frozen=True)
class Mismatch:
    """A count where a shard's contents and its manifest entry disagree."""

    field: str  # the manifest's name: num_docs, num_tokens, num_bytes
    listed: Any
    found: int


def shard_mismatches(listed: Mapping[str, Any], found: Mapping[str, int]) -> list[Mismatch]:
    """The ``SHARD_FIELDS`` of ``found`` (documents/tokens/bytes) that differ from the manifest's entry."""
    return [
        Mismatch(theirs, listed.get(theirs), found[ours])
        for ours, theirs in SHARD_FIELDS
        if ours in found and listed.get(theirs) != found[ours]
    ]


def unlisted(listed: Iterable[str], found: Iterable[str]) -> list[str]:
    """Shard files found on disk (in their order) that the manifest does not name."""
    names = set(listed)
    return list(dict.fromkeys(p for p in found if p not in names))


@dataclass
class Report:
    faults: list[str] = field(default_factory=list)
    docs: int = 0
    tokens: int = 0
    shards: int = 0
    unlisted: list[str] = field(default_factory=list)
    label_counts: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # task datasets: split -> label -> n
    labelled_shards: int = 0  # shards whose labels were counted (all of them, or the counts say nothing)
    example_counts: dict[str, int] = field(default_factory=dict)  # pairs datasets: split -> examples
    counted_shards: int = 0  # pairs shards without faults, whose rows were counted

    def fault(self, message: str) -> None:
        self.faults.append(message)


def _open_table(path: str) -> pa.Table:
    """Memory-map local shards (as the trainer does); read remote ones through fsspec."""
    if storage.is_local(path):
        return read_shard_table(path.removeprefix("file://"))
    return read_shard_table(pa.py_buffer(storage.read_bytes(path)))


def check_tokenizer(manifest: Manifest, report: Report) -> None:
    info = manifest.tokenizer
    path = manifest.path_of(info.file)
    try:
        data = storage.read_bytes(path)
    except FileNotFoundError:
        report.fault(f"tokenizer {info.file!r} is listed in the manifest but missing ({path})")
        return
    actual = sha256_bytes(data)
    if actual != info.sha256:
        report.fault(
            f"tokenizer {info.file!r} is corrupted: sha256 {actual} does not match the manifest's {info.sha256}"
        )
        return
    try:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_str(data.decode("utf-8"))
    except Exception as exc:
        report.fault(f"tokenizer {info.file!r} cannot be loaded: {exc}")
        return
    size = tok.get_vocab_size(with_added_tokens=True)
    if size != info.vocab_size:
        report.fault(
            f"tokenizer {info.file!r} has {size} ids but the manifest says vocab_size {info.vocab_size}"
        )
    for name, tid in sorted(info.special_tokens.items()):
        if tok.token_to_id(name) != tid:
            report.fault(
                f"tokenizer {info.file!r}: special token {name!r} is id {tok.token_to_id(name)}, manifest says {tid}"
            )


def _ends_with_eos(col: pa.ListArray, eos_id: int) -> tuple[int, int, int | None]:
    """(rows without tokens, rows not ending with ``eos_id``, index of the first such row) of a
    token list column."""
    offsets = col.offsets.to_numpy()
    values = col.values.to_numpy(zero_copy_only=False)
    lengths = np.diff(offsets)
    empty = int((lengths == 0).sum())
    if empty:
        return empty, 0, None
    last = values[offsets[1:] - 1 - offsets[0]]
    bad = np.flatnonzero(last != eos_id)
    return 0, int(bad.size), int(bad[0]) if bad.size else None


def pair_column_faults(table: pa.Table, name: str, eos_id: int) -> Iterator[str]:
    """Faults of a pairs shard's columns: a ``target`` column, no ``label``, every target
    non-empty and ending with the EOD id (a decoder learns where to stop from it)."""
    if TARGET_COLUMN not in table.schema.names:
        yield f"shard {name!r}: has no {TARGET_COLUMN!r} column, but the manifest describes a pairs dataset"
        return
    if LABEL_COLUMN in table.schema.names:
        yield f"shard {name!r}: has a {LABEL_COLUMN!r} column, but the manifest describes a pairs dataset"
    if table.num_rows == 0:
        return
    empty, bad, first = _ends_with_eos(table.column(TARGET_COLUMN).chunks[0], eos_id)
    if empty:
        yield f"shard {name!r}: {empty} target(s) have no tokens"
    elif bad:
        doc = table.column("doc_id")[first].as_py()
        yield f"shard {name!r}: {bad} target(s) do not end with the EOD id {eos_id} (first: {doc!r})"


def check_shard_contents(
    table: pa.Table,
    shard: ShardInfo,
    vocab_size: int,
    eos_id: int,
    labels: list[str] | None = None,
    pairs: bool = False,
) -> Iterator[str]:
    """Faults of one shard's contents against its manifest entry (pure: no I/O); ``labels``:
    a task dataset's label list (its shards must have a label column with ids into it);
    ``pairs``: a pairs dataset (its shards must have a target column, ``pair_column_faults``)."""
    name = shard.path
    try:
        validate_token_shard_table(table, shard.dtype, vocab_size, None if labels is None else len(labels))
    except TokenShardError as exc:
        yield f"shard {name!r}: {exc}"
        return
    if labels is not None and LABEL_COLUMN not in table.schema.names:
        yield f"shard {name!r}: has no {LABEL_COLUMN!r} column, but the manifest describes a task dataset"
    if pairs:
        yield from pair_column_faults(table, name, eos_id)
    split = (table.schema.metadata or {}).get(b"lmforge.split")
    if split is not None and split.decode() != shard.split:
        yield f"shard {name!r}: written as split {split.decode()!r}, listed as {shard.split!r}"
    listed = shard.to_dict()
    for m in shard_mismatches(listed, {"documents": table.num_rows}):
        yield f"shard {name!r}: holds {m.found} documents, manifest says num_docs {m.listed}"
    if table.num_rows == 0:
        return
    col = table.column("tokens").chunks[0]
    offsets = col.offsets.to_numpy()
    found = {
        "tokens": int(offsets[-1] - offsets[0]),
        "bytes": int(pc.sum(table.column("num_bytes")).as_py() or 0),
    }
    units = {"num_tokens": "tokens", "num_bytes": "text bytes"}
    for m in shard_mismatches(listed, found):
        yield f"shard {name!r}: holds {m.found} {units[m.field]}, manifest says {m.field} {m.listed}"
    empty, bad, first = _ends_with_eos(col, eos_id)
    if empty:
        yield f"shard {name!r}: {empty} document(s) have no tokens"
    elif bad:
        doc = table.column("doc_id")[first].as_py()
        yield f"shard {name!r}: {bad} document(s) do not end with the EOD id {eos_id} (first: {doc!r})"
    ids = table.column("doc_id").to_pylist()
    if any(a >= b for a, b in itertools.pairwise(ids)):
        yield f"shard {name!r}: rows are not sorted by unique doc_id"


def check_shard(
    manifest: Manifest, shard: ShardInfo, report: Report, checksums: bool, seen: dict[str, str]
) -> None:
    path = manifest.path_of(shard.path)
    if not storage.exists(path):
        report.fault(f"shard {shard.path!r} is listed in the manifest but missing ({path})")
        return
    if checksums:
        try:
            manifest.verify_checksum(shard)
        except ChecksumError as exc:
            report.fault(str(exc))
            return
    try:
        table = _open_table(path)
    except (pa.ArrowInvalid, OSError, TokenShardError) as exc:
        report.fault(f"shard {shard.path!r}: {exc}")
        return
    task = manifest.task
    pairs = task is not None and task.is_pairs
    labels = task.labels if task is not None and not pairs else None
    tok = manifest.tokenizer
    faults = list(check_shard_contents(table, shard, tok.vocab_size, tok.eos_id, labels, pairs))
    for f in faults:
        report.fault(f)
    if pairs and not faults:
        report.counted_shards += 1
        report.example_counts[shard.split] = report.example_counts.get(shard.split, 0) + table.num_rows
    if labels is not None and not faults:
        report.labelled_shards += 1
        split_counts = report.label_counts.setdefault(shard.split, {})
        for name, n in shard_label_counts(table, labels).items():
            split_counts[name] = split_counts.get(name, 0) + n
    if "doc_id" in table.schema.names:
        for doc_id in table.column("doc_id").to_pylist():
            other = seen.setdefault(doc_id, shard.path)
            if other != shard.path:
                report.fault(f"document {doc_id!r} is in two shards: {other!r} and {shard.path!r}")
                break
    report.shards += 1
    report.docs += table.num_rows
    report.tokens += shard.num_tokens


def shard_label_counts(table: pa.Table, labels: list[str]) -> dict[str, int]:
    """Examples per label name in one shard (label ids already checked to be in range)."""
    ids = table.column(LABEL_COLUMN).to_numpy()
    found = np.bincount(ids, minlength=len(labels)) if ids.size else np.zeros(len(labels), np.int64)
    return {name: int(n) for name, n in zip(labels, found, strict=True) if n}


def label_count_faults(
    listed: Mapping[str, Mapping[str, int]], found: Mapping[str, Mapping[str, int]]
) -> list[str]:
    """Where the manifest's ``task.label_counts`` and the labels in the shards disagree."""
    faults = []
    for split in SPLITS:
        names = sorted(set(listed.get(split, {})) | set(found.get(split, {})))
        for name in names:
            said, held = listed.get(split, {}).get(name, 0), found.get(split, {}).get(name, 0)
            if said != held:
                faults.append(
                    f"task.label_counts.{split}.{name} = {said}, but the {split} shards hold {held} such example(s)"
                )
    return faults


def example_count_faults(listed: Mapping[str, int], found: Mapping[str, int]) -> list[str]:
    """Where a pairs manifest's ``task.example_counts`` and the rows of the shards disagree."""
    return [
        f"task.example_counts.{split} = {listed.get(split, 0)}, but the {split} shards hold "
        f"{found.get(split, 0)} example(s)"
        for split in SPLITS
        if listed.get(split, 0) != found.get(split, 0)
    ]


def verify(directory: str, checksums: bool = True) -> tuple[Manifest, Report]:
    """Load the manifest (raises ``ManifestError``) and collect every fault of the dataset."""
    manifest = load_manifest(directory)
    report = Report()
    check_tokenizer(manifest, report)
    seen: dict[str, str] = {}
    for shard in manifest.shards:
        check_shard(manifest, shard, report, checksums, seen)
    listed = sum(s.num_docs for s in manifest.shards)
    if listed != manifest.counts.kept:
        report.fault(f"counts.kept = {manifest.counts.kept} but the shards hold {listed} documents")
    if not manifest.shards_for("train"):
        report.fault("the dataset has no train shard")
    task = manifest.task
    if task is not None and task.is_pairs:
        if report.counted_shards == len(manifest.shards):
            for fault in example_count_faults(task.example_counts, report.example_counts):
                report.fault(fault)
    elif task is not None and report.labelled_shards == len(manifest.shards):
        for fault in label_count_faults(task.label_counts, report.label_counts):
            report.fault(fault)
    report.unlisted = unlisted_shards(manifest)
    return manifest, report


def unlisted_shards(manifest: Manifest) -> list[str]:
    """``.arrow`` files next to the listed shards that the manifest does not name (left by older runs)."""
    listed = {s.path for s in manifest.shards}
    dirs = sorted({s.path.rpartition("/")[0] for s in manifest.shards})
    found = [
        f"{d}/{name}" if d else name
        for d in dirs
        for name in storage.list_names(manifest.path_of(d) if d else manifest.base_dir)
        if name.endswith(".arrow")
    ]
    return unlisted(listed, found)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "directory", help="dataset directory (or its manifest.json / manifest-vNNNNN.json), local or URL"
    )
    ap.add_argument(
        "--no-checksums", action="store_true", help="skip the sha256 of shards (faster on huge datasets)"
    )
    args = ap.parse_args(argv)
    try:
        manifest, report = verify(args.directory, checksums=not args.no_checksums)
    except ManifestError as exc:
        print(f"verify: FAILED: {exc}", file=sys.stderr)
        return 2
    if report.faults:
        print(f"verify: FAILED: {len(report.faults)} fault(s) in {args.directory}:", file=sys.stderr)
        for f in report.faults:
            print(f"  - {f}", file=sys.stderr)
        return 1
    for rel in report.unlisted:
        print(f"verify: note: {rel} is not listed in the manifest (left by another run?); it is ignored")
    c = manifest.counts
    splits = ", ".join(
        f"{split}: {len(manifest.shards_for(split))} shard(s), {sum(s.num_tokens for s in manifest.shards_for(split)):,} tokens"
        for split in SPLITS
        if split != "test" or manifest.shards_for(split)
    )
    print(
        f"verify: OK: {args.directory} (version {manifest.version}, fingerprint {manifest.fingerprint[:12]})\n"
        f"  {report.shards} shards, {report.docs:,} documents, {report.tokens:,} tokens ({splits})\n"
        f"  vocab_size {manifest.tokenizer.vocab_size}, eos_id {manifest.tokenizer.eos_id}; "
        f"counts add up: input {c.input:,} = kept {c.kept:,} + dropped {sum(c.dropped.values()):,} "
        f"+ duplicates {sum(c.duplicates.values()):,} + quarantined {sum(c.quarantined.values()):,}"
    )
    t = manifest.task
    if t is not None and t.is_pairs:
        per_split = "; ".join(f"{split} {n:,}" for split, n in t.example_counts.items())
        print(f"  task pairs: {t.source_field} -> {t.target_field}; examples: {per_split}")
    elif t is not None:
        per_split = "; ".join(
            f"{split} {t.split_total(split):,}" for split in SPLITS if split in t.label_counts
        )
        print(f"  task {t.kind}: {len(t.labels)} labels ({', '.join(t.labels)}); examples: {per_split}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What ``dedup.decontaminate`` names: the reference files and the texts read from each (no Beam).

One rule per entry (a path, a directory or a glob), decided by what it is:

* a **token dataset** (a directory with ``manifest.json``, e.g. a task dataset written by
  ``pipelines.prepare_task``): its ``validation`` and ``test`` shards, decoded with the
  dataset's own ``tokenizer.json``. The tokenizer is byte-level BPE, so decoding gives the
  texts back exactly; no separate text copy has to be kept next to the shards. Its
  ``train`` split is not a reference: training on a task's train set is allowed.
* a **document directory** (a directory with ``documents/``, a clean or dedup output):
  its ``documents/*.parquet``;
* anything else: every file it expands to (``lmcore.storage.expand_inputs``, as for
  ``--input``), read by ``pipelines.io`` in any readable format (JSONL, Parquet, text,
  HTML, WARC, and whatever ``pipelines.io.registry`` adds), every record's text.
  Records those readers refuse are counted (``unreadable``), never silently taken as
  "nothing to match".

An entry that matches nothing, or a token dataset without validation or test documents, stops
the run before it starts (``ReferenceInputError``): a decontamination that checks against
nothing would pass silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lmcore import layout, storage
from pipelines.dataset.commit import StageRefused
from pipelines.io.config import ReadConfig
from pipelines.io.file_reader import FileReader
from pipelines.io.records import Quarantine
from schemas import MANIFEST_FILENAME, TARGET_COLUMN, ManifestError, load_manifest, open_token_shard

REFERENCE_SPLITS = ("validation", "test")
STAGE = "decontaminate"  # the stage named by quarantine records of unreadable reference records


class ReferenceInputError(StageRefused):
    """A ``dedup.decontaminate`` entry that gives nothing to check against (exit status 2)."""


@dataclass(frozen=True)
class ReferenceFile:
    """One reference file; ``tokenizer`` is set for a token shard (its texts are decoded)."""

    path: str
    tokenizer: str | None = None


def resolve(entries: list[str]) -> list[ReferenceFile]:
    """The reference files of every entry, sorted by path, each once."""
    found: dict[str, ReferenceFile] = {}
    for entry in entries:
        for ref in _entry_files(entry):
            found.setdefault(ref.path, ref)
    return [found[p] for p in sorted(found)]


def _entry_files(entry: str) -> list[ReferenceFile]:
    manifest = storage.join(entry, MANIFEST_FILENAME)
    if storage.exists(manifest):
        return _dataset_shards(entry)
    documents = storage.join(entry, layout.DOCUMENTS_DIR)
    pattern = storage.join(documents, "*.parquet") if storage.exists(documents) else entry
    try:
        files = storage.expand_inputs([pattern])
    except FileNotFoundError as exc:
        raise ReferenceInputError(f"dedup.decontaminate: {entry!r} matches no file ({exc})") from None
    return [ReferenceFile(f.path) for f in files]


def _dataset_shards(entry: str) -> list[ReferenceFile]:
    try:
        manifest = load_manifest(entry)
    except ManifestError as exc:
        raise ReferenceInputError(f"dedup.decontaminate: {entry!r}: {exc}") from None
    tokenizer = manifest.path_of(manifest.tokenizer.file)
    shards = [manifest.path_of(s.path) for s in manifest.shards if s.split in REFERENCE_SPLITS and s.num_docs]
    if not shards:
        raise ReferenceInputError(
            f"dedup.decontaminate: the token dataset {entry!r} has no {' or '.join(REFERENCE_SPLITS)} "
            "documents: nothing to check the documents against"
        )
    return [ReferenceFile(p, tokenizer) for p in shards]


@dataclass
class ReadTally:
    """Records of a reference file its reader could not turn into text."""

    unreadable: int = 0


def read_texts(ref: ReferenceFile, tally: ReadTally | None = None) -> Iterator[str]:
    """The texts of one reference file (its documents, or its shard's decoded documents)."""
    if ref.tokenizer is not None:
        yield from _shard_texts(ref.path, ref.tokenizer)
        return
    tally = tally if tally is not None else ReadTally()
    # the readers' defaults, not the pretraining inputs' read settings: reference files are
    # task files (``text`` field), whatever field the crawl keeps its text in
    for item in FileReader(ReadConfig(), STAGE).records(ref.path):
        if isinstance(item, Quarantine):
            tally.unreadable += 1
        else:
            yield item["text"]


def _shard_texts(path: str, tokenizer_path: str, batch: int = 1000) -> Iterator[str]:
    """Decoded documents of a token shard (end-of-document and padding ids skipped); a paired-text
    shard gives each example's source, then its target (both sides must stay out of pretraining)."""
    import pyarrow as pa
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(storage.read_text(tokenizer_path))
    local = storage.is_local(path)
    shard = open_token_shard(storage.local_path(path) if local else pa.py_buffer(storage.read_bytes(path)))
    for start in range(0, shard.num_docs, batch):
        stop = min(start + batch, shard.num_docs)
        ids = [shard.document(i).tolist() for i in range(start, stop)]
        yield from tok.decode_batch(ids, skip_special_tokens=True)
    if TARGET_COLUMN in shard.table.schema.names:
        targets = shard.table.column(TARGET_COLUMN)
        for start in range(0, shard.num_docs, batch):
            rows = targets.slice(start, batch).to_pylist()
            yield from tok.decode_batch(rows, skip_special_tokens=True)

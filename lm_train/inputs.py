"""What a run reads before it trains: the dataset's manifest and tokenizer, and its loaders.

Everything here refuses a dataset that cannot train (wrong version, no train shard, a
tokenizer that is not the one the manifest pins) before a model is built.
"""

from __future__ import annotations

from typing import Any

from lm_train.config import TrainConfig
from lm_train.tokenizer_file import TokenizerError, check_bytes
from lmcore import storage
from schemas import Manifest, ManifestError, load_manifest

# Below these, validation loss is too noisy to compare runs or pick checkpoints by.
MIN_VALIDATION_DOCS = 20
MIN_VALIDATION_SEQS = 10


def load_dataset(data: str, dataset_version: int) -> Manifest:
    """The manifest of ``data``, refused unless it has train shards (and is ``dataset_version``, if set)."""
    manifest = load_manifest(data)
    if dataset_version and manifest.version != dataset_version:
        raise ManifestError(
            f"{data}: dataset version is {manifest.version}, config asks for dataset_version={dataset_version}"
        )
    if not manifest.shards_for("train"):
        raise ManifestError(f"{data}: the manifest lists no train shard")
    return manifest


def read_tokenizer(manifest: Manifest, data: str) -> bytes:
    """The dataset's tokenizer file, refused unless it is the one the manifest pins (sha256)
    and holds the manifest's ``vocab_size`` ids: the model's embedding is built from that number."""
    info = manifest.tokenizer
    path = manifest.path_of(info.file)
    try:
        content = storage.read_bytes(path)
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise TokenizerError(
            f"tokenizer {info.file!r} is listed in the manifest but missing ({path})"
        ) from exc
    check_bytes(content, f"tokenizer {info.file!r} of {data}", info.sha256, info.vocab_size)
    return content


def validation_warning(num_docs: int, num_tokens: int, seq_len: int) -> str | None:
    """The warning for a validation split below the floor, or ``None`` when it is large enough."""
    min_tokens = MIN_VALIDATION_SEQS * seq_len
    if num_docs >= MIN_VALIDATION_DOCS and num_tokens >= min_tokens:
        return None
    return (
        f"warning: the validation split is small: {num_docs:,} documents, {num_tokens:,} tokens "
        f"(want >= {MIN_VALIDATION_DOCS} documents and >= {MIN_VALIDATION_SEQS} × seq_len = "
        f"{min_tokens:,} tokens); validation loss and bits per byte will be noisy"
    )


def make_loader(
    data: str, split: str, cfg: TrainConfig, rank: int, world_size: int, epochs: int | None
) -> Any:
    """The packed loader of ``split``: training accumulates ``grad_accum`` micro-batches per
    step with ``data_workers`` processes; validation reads one micro-batch per step in-process."""
    from lm_train.data import LoaderConfig, PackedLoader

    train = split == "train"
    micro, accum = cfg.data.batch_size, (cfg.data.grad_accum if train else 1)
    loader_cfg = LoaderConfig(
        seq_len=cfg.data.seq_len,
        global_batch_size=micro * accum * world_size,
        micro_batch_size=micro,
        seed=cfg.runtime.seed,
        packing=cfg.data.packing,
        num_workers=cfg.data.data_workers if train else 0,
        num_epochs=epochs,
    )
    return PackedLoader(data=data, split=split, config=loader_cfg, rank=rank, world_size=world_size)

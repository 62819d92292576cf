"""The pretraining dataset's tokenizer, which a task dataset copies byte for byte.

Fine-tuning with ``--init-from`` checks that the task dataset's tokenizer is the
checkpoint's (same sha256), so the copy is the file itself, never re-serialised JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmcore import storage
from schemas import ManifestError, TokenizerInfo, load_manifest, sha256_bytes


class TokenizerSourceError(ValueError):
    """``--tokenizer`` does not lead to a usable pretraining tokenizer; the message says why."""


@dataclass(frozen=True)
class TokenizerSource:
    path: str  # the pretraining dataset's tokenizer file
    info: TokenizerInfo  # as its manifest records it (file name, sha256, vocabulary, special ids)
    dataset: str  # the pretraining dataset directory
    fingerprint: str  # the pretraining dataset's fingerprint, recorded for provenance

    def read_checked(self) -> bytes:
        """The tokenizer's bytes, refused when they no longer match the manifest's sha256."""
        data = storage.read_bytes(self.path)
        actual = sha256_bytes(data)
        if actual != self.info.sha256:
            raise TokenizerSourceError(
                f"{self.path}: sha256 {actual} does not match its manifest's {self.info.sha256}"
            )
        return data


def pretraining_tokenizer(dataset_dir: str) -> TokenizerSource:
    """The tokenizer of the token dataset at ``dataset_dir`` (its manifest says which file)."""
    try:
        manifest = load_manifest(dataset_dir)
    except ManifestError as exc:
        raise TokenizerSourceError(f"--tokenizer {dataset_dir}: not a token dataset ({exc})") from exc
    source = TokenizerSource(
        manifest.path_of(manifest.tokenizer.file), manifest.tokenizer, dataset_dir, manifest.fingerprint
    )
    try:
        source.read_checked()
    except FileNotFoundError as exc:
        raise TokenizerSourceError(f"--tokenizer {dataset_dir}: {source.path} is missing") from exc
    return source

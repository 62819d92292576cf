"""Shard access: memory-mapped when local, through a bounded local cache when remote.

Every shard's sha256 is checked against the manifest before its bytes are used: local
shards when the loader starts (remembered by path, size and mtime in a small JSON file so
a restart does not re-hash an unchanged file), remote shards while they are downloaded
into the cache (the hash is computed over the stream, the file renamed into place only
when it matches). A mismatch raises ``schemas.ChecksumError`` naming the shard.

A matching hash only says the shard is the one the manifest lists, not that the manifest
tells the truth about it. So the first time a process opens a shard, its token count must
equal the manifest's (the sample index addresses tokens by position) and its largest id
must be below the vocabulary size (one numpy max over the memory map), else
``schemas.TokenShardError`` names the shard.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import fsspec
import numpy as np

from lmcore.storage import atomic_write_bytes, is_remote, local_path
from schemas import ChecksumError, TokenShard, TokenShardError, open_token_shard, sha256_file

_CHUNK = 8 * 2**20


@dataclass(frozen=True)
class ShardRef:
    """One shard the loader reads: where it is and what its bytes must hash to."""

    name: str  # manifest-relative path, used in error messages
    url: str  # full local path or URL
    sha256: str
    size_hint: int = 0
    num_tokens: int | None = None  # the manifest's count; None: not checked
    dtype: str = ""  # the manifest's token dtype ("uint16" | "uint32"); "": not checked


class VerifiedRecord:
    """Remembers (path, size, mtime_ns, sha256) of local shards already hashed."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.entries: dict[str, list] = {}
        if path and os.path.exists(path):
            with contextlib.suppress(OSError, ValueError), open(path, encoding="utf-8") as f:
                entries = json.load(f)
                self.entries = entries if isinstance(entries, dict) else {}

    @staticmethod
    def _key(st: os.stat_result, sha: str) -> list:
        return [st.st_size, st.st_mtime_ns, sha]

    def is_verified(self, path: str, sha: str) -> bool:
        st = os.stat(path)
        return self.entries.get(os.path.abspath(path)) == self._key(st, sha)

    def add(self, path: str, sha: str) -> None:
        self.entries[os.path.abspath(path)] = self._key(os.stat(path), sha)

    def save(self) -> None:
        if self.path:
            with contextlib.suppress(OSError):
                atomic_write_bytes(self.path, json.dumps(self.entries, sort_keys=True).encode())


def check_file_size(ref: ShardRef, size: int) -> None:
    """Refuse a manifest whose token count could not fit in the file (a cheap bound before any read)."""
    if ref.num_tokens is None or not ref.dtype:
        return
    need = ref.num_tokens * np.dtype(ref.dtype).itemsize
    if need > size:
        raise TokenShardError(
            f"shard {ref.name!r}: the manifest says {ref.num_tokens:,} {ref.dtype} tokens ({need:,} bytes), "
            f"but the file has only {size:,} bytes"
        )


def check_opened(ref: ShardRef, shard: TokenShard, vocab_size: int | None) -> None:
    """Refuse a shard whose token count differs from the manifest's or whose ids reach the vocabulary size."""
    if ref.num_tokens is not None and len(shard.tokens) != ref.num_tokens:
        raise TokenShardError(
            f"shard {ref.name!r} holds {len(shard.tokens):,} tokens, the manifest says {ref.num_tokens:,}"
        )
    if vocab_size is not None and len(shard.tokens):
        top = int(shard.tokens.max())
        if top >= vocab_size:
            raise TokenShardError(
                f"shard {ref.name!r} holds token id {top}, not below the manifest's vocab_size "
                f"{vocab_size}; the shard or the manifest is wrong"
            )


def verify_local(ref: ShardRef, record: VerifiedRecord | None, always: bool) -> None:
    """Hash a local shard unless ``record`` says this exact file was hashed before."""
    path = local_path(ref.url)
    if not os.path.exists(path):
        raise ChecksumError(f"shard {ref.name!r} is listed in the manifest but missing ({path})")
    if not os.path.isfile(path):
        raise ChecksumError(f"shard {ref.name!r} is not a regular file ({path})")
    if not always and record is not None and record.is_verified(path, ref.sha256):
        return
    actual = sha256_file(path)
    if actual != ref.sha256:
        raise ChecksumError(
            f"shard {ref.name!r} is corrupted: sha256 {actual} does not match the manifest's {ref.sha256}"
        )
    if record is not None:
        record.add(path, ref.sha256)


class ShardCache:
    """Local copies of remote shards, named by sha256, bounded in bytes, least recently used evicted.

    ``prefetch`` downloads in a background thread; ``get`` waits for a download in flight
    instead of starting a second one. Evicting a file that is still memory-mapped is safe
    on POSIX (the mapping keeps the bytes until it is dropped).
    """

    def __init__(self, directory: str, max_bytes: int, threads: int = 2) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        os.makedirs(directory, exist_ok=True)
        # Re-entrant: a future that is already done runs its callback at once, under the lock.
        self._lock = threading.RLock()
        self._lru: OrderedDict[str, int] = OrderedDict()  # sha -> bytes, oldest first
        files = [f for f in os.listdir(directory) if f.endswith(".arrow")]
        for f in sorted(files, key=lambda f: os.stat(os.path.join(directory, f)).st_atime_ns):
            self._lru[f.removesuffix(".arrow")] = os.path.getsize(os.path.join(directory, f))
        self._inflight: dict[str, Future] = {}
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lmforge-shard-dl")
        self.downloads = 0
        self.evictions = 0

    def path_of(self, ref: ShardRef) -> str:
        return os.path.join(self.directory, f"{ref.sha256}.arrow")

    def _download(self, ref: ShardRef) -> str:
        target = self.path_of(ref)
        tmp = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
        digest = hashlib.sha256()
        size = 0
        try:
            with fsspec.open(ref.url, "rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
            if digest.hexdigest() != ref.sha256:
                raise ChecksumError(
                    f"shard {ref.name!r} is corrupted: sha256 {digest.hexdigest()} does not match "
                    f"the manifest's {ref.sha256} ({ref.url})"
                )
            os.replace(tmp, target)
        except FileNotFoundError as exc:
            raise ChecksumError(
                f"shard {ref.name!r} is listed in the manifest but missing ({ref.url})"
            ) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
        with self._lock:
            self.downloads += 1
            self._lru[ref.sha256] = size
            self._lru.move_to_end(ref.sha256)
            self._evict(keep=ref.sha256)
        return target

    def _evict(self, keep: str) -> None:
        total = sum(self._lru.values())
        for sha in list(self._lru):
            if total <= self.max_bytes:
                break
            if sha == keep or sha in self._inflight:
                continue
            total -= self._lru.pop(sha)
            self.evictions += 1
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(self.directory, f"{sha}.arrow"))

    def _submit(self, ref: ShardRef) -> Future | None:
        with self._lock:
            if ref.sha256 in self._lru and os.path.exists(self.path_of(ref)):
                self._lru.move_to_end(ref.sha256)
                return None
            fut = self._inflight.get(ref.sha256)
            if fut is None:
                fut = self._pool.submit(self._download, ref)
                self._inflight[ref.sha256] = fut
                fut.add_done_callback(lambda _f, s=ref.sha256: self._done(s))
            return fut

    def _done(self, sha: str) -> None:
        with self._lock:
            self._inflight.pop(sha, None)

    def prefetch(self, refs: list[ShardRef]) -> None:
        for ref in refs:
            self._submit(ref)

    def get(self, ref: ShardRef) -> str:
        """Local path of the verified copy, downloading (or waiting for the download) if needed."""
        fut = self._submit(ref)
        if fut is not None:
            fut.result()
        return self.path_of(ref)

    @property
    def cached_bytes(self) -> int:
        with self._lock:
            return sum(self._lru.values())


class ShardStore:
    """Token arrays of a list of shards, opened lazily; safe to pickle into worker processes.

    Every shard is checked against its manifest entry the first time this process opens it
    (``check_opened``); ``checked`` remembers which were, and travels into worker processes.
    """

    def __init__(
        self,
        refs: list[ShardRef],
        cache_dir: str | None,
        cache_bytes: int,
        vocab_size: int | None = None,
        checked: set[int] | None = None,
    ) -> None:
        self.refs = refs
        self.cache_dir = cache_dir
        self.cache_bytes = cache_bytes
        self.vocab_size = vocab_size
        self.checked: set[int] = set(checked or ())
        self._open: dict[int, tuple[np.ndarray, object]] = {}
        self._cache: ShardCache | None = None

    def fresh(self) -> ShardStore:
        """A store over the same shards with nothing opened (for a worker process)."""
        return ShardStore(self.refs, self.cache_dir, self.cache_bytes, self.vocab_size, self.checked)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_open"] = {}
        state["_cache"] = None
        return state

    @property
    def cache(self) -> ShardCache:
        if self._cache is None:
            if not self.cache_dir:
                raise ValueError("remote shards need a cache directory")
            self._cache = ShardCache(self.cache_dir, self.cache_bytes)
        return self._cache

    def local_file(self, i: int) -> str:
        ref = self.refs[i]
        return self.cache.get(ref) if is_remote(ref.url) else local_path(ref.url)

    def open(self, i: int) -> TokenShard:
        """The shard's ``TokenShard`` (zero-copy views over a memory map), checked on first open."""
        ref = self.refs[i]
        path = self.local_file(i)
        try:
            shard = open_token_shard(path)
        except TokenShardError as exc:
            raise TokenShardError(f"shard {ref.name!r}: {exc}") from exc
        except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
            raise TokenShardError(f"shard {ref.name!r} is not a readable Arrow IPC file: {exc}") from exc
        if i not in self.checked:
            check_opened(ref, shard, self.vocab_size)
            self.checked.add(i)
        return shard

    def tokens(self, i: int) -> np.ndarray:
        hit = self._open.get(i)
        if hit is None:
            shard = self.open(i)
            hit = (shard.tokens, shard)
            self._open[i] = hit
            if is_remote(self.refs[i].url) and len(self._open) > 64:
                self._open.pop(next(iter(self._open)))  # let evicted cache files go
        return hit[0]

    def prefetch(self, shard_ids: list[int]) -> None:
        remote = [self.refs[i] for i in shard_ids if is_remote(self.refs[i].url)]
        if remote:
            self.cache.prefetch(remote)

"""One writer per dataset directory: a lock file that a crashed run does not leave stuck.

``DIR/.lmforge.lock`` is created with an exclusive create (``O_EXCL`` on local and
POSIX-shared filesystems) and holds the owner's host, pid and start time. While the run
lives, a heartbeat thread touches it every ``heartbeat_s`` seconds. A second run refuses
to start with a message naming the owner, unless the lock is *stale*:

* same host and the owning process no longer exists (``kill -9``, reboot), or
* the heartbeat is older than ``stale_after_s`` (a crashed run on another machine).

Object stores (``s3://``, ``gs://``) have no exclusive create; there the lock is best
effort (write then re-read) and the scheduler's own concurrency limit (Airflow
``max_active_runs=1``, one cron entry) should be the first line of defence.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

from lmcore import storage
from lmcore.layout import LOCK_FILENAME

HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0


class LockedError(RuntimeError):
    """Another live run holds the dataset directory."""


@dataclass(frozen=True)
class LockInfo:
    host: str
    pid: int
    started_at: float
    heartbeat_at: float

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LockInfo:
        data = json.loads(text)
        return cls(
            str(data["host"]), int(data["pid"]), float(data["started_at"]), float(data["heartbeat_at"])
        )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(info: LockInfo, now: float, host: str, stale_after_s: float) -> bool:
    """A lock is stale when its owner is provably dead or has stopped heartbeating."""
    if info.host == host and not pid_alive(info.pid):
        return True
    return now - info.heartbeat_at > stale_after_s


class DatasetLock:
    """``with DatasetLock(out_dir): ...`` — refuse concurrent runs on one output directory."""

    def __init__(
        self, directory: str, heartbeat_s: float = HEARTBEAT_S, stale_after_s: float = STALE_AFTER_S
    ):
        self.directory = directory
        self.path = storage.join(directory, LOCK_FILENAME)
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.host = socket.gethostname()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.took_over: LockInfo | None = None

    # -- acquire / release -------------------------------------------------------------------
    def acquire(self) -> None:
        storage.makedirs(self.directory)
        now = time.time()
        info = LockInfo(self.host, os.getpid(), now, now)
        if self._create_exclusive(info):
            self._start_heartbeat()
            return
        current = self._read()
        if current is not None and not is_stale(current, time.time(), self.host, self.stale_after_s):
            age = time.time() - current.started_at
            raise LockedError(
                f"{self.directory} is being written by another run (host {current.host}, pid {current.pid}, "
                f"started {age:.0f}s ago; lock file {self.path}). Wait for it to finish. If that run is gone, "
                f"the lock expires {self.stale_after_s:.0f}s after its last heartbeat, or delete the lock file."
            )
        # Stale (or unreadable): take it over. Remove, then create exclusively again, so two
        # runs that both saw the stale lock cannot both win.
        self.took_over = current
        storage.remove(self.path)
        if not self._create_exclusive(info):
            raise LockedError(f"{self.directory}: another run took over the stale lock {self.path} first")
        self._start_heartbeat()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        current = self._read()
        if current is not None and current.pid == os.getpid() and current.host == self.host:
            storage.remove(self.path)

    def __enter__(self) -> DatasetLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # -- internals ----------------------------------------------------------------------------
    def _create_exclusive(self, info: LockInfo) -> bool:
        fs, path = storage.get_fs(self.path)
        if storage.is_local(self.path):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                f.write(info.to_json())
            return True
        if fs.exists(path):
            return False
        fs.pipe(path, info.to_json().encode())
        current = self._read()
        return current is not None and current.pid == info.pid and current.host == info.host

    def _read(self) -> LockInfo | None:
        fs, path = storage.get_fs(self.path)
        try:
            return LockInfo.from_json(fs.cat(path).decode())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            # Half-written by a run killed mid-write: treat as an expired lock.
            return LockInfo("?", -1, 0.0, 0.0)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            current = self._read()
            if current is None or current.pid != os.getpid():
                return
            beat = LockInfo(current.host, current.pid, current.started_at, time.time())
            storage.atomic_write_text(self.path, beat.to_json())

    def _start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="lmforge-lock-heartbeat", daemon=True)
        self._thread.start()

"""Concurrent runs on one output directory are refused; a crashed run does not block forever."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lmcore.layout import LOCK_FILENAME
from pipelines.dataset.lock import DatasetLock, LockedError


def test_second_run_is_refused_with_a_message_naming_the_owner(tmp_path):
    with DatasetLock(str(tmp_path)), pytest.raises(LockedError, match=r"being written by another run .*pid"):
        DatasetLock(str(tmp_path)).acquire()
    assert not (tmp_path / LOCK_FILENAME).exists()
    with DatasetLock(str(tmp_path)):  # free again after release
        pass


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    # A process that takes the lock and dies without releasing it (like kill -9).
    code = (
        "import os; from pipelines.dataset.lock import DatasetLock; "
        f"DatasetLock({str(tmp_path)!r}).acquire(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / LOCK_FILENAME).exists()
    lock = DatasetLock(str(tmp_path))
    with lock:
        assert lock.took_over is not None
    assert not (tmp_path / LOCK_FILENAME).exists()


def test_lock_without_heartbeat_expires(tmp_path):
    (tmp_path / LOCK_FILENAME).write_text(
        json.dumps({"host": "other-host", "pid": 1, "started_at": 0.0, "heartbeat_at": 0.0})
    )
    with DatasetLock(str(tmp_path), stale_after_s=60):
        pass
    (tmp_path / LOCK_FILENAME).write_text(
        json.dumps({"host": "other-host", "pid": 1, "started_at": 9e12, "heartbeat_at": 9e12})
    )
    with pytest.raises(LockedError, match="other-host"):
        DatasetLock(str(tmp_path), stale_after_s=60).acquire()

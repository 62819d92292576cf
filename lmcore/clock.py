"""Timestamps written into outputs.

``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) fixes every timestamp lmforge
writes, so two runs over the same input produce byte-identical files, manifests included.
"""

from __future__ import annotations

import os
import time


def utc_now_iso() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = time.gmtime(int(epoch)) if epoch else time.gmtime()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", t)

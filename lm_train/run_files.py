"""The run directory's record of a run: ``config.yaml``, ``tokenizer.json`` and ``run.json``.

Written once by rank 0 at the start (a resumed run rewrites them), so that the run can be
repeated, sampled from and reported on from its directory alone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from lm_train import checkpoint as ckpt
from lm_train.config import TrainConfig
from lm_train.rundir import RunDirError
from lmcore import storage
from lmcore.layout import CONFIG_FILENAME, RUN_FILENAME, TOKENIZER_FILENAME


def write_config_and_tokenizer(out: str, cfg: TrainConfig, tokenizer_bytes: bytes) -> None:
    """The effective config and the tokenizer bytes checked against the manifest at start
    (not whatever the dataset's file holds now)."""
    try:
        storage.makedirs(out)
        ckpt.write_file(storage.join(out, CONFIG_FILENAME), cfg.to_yaml().encode())
        ckpt.write_file(storage.join(out, TOKENIZER_FILENAME), tokenizer_bytes)
    except OSError as exc:
        raise RunDirError(f"cannot write the run directory {out}: {exc.strerror or exc}") from exc


def started_at() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_run_json(out: str, info: dict[str, Any]) -> None:
    ckpt.write_file(storage.join(out, RUN_FILENAME), (json.dumps(info, indent=2) + "\n").encode())

"""``python -m pipelines.prepare_task --task=classification|pairs --input=GLOB --output=DIR
--tokenizer=PRETRAIN_DATASET_DIR``: a labelled or paired-text task dataset (see ``pipelines.task``
and docs/tasks.md)."""

from __future__ import annotations

from pipelines.task.command import main

if __name__ == "__main__":
    raise SystemExit(main())

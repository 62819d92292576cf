"""``python -m pipelines.prepare_task --task=classification --input=GLOB --output=DIR
--tokenizer=PRETRAIN_DATASET_DIR``: a labelled task dataset (see ``pipelines.task``)."""

from __future__ import annotations

from pipelines.task.command import main

if __name__ == "__main__":
    raise SystemExit(main())

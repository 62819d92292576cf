"""Task datasets (``python -m pipelines.prepare_task``): read, normalise, deduplicate, tokenize
with a pretraining dataset's tokenizer, split, write shards. Classification (``examples``,
``splits``: a label column, stratified by label) and paired text (``pairs``, ``pair_splits``:
a target column, a source in one split); see docs/tasks.md."""

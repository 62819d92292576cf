"""GloVe's co-occurrence counts as a Beam pipeline: ``python -m pipelines.cooccur``.

``counting`` holds the numpy logic (vocabulary, pairs, exact integer sums, parts);
``transform`` the Beam wiring; ``__main__`` the command. The output contract is
``schemas.cooccurrence``; ``lm_train.glove`` trains on it.
"""

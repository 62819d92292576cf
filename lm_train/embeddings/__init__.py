"""Word and token embeddings of a trained run: export, nearest neighbours, evaluation, a PCA plot.

``python -m lm_train.embeddings --checkpoint RUN`` (``cli.py``) reads either a word-embedding
run of ``lm_train.word2vec`` (``vectors.kv``) or a run of ``lm_train.train`` (its input token
embedding, ``source.py``), and:

* ``export.py``      writes gensim's native ``vectors.kv`` and the word2vec text ``vectors.txt``;
* ``neighbours.py``  the nearest keys of a word or token by cosine;
* ``evaluation.py``  Spearman on WordSim-353 and SimLex-999 and analogy accuracy (the sets
  gensim ships), with coverage, into ``RUN/eval-embeddings.json``;
* ``projection.py``  a 2-D PCA of the most frequent words, drawn into the report (``report.py``).

A token's key is readable text (``keys.py``); a word's vector in a token run is the mean of
its tokenizer pieces (``pieces.py``). No module here imports torch at import time.
"""

"""The vectors of RUN: a word-embedding run's ``vectors.kv``, or a trained model's input token embedding.

RUN is one of

* a word-embedding run of ``lm_train.word2vec`` (or any folder with ``vectors.kv``, such as
  an export): its ``KeyedVectors`` as saved, keyed by word, most frequent first;
* a run of ``lm_train.train`` (``checkpoints/``, its newest checkpoint) or one checkpoint
  file ``RUN/checkpoints/step-N.pt``: the model's input token embedding, one vector per
  token id, keyed by the token's readable text (``keys.py``).

Which tensor is the input embedding: the model's ``input_embedding()`` method (or attribute)
when it has one (a model whose embedding is shared between parts names it so), else
``embed.weight`` (GPT, BERT, RNN/LSTM/GRU). The model is built on the ``meta`` device only to
ask it, so nothing is allocated; the tensor is read from the checkpoint by the parameter's
name (under a wrapper's prefix too: a classifier's body).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lm_train.embeddings.keys import is_byte_level, token_keys
from lm_train.embeddings.pieces import PieceWords, tokenizer_encoder
from lmcore import storage
from lmcore.layout import CKPT_DIR, EMBEDDINGS_META_FILENAME, TOKENIZER_FILENAME, VECTORS_KV_FILENAME

WORDS, TOKENS = "words", "tokens"
KEY_RULE = (
    "token text: byte-level pieces decoded to UTF-8, a space as U+2581, other whitespace, "
    "invisible characters and partial UTF-8 bytes as <0xHH>, ids without a token as <id:N>, "
    "a repeated key suffixed #<id>"
)
DEFAULT_TENSOR = "embed.weight"
MAX_ROWS = 2**32


class SourceError(ValueError):
    """RUN is missing, is no run, or is damaged: one line, exit 2."""


@dataclass
class Embeddings:
    """The vectors of a run and how to read them."""

    kv: Any  # gensim KeyedVectors
    kind: str  # WORDS or TOKENS
    run_dir: str  # where eval-embeddings.json and the report go
    meta: dict[str, Any] = field(default_factory=dict)
    word_vector: PieceWords | None = None  # a word's vector from its pieces (token runs)
    special_keys: frozenset[str] = frozenset()  # special tokens: never drawn as "frequent words"
    trainer_run: bool = False  # RUN is a run of lm_train.train (its report is lm_train.report's)


def _is_checkpoint_file(path: str) -> bool:
    return path.endswith(".pt")


def kind_of(path: str) -> str:
    """WORDS for a folder with ``vectors.kv``, TOKENS for a trainer run or a checkpoint file."""
    if _is_checkpoint_file(path):
        if not storage.exists(path):
            raise SourceError(f"checkpoint {path} does not exist")
        return TOKENS
    if not storage.exists(path):
        raise SourceError(f"{path} does not exist")
    if storage.exists(storage.join(path, VECTORS_KV_FILENAME)):
        return WORDS
    if storage.exists(storage.join(path, CKPT_DIR)):
        return TOKENS
    raise SourceError(
        f"{path} is no run: it has neither {VECTORS_KV_FILENAME} (a word-embedding run of "
        f"lm_train.word2vec) nor {CKPT_DIR}/ (a run of lm_train.train)"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_meta(directory: str) -> dict[str, Any]:
    """``embeddings.json`` of a folder ({} when there is none); a damaged one is refused."""
    path = storage.join(directory, EMBEDDINGS_META_FILENAME)
    if not storage.exists(path):
        return {}
    try:
        meta = json.loads(storage.read_text(path))
    except (ValueError, OSError) as exc:
        raise SourceError(f"{path} is damaged (not JSON: {_first_line(exc)})") from exc
    if not isinstance(meta, dict):
        raise SourceError(f"{path} is damaged (not a JSON object)")
    return meta


def load_word_run(run_dir: str) -> Embeddings:
    """``RUN/vectors.kv`` and ``RUN/embeddings.json``."""
    from lm_train.embeddings.export import load_native

    path = storage.join(run_dir, VECTORS_KV_FILENAME)
    try:
        kv = load_native(path)
    except Exception as exc:  # unpickling raises anything: a damaged file is one line
        raise SourceError(f"{path} cannot be read as gensim KeyedVectors: {_first_line(exc)}") from exc
    if not hasattr(kv, "index_to_key") or not hasattr(kv, "vectors"):
        raise SourceError(f"{path} holds a {type(kv).__name__}, not gensim KeyedVectors")
    meta = read_meta(run_dir)
    kind = TOKENS if meta.get("kind") == TOKENS else WORDS
    specials = meta.get("special_tokens")
    special_keys = frozenset(specials) if isinstance(specials, dict) else frozenset()
    return Embeddings(kv, kind, run_dir, meta, special_keys=special_keys)


# -- trainer runs ----------------------------------------------------------------------------------
def embedding_parameter_name(cfg: Any, vocab_size: int) -> str:
    """The name of the model's input token embedding parameter (see the module docstring)."""
    import torch

    from lm_train.models import build_model

    try:
        with torch.device("meta"):
            model = build_model(cfg, vocab_size)
    except Exception:  # a model that cannot be built on meta: the conventional name
        return DEFAULT_TENSOR
    hook = getattr(model, "input_embedding", None)
    found = hook() if callable(hook) else hook
    if found is None:
        found = getattr(getattr(model, "embed", None), "weight", None)
    if isinstance(found, torch.nn.Embedding):
        found = found.weight
    for name, param in model.named_parameters(remove_duplicate=False):
        if param is found:
            return name
    return DEFAULT_TENSOR


def find_tensor(tensors: Mapping[str, Any], name: str, path: str) -> tuple[str, Any]:
    """``(key, tensor)`` of ``name`` in a checkpoint's model, also under one wrapper prefix."""
    if name in tensors:
        return name, tensors[name]
    under = [k for k in tensors if k.endswith("." + name)]
    if len(under) == 1:
        return under[0], tensors[under[0]]
    raise SourceError(f"checkpoint {path} has no input embedding tensor {name!r}")


def embedding_matrix(state: Mapping[str, Any], cfg: Any, path: str) -> tuple[str, np.ndarray]:
    """``(tensor name, [vocab, dim] float32 array)`` of a checkpoint's input token embedding."""
    import torch

    vocab = state["vocab_size"]
    if not 0 < vocab <= MAX_ROWS:
        raise SourceError(f"checkpoint {path}: vocab_size {vocab} is not a vocabulary size; it is damaged")
    name, tensor = find_tensor(state["model"], embedding_parameter_name(cfg, vocab), path)
    if not isinstance(tensor, torch.Tensor) or tensor.ndim != 2 or not tensor.is_floating_point():
        shape = list(getattr(tensor, "shape", []))
        raise SourceError(f"checkpoint {path}: {name!r} of shape {shape} is not an embedding matrix")
    matrix = tensor.detach().float().cpu().numpy()
    if not np.isfinite(matrix).all():
        raise SourceError(f"checkpoint {path}: {name!r} holds NaN or infinite values")
    return name, matrix


def run_tokenizer(run_dir: str, state: Mapping[str, Any]) -> tuple[Any | None, dict[str, Any]]:
    """``(HF tokenizer or None, its JSON)`` of a run; None for a synthetic dataset's stand-in file."""
    from lm_train.generate import load_tokenizer

    path = storage.join(run_dir, TOKENIZER_FILENAME)
    if not storage.exists(path):
        raise SourceError(f"{run_dir} has no {TOKENIZER_FILENAME} (was it written by lm_train.train?)")
    try:
        obj = json.loads(storage.read_bytes(path))
    except (ValueError, OSError) as exc:
        raise SourceError(f"{path} is not a tokenizer file ({_first_line(exc)})") from exc
    if isinstance(obj, dict) and obj.get("synthetic") is True:
        return None, obj
    return load_tokenizer(run_dir, dict(state)), obj if isinstance(obj, dict) else {}


def vocabulary_keys(
    tokenizer: Any | None, tokenizer_json: Mapping[str, Any], rows: int
) -> tuple[list[str], dict[int, str], set[int]]:
    """``(key per id, added tokens {id: text}, special ids)`` for ``rows`` embedding rows."""
    if tokenizer is None:
        return [f"<id:{i}>" for i in range(rows)], {}, set()
    added = {i: t.content for i, t in tokenizer.get_added_tokens_decoder().items() if i < rows}
    special = {i for i, t in tokenizer.get_added_tokens_decoder().items() if t.special and i < rows}
    pieces = [tokenizer.id_to_token(i) for i in range(rows)]
    return token_keys(pieces, added, is_byte_level(tokenizer_json)), added, special


def load_token_run(path: str) -> Embeddings:
    """The input token embedding of a trainer run (its newest checkpoint) or of one checkpoint."""
    from gensim.models import KeyedVectors

    from lm_train.evaluate import read_trained
    from lm_train.generate import run_dir_of
    from lm_train.rundir import normalize_rundir
    from lm_train.trainer import user_errors

    try:
        state, cfg, ckpt_path = read_trained(normalize_rundir(path))
        run_dir = run_dir_of(ckpt_path)
        name, matrix = embedding_matrix(state, cfg, ckpt_path)
        tokenizer, tokenizer_json = run_tokenizer(run_dir, state)
    except user_errors() as exc:
        raise SourceError(_first_line(exc)) from exc
    keys, added, special = vocabulary_keys(tokenizer, tokenizer_json, matrix.shape[0])
    kv = KeyedVectors(matrix.shape[1])
    kv.add_vectors(keys, matrix)
    meta = {
        "kind": TOKENS,
        "checkpoint": ckpt_path,
        "step": int(state["step"]),
        "model": getattr(cfg.model, "name", "?"),
        "objective": getattr(cfg.objective, "name", "?"),
        "tensor": name,
        "vocab_size": int(matrix.shape[0]),
        "dim": int(matrix.shape[1]),
        "tokenizer_sha256": state.get("tokenizer_sha256"),
        "keys": KEY_RULE,
        "word_vectors": "a word's vector is the mean of the embeddings of its pieces, the word "
        "encoded with one leading space",
        "special_tokens": {keys[i]: i for i in sorted(special)},
        "added_tokens": {keys[i]: i for i in sorted(added)},
    }
    words = PieceWords(matrix, tokenizer_encoder(tokenizer)) if tokenizer is not None else None
    special_keys = frozenset(keys[i] for i in special)
    return Embeddings(kv, TOKENS, run_dir, meta, words, special_keys, trainer_run=True)


def load_embeddings(path: str) -> Embeddings:
    """The vectors of RUN, whichever kind it is; ``SourceError`` (one line) when it cannot be read."""
    from lm_train.rundir import normalize_rundir

    path = normalize_rundir(path)
    if kind_of(path) == WORDS:
        return load_word_run(path)
    return load_token_run(path)


__all__ = [
    "KEY_RULE",
    "TOKENS",
    "WORDS",
    "Embeddings",
    "SourceError",
    "embedding_matrix",
    "embedding_parameter_name",
    "find_tensor",
    "kind_of",
    "load_embeddings",
    "load_token_run",
    "load_word_run",
    "read_meta",
    "vocabulary_keys",
]

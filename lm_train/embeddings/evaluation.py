"""Word similarity and analogies: how well vectors agree with people, and on how much of the test.

The sets are the ones gensim ships in its wheel (``gensim/test/test_data``; provenance and
licences in docs/word-embeddings.md): WordSim-353 (353 rated pairs, relatedness), SimLex-999
(999 rated pairs, similarity proper) and Mikolov et al.'s analogy questions (19,544
``a b c d`` questions in 14 sections). Scores come from gensim's ``evaluate_word_pairs`` and its
``evaluate_word_analogies`` rule (3CosAdd over the 300,000 most frequent keys; solved a block
of questions at a time, ``solve_analogies``), case-insensitive.

Coverage is part of every number: a pair or question is *covered* when each of its words
has a vector; Spearman and analogy accuracy are computed over covered items only, so a
model that knows ten easy words can score high. ``coverage`` is covered items / all items
over the three sets together; each set also reports its own items, covered and OOV counts.

Vectors of a word come from the keys of a ``KeyedVectors`` (word2vec and GloVe runs, whose
vocabulary is lowercased), or from ``word_vector(word)`` (token-embedding runs: the mean of
the word's tokenizer pieces, ``pieces.PieceWords``). Then the analogy answer is searched
among the analogy set's own words (a closed vocabulary of ~900 words), so that accuracy is
not comparable with a word run's; ``single_token_coverage`` says how many items rest on
words that are one token each.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmcore import storage
from lmcore.layout import EMBEDDINGS_EVAL_FILENAME

RESTRICT_VOCAB = 300_000  # gensim's default: analogies are searched among this many most frequent keys
WordVector = Callable[[str], "np.ndarray | None"]


@dataclass(frozen=True)
class EvalSets:
    """Paths of the three evaluation files (default: gensim's copies)."""

    wordsim353: str
    simlex999: str
    analogies: str

    @classmethod
    def bundled(cls) -> EvalSets:
        from gensim.test.utils import datapath

        return cls(datapath("wordsim353.tsv"), datapath("simlex999.txt"), datapath("questions-words.txt"))


# -- reading the sets (the same lines gensim scores) ---------------------------------------------
def read_pairs(path: str) -> list[tuple[str, str, float]]:
    """``(word, word, human score)`` of a tab-separated pair file; ``#`` lines are comments."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                continue
            try:
                pairs.append((parts[0], parts[1], float(parts[2])))
            except ValueError:
                continue
    return pairs


def read_analogies(path: str) -> list[tuple[str, tuple[str, str, str, str]]]:
    """``(section, (a, b, c, d))`` of an analogy file: ``: section`` headers, then ``a b c d`` lines."""
    out: list[tuple[str, tuple[str, str, str, str]]] = []
    section = ""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(": "):
                section = line[2:].strip()
                continue
            words = line.split()
            if len(words) == 4:
                out.append((section, (words[0], words[1], words[2], words[3])))
    return out


# -- numbers ---------------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    """A finite float, else None (JSON has no NaN)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def known_words(kv: Any, restrict_vocab: int = RESTRICT_VOCAB) -> set[str]:
    """The upper-cased keys gensim looks words up in (its case-insensitive rule)."""
    return {str(k).upper() for k in kv.index_to_key[:restrict_vocab]}


def pair_scores(kv: Any, path: str, restrict_vocab: int = RESTRICT_VOCAB) -> dict[str, Any]:
    """Spearman (and Pearson) of cosine vs human scores over the covered pairs of one set (None
    with fewer than two, or when either side is constant)."""
    pairs = read_pairs(path)
    vocab = known_words(kv, restrict_vocab)
    covered = sum(1 for a, b, _ in pairs if a.upper() in vocab and b.upper() in vocab)
    spearman = pearson = None
    if covered >= 2:  # a correlation needs two pairs
        pearson_r, spearman_r, _ = kv.evaluate_word_pairs(path, restrict_vocab=restrict_vocab)
        spearman, pearson = _number(spearman_r.statistic), _number(pearson_r.statistic)
    return {
        "items": len(pairs),
        "covered": covered,
        "oov": len(pairs) - covered,
        "coverage": _share(covered, len(pairs)),
        "spearman": spearman,
        "pearson": pearson,
    }


def solve_analogies(
    kv: Any, questions: Sequence[tuple[str, str, str, str]], restrict_vocab: int = RESTRICT_VOCAB
) -> list[bool | None]:
    """For each question ``a b c d``: whether 3CosAdd answers ``d`` (None: a word has no vector).

    gensim's rule (``evaluate_word_analogies``): words case-insensitive, the first (most
    frequent) key of each upper-cased form; the answer is the key nearest by cosine to
    ``unit(b) - unit(a) + unit(c)`` among the first ``restrict_vocab`` keys, every case variant
    of ``a``, ``b``, ``c`` left out. gensim asks one question at a time (a matrix-vector
    product over the vocabulary each, about 10 s for 50,000 keys on an idle core and many
    times that when BLAS threads share busy cores); here a block of questions is one matrix
    product, with the same answers (tests/test_embeddings_eval.py compares both).
    """
    keys = [str(k).upper() for k in kv.index_to_key[:restrict_vocab]]
    first: dict[str, int] = {}
    variants: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
        variants.setdefault(key, []).append(i)
    answers: list[bool | None] = [None] * len(questions)
    asked = [
        (n, [w.upper() for w in q]) for n, q in enumerate(questions) if all(w.upper() in first for w in q)
    ]
    if not asked:
        return answers
    vectors = np.asarray(kv.vectors[: len(keys)], dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    block = max(1, min(1024, 2**24 // max(1, len(keys))))  # about 64 MB of scores at a time
    for start in range(0, len(asked), block):
        chunk = asked[start : start + block]
        a, b, c = (np.array([first[words[k]] for _, words in chunk]) for k in range(3))
        scores = (unit[b] - unit[a] + unit[c]) @ unit.T
        for row, (_, words) in enumerate(chunk):
            for word in words[:3]:
                scores[row, variants[word]] = -np.inf
        best = np.argmax(scores, axis=1)
        for (n, words), index in zip(chunk, best):
            answers[n] = keys[int(index)] == words[3]
    return answers


def analogy_scores(kv: Any, path: str, restrict_vocab: int = RESTRICT_VOCAB) -> dict[str, Any]:
    """Accuracy of 3CosAdd over the covered questions, in total and per section."""
    questions = read_analogies(path)
    answers = solve_analogies(kv, [q for _, q in questions], restrict_vocab)
    per_section: dict[str, dict[str, Any]] = {}
    for (section, _), answer in zip(questions, answers):
        entry = per_section.setdefault(section, {"items": 0, "covered": 0, "correct": 0, "accuracy": None})
        entry["items"] += 1
        entry["covered"] += answer is not None
        entry["correct"] += bool(answer)
    for e in per_section.values():
        e["accuracy"] = _share(e["correct"], e["covered"])
    covered = sum(e["covered"] for e in per_section.values())
    correct = sum(e["correct"] for e in per_section.values())
    return {
        "items": len(questions),
        "covered": covered,
        "oov": len(questions) - covered,
        "coverage": _share(covered, len(questions)),
        "correct": correct,
        "accuracy": _share(correct, covered),
        "candidates": min(len(kv), restrict_vocab),
        "sections": per_section,
    }


# -- token runs: words composed of pieces ------------------------------------------------------------
def composed_vectors(words: Iterable[str], word_vector: WordVector) -> Any:
    """A ``KeyedVectors`` of ``words`` (in first-seen order) from ``word_vector``; a word without
    a finite, non-zero vector is left out (it is OOV)."""
    from gensim.models import KeyedVectors

    keys, rows = [], []
    for word in dict.fromkeys(words):
        vector = word_vector(word)
        if vector is None:
            continue
        vector = np.asarray(vector, dtype=np.float32)
        if vector.ndim != 1 or not np.isfinite(vector).all() or not vector.any():
            continue
        keys.append(word)
        rows.append(vector)
    kv = KeyedVectors(rows[0].shape[0] if rows else 1)
    if rows:
        kv.add_vectors(keys, np.stack(rows))
    return kv


def set_words(sets: EvalSets) -> dict[str, list[str]]:
    """Every word of each set, in file order, as the file writes it."""
    return {
        "wordsim353": [w for a, b, _ in read_pairs(sets.wordsim353) for w in (a, b)],
        "simlex999": [w for a, b, _ in read_pairs(sets.simlex999) for w in (a, b)],
        "analogy": [w for _, q in read_analogies(sets.analogies) for w in q],
    }


def single_token_items(items: Iterable[Iterable[str]], num_pieces: Callable[[str], int]) -> int:
    """How many of ``items`` have words that are each exactly one token."""
    cache: dict[str, bool] = {}
    single = 0
    for words in items:
        for w in words:
            if w not in cache:
                cache[w] = num_pieces(w) == 1
        single += all(cache[w] for w in words)
    return single


# -- the evaluation ---------------------------------------------------------------------------------------
def evaluate_keyed_vectors(
    kv: Any,
    word_vector: WordVector | None = None,
    *,
    sets: EvalSets | None = None,
    restrict_vocab: int = RESTRICT_VOCAB,
) -> dict[str, Any]:
    """The scores of ``kv`` on WordSim-353, SimLex-999 and the analogies, with their coverage.

    Flat keys ``wordsim353_spearman``, ``simlex999_spearman``, ``analogy_accuracy`` (None when
    nothing is covered) and ``coverage``; per-set details under ``wordsim353``, ``simlex999``
    and ``analogy``. With ``word_vector`` (a token run), words get their vectors from it
    instead of ``kv``'s keys, and ``single_token_coverage`` is added when it has ``num_pieces``.
    """
    started = time.perf_counter()
    sets = sets or EvalSets.bundled()
    if word_vector is None:
        sources = {"wordsim353": kv, "simlex999": kv, "analogy": kv}
    else:
        words = set_words(sets)
        pair_kv = composed_vectors(words["wordsim353"] + words["simlex999"], word_vector)
        sources = {
            "wordsim353": pair_kv,
            "simlex999": pair_kv,
            "analogy": composed_vectors(words["analogy"], word_vector),
        }
    details = {
        "wordsim353": pair_scores(sources["wordsim353"], sets.wordsim353, restrict_vocab),
        "simlex999": pair_scores(sources["simlex999"], sets.simlex999, restrict_vocab),
        "analogy": analogy_scores(sources["analogy"], sets.analogies, restrict_vocab),
    }
    items = sum(d["items"] for d in details.values())
    covered = sum(d["covered"] for d in details.values())
    metrics: dict[str, Any] = {
        "wordsim353_spearman": details["wordsim353"]["spearman"],
        "simlex999_spearman": details["simlex999"]["spearman"],
        "analogy_accuracy": details["analogy"]["accuracy"],
        "coverage": _share(covered, items),
        "items": items,
        "covered": covered,
        "vocabulary": len(kv),
        "dim": int(kv.vector_size),
        "word_vectors": "keys" if word_vector is None else "mean of the word's token pieces",
        "restrict_vocab": restrict_vocab,
        **details,
    }
    num_pieces = getattr(word_vector, "num_pieces", None)
    if callable(num_pieces):
        singles = {
            "wordsim353": single_token_items(((a, b) for a, b, _ in read_pairs(sets.wordsim353)), num_pieces),
            "simlex999": single_token_items(((a, b) for a, b, _ in read_pairs(sets.simlex999)), num_pieces),
            "analogy": single_token_items((q for _, q in read_analogies(sets.analogies)), num_pieces),
        }
        for name, count in singles.items():
            details[name]["single_token_coverage"] = _share(count, details[name]["items"])
        metrics["single_token_coverage"] = _share(sum(singles.values()), items)
    metrics["seconds"] = round(time.perf_counter() - started, 3)
    return metrics


def write_eval(run_dir: str, metrics: Mapping[str, Any]) -> str:
    """Write ``metrics`` to ``RUN/eval-embeddings.json`` atomically; return the path."""
    path = storage.join(run_dir, EMBEDDINGS_EVAL_FILENAME)
    storage.atomic_write_text(path, json.dumps(dict(metrics), indent=2, ensure_ascii=False) + "\n")
    return path


def read_eval(run_dir: str) -> dict[str, Any] | None:
    """``RUN/eval-embeddings.json``, or None when there is none or it is not a JSON object."""
    path = storage.join(run_dir, EMBEDDINGS_EVAL_FILENAME)
    if not storage.exists(path):
        return None
    try:
        record = json.loads(storage.read_text(path))
    except (ValueError, OSError):
        return None
    return record if isinstance(record, dict) else None


# -- token runs: the floor of piece means ------------------------------------------------------------
class _Sized:
    """The two things ``evaluate_keyed_vectors`` reads of ``kv`` when words come from pieces."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.vector_size = int(matrix.shape[1])
        self._rows = int(matrix.shape[0])

    def __len__(self) -> int:
        return self._rows


def piece_baseline(
    word_vector: Any, *, sets: EvalSets | None = None, seed: int = 0, restrict_vocab: int = RESTRICT_VOCAB
) -> dict[str, Any]:
    """The scores a *random* embedding of the same shape gets through the same pieces.

    Words that share pieces get similar mean vectors whatever the embedding learnt
    (``cats`` holds ``cat``), so piece-mean scores are not zero by chance; this is that floor.
    """
    from lm_train.embeddings.pieces import PieceWords

    matrix = np.asarray(word_vector.matrix)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(matrix.shape, dtype=np.float32) * np.float32(matrix.std() or 1.0)
    random_words = PieceWords(noise, word_vector.encode, word_vector.prefix)
    scores = evaluate_keyed_vectors(_Sized(noise), random_words, sets=sets, restrict_vocab=restrict_vocab)
    return {k: scores[k] for k in ("wordsim353_spearman", "simlex999_spearman", "analogy_accuracy")} | {
        "seed": seed
    }


__all__ = [
    "RESTRICT_VOCAB",
    "EvalSets",
    "analogy_scores",
    "composed_vectors",
    "evaluate_keyed_vectors",
    "pair_scores",
    "piece_baseline",
    "read_analogies",
    "read_eval",
    "read_pairs",
    "solve_analogies",
    "write_eval",
]

"""Word-similarity and analogy numbers that are right: Spearman by hand and by scipy over the
covered pairs, analogy accuracy of planted and random vectors against a plain 3CosAdd, and
coverage counted with OOV words."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gensim.models import KeyedVectors
from scipy import stats

from lm_train.embeddings.evaluation import (
    EvalSets,
    evaluate_keyed_vectors,
    piece_baseline,
    read_analogies,
    read_eval,
    read_pairs,
    solve_analogies,
    write_eval,
)
from lm_train.embeddings.pieces import PieceWords

BUNDLED = EvalSets.bundled()


def keyed(words, vectors) -> KeyedVectors:
    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(list(words), np.asarray(vectors, dtype=np.float32))
    return kv


def cosine(u, v) -> float:
    return float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))


def write_sets(tmp_path, pairs, analogies="") -> EvalSets:
    (tmp_path / "pairs.tsv").write_text("# Word 1\tWord 2\tHuman (mean)\n" + pairs, encoding="utf-8")
    (tmp_path / "questions.txt").write_text(analogies or ": none\n", encoding="utf-8")
    path = str(tmp_path / "pairs.tsv")
    return EvalSets(path, path, str(tmp_path / "questions.txt"))


def test_the_bundled_sets_have_their_published_sizes():
    assert len(read_pairs(BUNDLED.wordsim353)) == 353
    assert len(read_pairs(BUNDLED.simlex999)) == 999
    questions = read_analogies(BUNDLED.analogies)
    assert len(questions) == 19544 and len({s for s, _ in questions}) == 14


def test_spearman_by_hand_on_planted_angles(tmp_path):
    # Four pairs with human scores 1 < 2 < 3 < 4; the vectors put the pairs' cosines in the
    # order 1st < 3rd < 2nd < 4th, so the rank differences are 0, 1, 1, 0:
    # rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8.
    angles = {"p": 1.4, "q": 0.6, "r": 1.0, "s": 0.1}  # the angle between each pair's words
    words, rows = [], []
    for name, angle in angles.items():
        words += [f"{name}1", f"{name}2"]
        rows += [[1.0, 0.0], [np.cos(angle), np.sin(angle)]]
    pairs = "p1\tp2\t1\nq1\tq2\t2\nr1\tr2\t3\ns1\ts2\t4\nzz\tp1\t5\n"  # zz: OOV
    sets = write_sets(tmp_path, pairs)
    metrics = evaluate_keyed_vectors(keyed(words, np.array(rows)), sets=sets)
    assert metrics["wordsim353_spearman"] == pytest.approx(0.8)
    d = metrics["wordsim353"]
    assert (d["items"], d["covered"], d["oov"]) == (5, 4, 1)
    assert d["coverage"] == pytest.approx(0.8)
    assert metrics["analogy_accuracy"] is None  # no question at all


def test_spearman_matches_scipy_over_the_covered_pairs_and_coverage_counts_oov():
    pairs = read_pairs(BUNDLED.wordsim353)
    words = sorted({w for a, b, _ in pairs for w in (a, b)})
    dropped = set(words[::7])  # every 7th word has no vector
    kept = [w for w in words if w not in dropped]
    rng = np.random.default_rng(1)
    kv = keyed(kept, rng.standard_normal((len(kept), 16)))
    covered = [(a, b, s) for a, b, s in pairs if a not in dropped and b not in dropped]
    expected = stats.spearmanr([s for _, _, s in covered], [cosine(kv[a], kv[b]) for a, b, _ in covered])
    metrics = evaluate_keyed_vectors(kv)
    d = metrics["wordsim353"]
    assert metrics["wordsim353_spearman"] == pytest.approx(expected.statistic, abs=1e-6)
    assert (d["items"], d["covered"], d["oov"]) == (353, len(covered), 353 - len(covered))
    assert 0 < len(covered) < 353
    # coverage pools the three sets' items
    covered_all = d["covered"] + metrics["simlex999"]["covered"] + metrics["analogy"]["covered"]
    assert metrics["items"] == 353 + 999 + 19544
    assert metrics["coverage"] == pytest.approx(covered_all / metrics["items"])


def test_planted_capitals_solve_their_analogy_section_exactly():
    # capital_i = e_i and country_i = e_i + o (orthonormal e_i, o): b - a + c is exactly d.
    questions = [q for s, q in read_analogies(BUNDLED.analogies) if s == "capital-common-countries"]
    capitals = sorted({q[0] for q in questions} | {q[2] for q in questions})
    country_of = {q[0]: q[1] for q in questions} | {q[2]: q[3] for q in questions}
    dim = len(capitals) + 1
    basis = np.eye(dim)
    words = [c.lower() for c in capitals] + [country_of[c].lower() for c in capitals]
    rows = [basis[i] for i in range(len(capitals))] + [basis[i] + basis[-1] for i in range(len(capitals))]
    metrics = evaluate_keyed_vectors(keyed(words, np.array(rows)))
    a = metrics["analogy"]
    section = a["sections"]["capital-common-countries"]
    assert (section["items"], section["covered"], section["correct"]) == (506, 506, 506)
    # capital-world asks about some of the same capitals: covered, and as exactly solved
    known = set(words)
    covered = sum(all(w.lower() in known for w in q) for _, q in read_analogies(BUNDLED.analogies))
    assert (a["covered"], a["correct"]) == (covered, covered)
    assert a["sections"]["capital-world"]["covered"] == covered - 506 > 0
    assert metrics["analogy_accuracy"] == 1.0
    assert a["sections"]["family"]["covered"] == 0 and a["sections"]["family"]["accuracy"] is None
    assert a["coverage"] == pytest.approx(covered / 19544)


def test_analogy_accuracy_of_random_vectors_is_a_plain_3cosadd(tmp_path):
    questions = read_analogies(BUNDLED.analogies)
    chosen = [q for s, q in questions if s in ("family", "gram1-adjective-to-adverb")]
    lines = [": family\n"] + [" ".join(q) + "\n" for s, q in questions if s == "family"]
    lines += [": gram1-adjective-to-adverb\n"]
    lines += [" ".join(q) + "\n" for s, q in questions if s == "gram1-adjective-to-adverb"]
    sets = write_sets(tmp_path, "a\tb\t1\n", "".join(lines))
    words = sorted({w.lower() for q in chosen for w in q})
    words = [w for w in words if w != "boy"]  # questions with "boy" are not covered
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((len(words), 8)).astype(np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(words)}
    correct = covered = 0
    for q in chosen:
        a, b, c, d = (w.lower() for w in q)
        if not all(w in index for w in (a, b, c, d)):
            continue
        covered += 1
        target = unit[index[b]] - unit[index[a]] + unit[index[c]]
        scores = unit @ (target / np.linalg.norm(target))
        scores[[index[a], index[b], index[c]]] = -np.inf
        correct += words[int(np.argmax(scores))] == d
    metrics = evaluate_keyed_vectors(keyed(words, vectors), sets=sets)
    assert metrics["analogy"]["covered"] == covered < len(chosen)
    assert metrics["analogy"]["correct"] == correct
    assert metrics["analogy_accuracy"] == pytest.approx(correct / covered)


def test_nothing_covered_gives_no_scores_and_zero_coverage():
    metrics = evaluate_keyed_vectors(keyed(["qqq", "zzz"], np.eye(2)))
    assert metrics["wordsim353_spearman"] is None and metrics["simlex999_spearman"] is None
    assert metrics["analogy_accuracy"] is None and metrics["coverage"] == 0.0
    json.dumps(metrics, allow_nan=False)  # valid JSON: no NaN anywhere


def test_words_from_pieces_score_as_their_composed_vectors(tmp_path):
    # A "tokenizer" of two-letter pieces: a word's vector is the mean of its pieces' rows.
    pairs = "cat\tdog\t7\ncat\tcar\t2\ndog\tdoor\t3\ncats\tdog\t6\n"
    sets = write_sets(tmp_path, pairs)
    pieces = ["ca", "t", "do", "g", "r", "or", "ts"]
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((len(pieces), 6)).astype(np.float32)
    split = {
        " cat": ["ca", "t"],
        " dog": ["do", "g"],
        " car": ["ca", "r"],
        " door": ["do", "or"],
        " cats": ["ca", "ts"],
    }
    words = PieceWords(matrix, lambda text: [pieces.index(p) for p in split[text]])
    token_kv = keyed(pieces, matrix)
    metrics = evaluate_keyed_vectors(token_kv, words, sets=sets)
    composed = {
        w: matrix[[pieces.index(p) for p in split[" " + w]]].mean(axis=0)
        for w in ("cat", "dog", "car", "door", "cats")
    }
    expected = stats.spearmanr(
        [7, 2, 3, 6],
        [
            cosine(composed[a], composed[b])
            for a, b in (("cat", "dog"), ("cat", "car"), ("dog", "door"), ("cats", "dog"))
        ],
    )
    assert metrics["wordsim353_spearman"] == pytest.approx(expected.statistic)
    assert metrics["wordsim353"]["coverage"] == 1.0
    assert metrics["single_token_coverage"] == 0.0  # every word here is two pieces
    assert metrics["word_vectors"].startswith("mean")
    baseline = piece_baseline(words, sets=sets)
    assert set(baseline) == {"wordsim353_spearman", "simlex999_spearman", "analogy_accuracy", "seed"}


def test_write_eval_is_the_json_record(tmp_path):
    metrics = {
        "wordsim353_spearman": 0.5,
        "simlex999_spearman": None,
        "analogy_accuracy": 0.25,
        "coverage": 0.1,
    }
    path = write_eval(str(tmp_path), metrics)
    assert path.endswith("eval-embeddings.json")
    assert json.loads((tmp_path / "eval-embeddings.json").read_text()) == metrics
    assert read_eval(str(tmp_path)) == metrics
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("._tmp")]


@pytest.mark.parametrize("restrict_vocab", [300_000, 60])
def test_block_analogies_answer_as_gensims_one_at_a_time(tmp_path, restrict_vocab):
    questions = [(s, q) for s, q in read_analogies(BUNDLED.analogies) if s in ("family", "gram2-opposite")]
    lines, section = [], None
    for s, q in questions:
        if s != section:
            lines.append(f": {s}\n")
            section = s
        lines.append(" ".join(q) + "\n")
    path = tmp_path / "questions.txt"
    path.write_text("".join(lines), encoding="utf-8")
    words = sorted({w.lower() for _, q in questions for w in q})
    words += ["Boy", "KING", "Sister"]  # case variants after their lowercase forms: never the pick
    rng = np.random.default_rng(4)
    kv = keyed(words, rng.standard_normal((len(words), 5)))
    _, sections = kv.evaluate_word_analogies(str(path), restrict_vocab=restrict_vocab)
    gensim_correct = {q for s in sections[:-1] for q in s["correct"]}
    gensim_covered = gensim_correct | {q for s in sections[:-1] for q in s["incorrect"]}
    answers = solve_analogies(kv, [q for _, q in questions], restrict_vocab)
    ours_covered = {tuple(w.upper() for w in q) for (_, q), a in zip(questions, answers) if a is not None}
    ours_correct = {tuple(w.upper() for w in q) for (_, q), a in zip(questions, answers) if a}
    assert ours_covered == gensim_covered and ours_correct == gensim_correct
    assert 0 < len(ours_correct) < len(ours_covered)

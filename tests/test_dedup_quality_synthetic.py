"""The near-duplicate benchmark's own machinery, on small synthetic data (no corpus, no Beam).

Why: bench/bench_dedup_quality.py decides what counts as a miss or a false removal; if its
truth or scoring were wrong, every figure it reports would be too. (The stage's own quality
check on generated clusters is ``test_quality_small_meets_goals`` in tests/test_dedup.py.)
"""

from __future__ import annotations

import random

from bench.bench_dedup_quality import (
    Context,
    Outcome,
    jaccard,
    near_pairs,
    op_rewrap,
    op_typos,
    op_words,
    run_minhashlsh,
    score,
    truth_shingles,
)

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "while",
    "seven",
    "wizards",
    "quietly",
    "judge",
    "boxing",
    "matches",
]


def prose(seed: int, n: int = 200) -> str:
    rng = random.Random(seed)
    lines, line = [], []
    for _ in range(n):
        line.append(rng.choice(WORDS) + str(rng.randrange(40)))
        if len(line) == 9:
            lines.append(" ".join(line))
            line = []
    return "\n".join(lines) + ("\n" + " ".join(line) if line else "")


ZH = (
    "道可道非常道名可名非常名无名天地之始有名万物之母故常无欲以观其妙常有欲以观其徼此两者同出而异名同谓之玄玄之又玄众妙之门"
    * 3
)


def test_rewrap_changes_only_whitespace():
    rng = random.Random(1)
    for lang, text in (("en", prose(1)), ("zh", ZH + "\nGNU coreutils 9.1 " + ZH)):
        ctx = Context(lang, ["x"], [])
        wrapped, _ = op_rewrap(text, ctx, rng)
        assert wrapped != text
        assert jaccard(truth_shingles(wrapped, lang), truth_shingles(text, lang)) == 1.0
    assert "coreutils" in op_rewrap("GNU coreutils 9.1 " + ZH, Context("zh", [], []), rng)[0].replace(
        "\n", ""
    )


def test_edits_lower_jaccard_and_are_seeded():
    ctx = Context("en", WORDS, [])
    text = prose(2)
    a = op_words(text, ctx, random.Random(3))[0]
    assert a == op_words(text, ctx, random.Random(3))[0]
    j = jaccard(truth_shingles(a, "en"), truth_shingles(text, "en"))
    assert 0.5 < j < 1.0
    zh_ctx = Context("zh", list("天地玄黄"), [])
    b = op_typos(ZH, zh_ctx, random.Random(4))[0]
    assert 0.8 < jaccard(truth_shingles(b, "zh"), truth_shingles(ZH, "zh")) < 1.0


def test_near_pairs_finds_planted_pair_only():
    texts = [prose(s) for s in range(30)]
    texts.append(texts[7].replace(texts[7].split()[3], "changed", 1))
    found = near_pairs([truth_shingles(t, "en") for t in texts], 0.5)
    assert [(i, j) for i, j, _ in found] == [(7, 30)]
    assert found[0][2] > 0.9


def _doc(i: str, text: str) -> dict:
    return {"id": i, "text": text, "lang": "en", "source": "s", "url": None, "lang_score": None, "meta": {}}


def _truth(i: str, cluster: str, base: bool, site: str | None = None, jac: float = 1.0) -> dict:
    return {
        "cluster": cluster,
        "base": base,
        "base_id": f"{cluster}-0",
        "ops": [] if base else ["words 1%"],
        "site": site,
        "jaccard": jac,
        "source": "s",
        "orig_id": i,
        "lang": "en",
    }


def test_score_counts_correct_missed_and_false_removals():
    docs = [_doc(i, prose(k)) for k, i in enumerate(["a-0", "a-1", "a-2", "b-0", "b-1", "c-0", "d-0"])]
    truth = {
        "a-0": _truth("a-0", "a", True),
        "a-1": _truth("a-1", "a", False, jac=0.9),
        "a-2": _truth("a-2", "a", False, jac=0.7),
        "b-0": _truth("b-0", "b", True, site="s1"),
        "b-1": _truth("b-1", "b", False, site="s1", jac=0.95),
        "c-0": _truth("c-0", "c", True, site="s1"),
        "d-0": _truth("d-0", "d", True),
    }
    # a-1 found, a-2 missed; b-1 found; c-0 (another page of site s1) wrongly removed into b
    removed = {"a-1": ("a-0", "fuzzy"), "b-1": ("b-0", "fuzzy"), "c-0": ("b-0", "fuzzy")}
    res = score(docs, truth, Outcome(removed, {}, {}, 1.0), "en")
    assert res["duplicates_to_remove"] == 3
    assert res["correct_removals"] == 2 and res["false_removals"] == 1
    assert res["recall"] == round(2 / 3, 4)
    assert res["removal_precision"] == round(2 / 3, 4)
    assert res["false_removal_kinds"] == {"same site, different page": 1}
    assert [m["id"] for m in res["missed_examples"]] == ["a-2"]
    assert res["variants_at_true_j_ge_0.8_merged"] == 1.0
    assert res["clusters_one_survivor"] == 0.5  # a keeps a-0 and a-2


def test_baseline_removes_exact_copies_into_smallest_id():
    text = prose(5)
    docs = [_doc("x2", text), _doc("x1", text), _doc("y", prose(6))]
    out = run_minhashlsh(docs)
    assert out.removed == {"x2": ("x1", "duplicate_lsh")}

"""The fine-tuning benchmark's pure parts: the fixed split, the baselines, the headline, the demo table."""

from __future__ import annotations

import random
from collections import Counter

from bench.bench_finetune import (
    assign_splits,
    dedup_by_text,
    headline,
    majority_baseline,
    split_counts,
    tfidf_baseline,
)
from scripts.demo import side_by_side

FRACTIONS = {"validation": 0.1, "test": 0.2}


def records(n_per_label: dict[str, int]) -> list[dict]:
    return [
        {"id": f"{label}/{i:04d}", "text": f"text {label} {i}", "label": label}
        for label, n in n_per_label.items()
        for i in range(n)
    ]


def test_splits_are_stratified_and_cover_every_record():
    recs = records({"a": 100, "b": 40, "c": 9})
    split = assign_splits(recs, FRACTIONS, seed=17)
    assert sorted(r["id"] for r in split) == sorted(r["id"] for r in recs)
    counts = split_counts(split)
    assert counts["test"] == {"a": 20, "b": 8, "c": 2}
    assert counts["validation"] == {"a": 10, "b": 4, "c": 1}
    assert counts["train"] == {"a": 70, "b": 28, "c": 6}


def test_splits_are_deterministic_and_depend_on_the_seed_not_the_input_order():
    recs = records({"a": 50, "b": 50})
    shuffled = recs[:]
    random.Random(3).shuffle(shuffled)
    one = {r["id"]: r["split"] for r in assign_splits(recs, FRACTIONS, seed=17)}
    two = {r["id"]: r["split"] for r in assign_splits(shuffled, FRACTIONS, seed=17)}
    other = {r["id"]: r["split"] for r in assign_splits(recs, FRACTIONS, seed=18)}
    assert one == two
    assert one != other


def test_dedup_by_text_keeps_the_first_id_of_each_text():
    recs = [
        {"id": "b", "text": "same  text", "label": "x"},
        {"id": "a", "text": "same text", "label": "y"},
        {"id": "c", "text": "other", "label": "x"},
    ]
    kept, removed = dedup_by_text(recs)
    assert [r["id"] for r in kept] == ["a", "c"] and removed == 1


def test_tfidf_baseline_learns_a_word_and_a_character_signal():
    rng = random.Random(0)
    filler = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]

    def example(label: str, cue: str, i: int) -> dict:
        words = [*rng.choices(filler, k=8), cue]
        rng.shuffle(words)
        return {"id": f"{label}{i}", "text": " ".join(words), "label": label}

    data = [example("net", "socket", i) for i in range(40)] + [
        example("disk", "partition", i) for i in range(40)
    ]
    split = assign_splits(data, FRACTIONS, seed=1)
    train = [r for r in split if r["split"] == "train"]
    test = [r for r in split if r["split"] == "test"]
    assert tfidf_baseline(train, test, "en")["accuracy"] == 1.0
    zh = [
        {"id": f"{lab}{i}", "text": "".join(rng.choices("的一是在不了有和人这", k=12)) + cue, "label": lab}
        for lab, cue in (("网络", "套接字"), ("磁盘", "分区表"))
        for i in range(40)
    ]
    zsplit = assign_splits(zh, FRACTIONS, seed=1)
    ztrain = [r for r in zsplit if r["split"] == "train"]
    ztest = [r for r in zsplit if r["split"] == "test"]
    assert tfidf_baseline(ztrain, ztest, "zh")["macro_f1"] == 1.0
    assert majority_baseline(train, test)["accuracy"] == 0.5


def test_headline_names_the_baseline_and_scratch_to_pretrained():
    result = {
        "languages": {"en": {"tfidf": {"accuracy": 0.82}}, "zh": {"tfidf": {"accuracy": 0.8}}},
        "models": {
            "finetune": {"en": {"gpt": {"scratch": {"accuracy": 0.5}, "pretrained": {"accuracy": 0.7}}}}
        },
    }
    line = headline(result)
    assert "en: tfidf 0.82, gpt 0.50->0.70" in line and "zh: tfidf 0.80" in line


def test_demo_prints_both_runs_side_by_side():
    table = side_by_side(
        {"fine-tuned": {"accuracy": 0.75, "macro_f1": 0.7}, "scratch": {"accuracy": 0.5, "macro_f1": 0.25}}
    )
    rows = table.splitlines()
    assert "accuracy" in rows[0] and len(rows) == 3
    assert rows[1].split()[-2:] == ["0.750", "0.700"] and rows[2].split()[-2:] == ["0.500", "0.250"]
    assert Counter(table.split())["scratch"] == 1

"""The Dask runner's splits and plans: pure, complete, and balanced by weight (no Dask needed)."""

from __future__ import annotations

import random

from pipelines.stage import partitions


def test_weight_counts_the_text_an_element_holds():
    small = ("k", [{"text": "ab", "id": "1"}])
    big = ("k", [{"text": "x" * 1000, "id": "1"}])
    assert partitions.weight(big) - partitions.weight(small) == 998
    assert partitions.weight(("k", [{"text": "x" * 1000}] * 2)) > 2000
    assert partitions.weight(12) == 1 and partitions.weight(b"abc") == 4
    deep: list = ["x" * 100]
    for _ in range(20):
        deep = [deep]
    assert partitions.weight(deep) < 100  # bounded depth: weighing stays cheap


def test_equal_weights_are_dealt_like_round_robin():
    for offset in range(3):
        placed = partitions.place_longest_first([5] * 7, 3, offset)
        dealt = partitions.round_robin(list(range(7)), 3, offset)
        assert [[i for i, b in enumerate(placed) if b == j] for j in range(3)] == [list(d) for d in dealt]


def test_longest_first_balances_uneven_elements():
    rng = random.Random(1)
    weights = [rng.choice([1, 10, 100, 8_000]) * rng.randint(1, 9) for _ in range(25)]
    placed = partitions.place_longest_first(weights, 4)
    loads = [sum(w for w, b in zip(weights, placed) if b == j) for j in range(4)]
    assert max(loads) - min(loads) <= max(weights)
    by_count = [sum(weights[j::4]) for j in range(4)]
    assert max(loads) / min(loads) < max(by_count) / min(by_count)


def test_a_planned_deal_is_pure_complete_and_keeps_arrival_order():
    parts = [["a" * 50, "b", "c" * 30], ["d" * 45], [], ["e", "f" * 20, "g"]]
    weights = [partitions.weights_of(p) for p in parts]
    plan = partitions.plan_deal(weights, 3)
    assert plan == partitions.plan_deal(weights, 3)
    dealt = [partitions.deal(p, 3, plan, i) for i, p in enumerate(parts)]
    buckets = [partitions.concat(*(d[j] for d in dealt)) for j in range(3)]
    assert sorted(partitions.concat(*buckets)) == sorted(partitions.concat(*parts))
    for i, part in enumerate(parts):  # within a bucket, a partition's elements keep their order
        for d in dealt[i]:
            assert d == [x for x in part if x in d]
    loads = sorted(sum(map(partitions.weight, b)) for b in buckets)
    assert loads[-1] - loads[0] <= 51


def test_keys_are_placed_by_weight_and_every_value_of_a_key_meets():
    encode = repr
    parts = [
        [("big", "x" * 900), ("small", "y"), (("t", 1), "z" * 400)],
        [("big", "x" * 900), ("tiny", ""), (("t", 1), "z")],
    ]
    summaries = [partitions.key_weights(p, lambda k: encode(k).encode()) for p in parts]
    plan = partitions.plan_keys(summaries, 2)
    assert plan is not None and plan == partitions.plan_keys(summaries[::-1], 2)
    assert plan[b"'big'"] != plan[b"('t', 1)"]  # the two heavy keys on different buckets
    split = [partitions.split_by_plan(p, 2, lambda k: encode(k).encode(), plan) for p in parts]
    grouped = dict(g for j in range(2) for g in partitions.group_encoded(*(s[j] for s in split)))
    assert grouped["big"] == ["x" * 900, "x" * 900] and grouped[("t", 1)] == ["z" * 400, "z"]
    assert sorted(map(repr, grouped)) == sorted(map(repr, ["big", "small", "tiny", ("t", 1)]))


def test_many_keys_fall_back_to_the_hash():
    pairs = [(i, i) for i in range(50)]
    enc = lambda k: str(k).encode()  # noqa: E731
    assert partitions.key_weights(pairs, enc, limit=10) is None
    few = partitions.key_weights(pairs[:5], enc, limit=10)
    assert partitions.plan_keys([few, None], 3) is None
    assert partitions.plan_keys([few, few], 3, limit=4) is None
    assert partitions.split_by_plan(pairs, 3, enc, None) == partitions.split_by_key(pairs, 3, enc)


def test_partitions_go_round_the_worker_threads():
    slots = partitions.worker_slots({"tcp://b": 1, "tcp://a": 2})
    assert slots == ["tcp://a", "tcp://b", "tcp://a"]
    assert [partitions.home_of(j, slots) for j in range(4)] == ["tcp://a", "tcp://b", "tcp://a", "tcp://a"]
    assert partitions.home_of(3, []) is None
    assert partitions.default_partitions(2) == 4 * 2 and partitions.default_partitions(1, requested=3) == 3

"""Dedup stage: signatures equal datasketch's, CJK shingles, boilerplate, exact/fuzzy removal, index."""

from __future__ import annotations

import json
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from datasketch import MinHash

from bench.bench_dedup_quality import evaluate, make_corpus, run_lmforge, true_jaccards
from pipelines.dedup import DedupConfig, DeduplicateDocuments, index
from pipelines.dedup.components import removals
from pipelines.dedup.lsh import band_pairs, exact_pairs
from pipelines.dedup.minhash import flat_signatures, lean_minhash
from pipelines.dedup.shingles import CJK_RANGES, chunk_shingles, shingle_hashes

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
]


def text(seed: int, n: int = 120) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randrange(50)) for _ in range(n))


def near(t: str, k: int) -> str:
    words = t.split()
    return " ".join(words[:-k] + ["changed"] * k)


def test_numpy_signatures_equal_datasketch():
    sh = chunk_shingles([text(1), text(2), ""], [False, False, False], 5, 5)
    sigs = flat_signatures(sh.hashes, sh.offsets, 128, 7)
    for i in range(2):
        m = MinHash(num_perm=128, seed=7, hashfunc=lambda x: x)
        m.update_batch(sh.of(i).tolist())
        assert np.array_equal(m.hashvalues, sigs[i])
        assert lean_minhash(sigs[i], 7).jaccard(lean_minhash(m.hashvalues, 7)) == 1.0
    assert (sigs[2] == np.iinfo(np.uint32).max).all()  # no shingles


def test_chinese_uses_character_shingles_and_exact_ignores_case_and_punctuation():
    zh = "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏"
    assert len(shingle_hashes(zh, 5, cjk=True)) == len(zh) - 4  # one per 5-character window
    assert len(shingle_hashes("天地玄黄，宇宙洪荒。", 5, cjk=True)) == 4  # punctuation is not a char
    sh = chunk_shingles(["Hello,   World! Again", "hello world again", "hello world"], [False] * 3, 5, 5)
    assert sh.exact[0] == sh.exact[1] != sh.exact[2]


def test_pairs_do_not_depend_on_batch_order():
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 20, 200).astype(np.uint64)
    uids = rng.integers(0, 2**63, 200).astype(np.uint64)
    exact = rng.integers(0, 5, 200).astype(np.uint64)
    old = np.zeros(200, bool)
    a = band_pairs(
        [(keys[:90], uids[:90], exact[:90], old[:90]), (keys[90:], uids[90:], exact[90:], old[90:])], True
    )
    perm = rng.permutation(200)
    b = band_pairs([(keys[perm], uids[perm], exact[perm], old[perm])], True)
    assert np.array_equal(a, b) and len(a)
    e = exact_pairs([(exact, uids, old)])
    assert len(e) == 200 - 5


def test_representative_is_old_then_smallest_id():
    edges = [("b", "c"), ("c", "a"), ("x", "y")]
    out = removals(edges, old_ids={"y"}, exact_hash={"a": 1, "b": 1, "c": 2, "x": 3, "y": 4})
    assert out == {"b": ("a", "exact"), "c": ("a", "fuzzy"), "x": ("y", "fuzzy")}


def run(chunks, cfg=None, **kw):

    with beam.Pipeline(runner=FnApiRunner()) as p:
        res = p | beam.Create(chunks) | DeduplicateDocuments(cfg or DedupConfig(), **kw)
        for name in ("docs", "dropped", "counts"):
            _ = (
                getattr(res, name)
                | f"L{name}" >> beam.combiners.ToList()
                | f"S{name}" >> beam.Map(_store, name)
            )
    return {n: _STORE.pop(n) for n in ("docs", "dropped", "counts")}


_STORE: dict = {}


def _store(value, name):
    _STORE[name] = value


def flat_counts(counts):
    total: dict = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    return total


def make_docs():
    nav = "Home | News | Sport | Weather | Contact us"
    docs = [{"id": f"u{i:02d}", "text": f"{text(i)}\n{nav}", "lang": "en"} for i in range(8)]
    docs.append({"id": "v00", "text": text(0).upper() + "!!\n" + nav, "lang": "en"})  # exact dup of u00
    docs.append({"id": "a01", "text": near(text(1), 3), "lang": "en"})  # near dup, smaller id than u01
    zh = "道可道非常道名可名非常名无名天地之始有名万物之母故常无欲以观其妙常有欲以观其徼此两者同出而异名同谓之玄玄之又玄众妙之门"
    docs.append({"id": "z1", "text": zh, "lang": "zh"})
    docs.append({"id": "z2", "text": zh.replace("始", "初"), "lang": None})  # no lang: detected as CJK
    docs.append({"id": "short", "text": "tiny\n" + nav, "lang": "en"})
    return docs


@pytest.mark.slow
def test_stage_removes_exact_fuzzy_boilerplate_deterministically():
    docs = make_docs()
    res = run([("c0", docs[:6]), ("c1", docs[6:])])
    kept = {d["id"]: d for _, ds in res["docs"] for d in ds}
    dropped = {r["id"]: r for r in res["dropped"]}
    assert dropped["v00"]["reason"] == "duplicate_exact" and dropped["v00"]["duplicate_of"] == "u00"
    assert dropped["u01"]["reason"] == "duplicate_fuzzy" and dropped["u01"]["duplicate_of"] == "a01"
    assert dropped["z2"]["duplicate_of"] == "z1"
    assert dropped["short"]["reason"] == "too_short_after_boilerplate"
    nav_count = sum("Home | News" in d["text"] for d in kept.values())
    assert nav_count == 1  # the boilerplate line survives exactly once
    counts = flat_counts(res["counts"])
    assert counts["duplicates/exact"] == 1 and counts["duplicates/fuzzy"] == 2
    assert len(kept) + len(dropped) == len(docs)
    # other chunking (as with other workers/bundles) -> the same decisions
    again = run([(f"k{i}", [d]) for i, d in enumerate(reversed(docs))])
    assert {d["id"] for _, ds in again["docs"] for d in ds} == set(kept)
    assert {r["id"]: r.get("duplicate_of") for r in again["dropped"]} == {
        k: r.get("duplicate_of") for k, r in dropped.items()
    }


@pytest.mark.slow
def test_incremental_index_removes_cross_run_duplicates(tmp_path):
    cfg = DedupConfig(boilerplate=False)
    a = [{"id": f"a{i}", "text": text(100 + i), "lang": "en"} for i in range(5)]
    run([("c0", a)], cfg, index_output=str(tmp_path / "v1"))
    files = sorted((tmp_path / "v1").iterdir())
    before = {f.name: f.read_bytes() for f in files}
    assert files
    b = [
        {"id": "b0", "text": near(text(100), 2), "lang": "en"},  # near dup of old a0
        {"id": "b1", "text": text(101), "lang": "en"},  # exact dup of old a1
        {"id": "b2", "text": text(999), "lang": "en"},  # new
    ]
    res = run([("c1", b)], cfg, index_inputs=[str(tmp_path / "v1")], index_output=str(tmp_path / "v2"))
    assert [d["id"] for _, ds in res["docs"] for d in ds] == ["b2"]
    assert {r["id"]: r["duplicate_of"] for r in res["dropped"]} == {"b0": "a0", "b1": "a1"}
    assert {f.name: f.read_bytes() for f in sorted((tmp_path / "v1").iterdir())} == before  # untouched
    import pyarrow.parquet as pq

    ids = [i for f in (tmp_path / "v2").iterdir() for i in pq.read_table(f).column("id").to_pylist()]
    assert ids == ["b2"]  # the new index holds this run's kept documents only
    with pytest.raises(ValueError, match="rebuild it"):  # other signature settings: refused
        next(index.read_batches(str(files[0]), DedupConfig(num_perm=64)))


@pytest.mark.slow
def test_quality_small_meets_goals():
    # the synthetic clusters' truth is defined at word 5-gram Jaccard 0.7/0.85 (see
    # bench/realtext/synthetic_clusters.py): judge the machinery at the settings it was made for
    cfg = DedupConfig(boilerplate=False, threshold=0.8, word_ngram=5)
    for lang in ("en", "zh"):
        docs = make_corpus(lang, 25, seed=3)
        metrics = evaluate(docs, true_jaccards(docs, cfg), run_lmforge(docs, cfg))
        assert metrics["positive_pairs_j085"] > 10
        assert metrics["pair_recall_j085"] >= 0.95, metrics
        assert metrics["removal_precision"] >= 0.99, metrics
    assert json.dumps(metrics)


def test_exact_copies_are_duplicates_not_boilerplate():
    page = text(5) + "\n" + text(6)
    docs = [{"id": f"m{i}", "text": page, "lang": "en"} for i in range(6)]
    res = run([("c0", docs)])
    counts = flat_counts(res["counts"])
    assert counts.get("duplicates/exact") == 5
    assert "boilerplate/lines_removed" not in counts
    assert [d["text"] for _, ds in res["docs"] for d in ds] == [page]


@pytest.mark.slow
def test_cli_runs_on_jsonl_and_reuses_its_index(tmp_path):
    from pipelines.dedup.__main__ import main

    src = tmp_path / "in.jsonl"
    docs = [{"id": f"d{i}", "text": text(200 + i % 3)} for i in range(6)]
    src.write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    assert main([f"--input={src}", f"--output={tmp_path / 'one'}", "--keep-dropped"]) == 0
    stats = json.loads((tmp_path / "one" / "stats.json").read_text())
    assert (
        stats["balanced"] and stats["counts"]["kept"] == 3 and stats["counts"]["duplicates"] == {"exact": 3}
    )
    assert list((tmp_path / "one" / "dropped").iterdir())
    index_glob = str(tmp_path / "one" / "dedup_index")
    assert main([f"--input={src}", f"--output={tmp_path / 'two'}", f"--index-from={index_glob}"]) == 0
    again = json.loads((tmp_path / "two" / "stats.json").read_text())
    assert again["counts"]["kept"] == 0 and again["counts"]["duplicates"] == {"exact": 6}


def test_exact_jaccard_of_shingle_sets_matches_python_sets():
    from pipelines.dedup.lsh import jaccard

    rng = np.random.default_rng(0)
    for _ in range(200):
        a = np.unique(rng.integers(0, 300, rng.integers(0, 60)).astype(np.uint32))
        b = np.unique(rng.integers(0, 300, rng.integers(0, 60)).astype(np.uint32))
        sa, sb = set(a.tolist()), set(b.tolist())
        want = len(sa & sb) / len(sa | sb) if sa | sb else 1.0
        assert jaccard(a, b) == pytest.approx(want)


def _reference_shingles(text: str, n: int, cjk: bool) -> list[int]:
    """The documented shingle hash in plain Python integers (see pipelines/dedup/shingles.py)."""
    mask, base = 2**64 - 1, 0x100000001B3 | 1

    def mix(h: int) -> int:
        h ^= h >> 33
        h = (h * 0xFF51AFD7ED558CCD) & mask
        h ^= h >> 33
        h = (h * 0xC4CEB9FE1A85EC53) & mask
        return h ^ (h >> 33)

    def poly(values: list[int]) -> int:
        h = 0
        for v in values:
            h = (h * base + v) & mask
        return h

    def is_cjk_char(ch: str) -> bool:
        c = ord(ch)
        return any(lo <= c <= hi for lo, hi in CJK_RANGES)

    tokens, run = [], []
    for ch in text.lower() + " ":
        if ch.isalnum() and not is_cjk_char(ch):
            run.append(ord(ch))
            continue
        if run:
            tokens.append(mix(poly(run)))
            run = []
        if ch.isalnum():  # CJK: every character is a token
            tokens.append(mix(ord(ch)))
    width = min(n, len(tokens))
    grams = [tokens[i : i + width] for i in range(len(tokens) - width + 1)] if tokens else []
    return sorted({mix(poly(g)) & 0xFFFFFFFF for g in grams})


@pytest.mark.parametrize(
    ("text", "cjk"),
    [
        ("The quick brown fox -- jumps over the LAZY dog; the quick brown fox!", False),
        ("短文本", True),
        ("一段比较长的中文文本，用来检查字符级别的五元组哈希是否一致。", True),
        ("two words", False),
        ("Straße İstanbul naïve café 42", False),
        ("用法：ls [选项] --block-size=M 列出目录内容 GNU coreutils", None),  # mixed scripts
        ("The Chinese word 文件 means file", None),
    ],
)
def test_shingle_hashes_follow_the_documented_formula(text, cjk):
    from pipelines.dedup.shingles import shingle_hashes

    assert shingle_hashes(text, 5, cjk).tolist() == _reference_shingles(text, 5, cjk)


def _real_paragraphs() -> list[str]:
    from pathlib import Path

    real = Path(__file__).parent / "data" / "realtext"
    paras = []
    for name in ("Apache-2.0.txt", "kernel-en-bug-hunting.rst"):
        paras += [" ".join(p.split()) for p in (real / name).read_text(encoding="utf-8").split("\n\n")]
    return [p for p in paras if len(p) > 500 and "::" not in p]


HEADER = "Apache Software Foundation | Projects | People | Community | License | Sponsorship"
FOOTER = "Copyright © The Apache Software Foundation. Licensed under the Apache License, Version 2.0."


@pytest.mark.slow
def test_near_duplicates_sharing_boilerplate_are_removed():
    """A site's pages share a header and footer; near copies of a page must still be found,
    and pages that share only the boilerplate must stay (hard negatives)."""
    rng = random.Random(7)
    paras = _real_paragraphs()
    assert len(paras) >= 6
    docs = []
    for i, body in enumerate(paras[:6]):
        docs.append({"id": f"p{i}", "text": f"{HEADER}\n{body}\n{FOOTER}", "lang": "en"})
        words = body.split()
        for j in rng.sample(range(len(words)), 2):  # two typos
            words[j] = words[j][::-1]
        docs.append({"id": f"q{i}", "text": f"{HEADER}\n{' '.join(words)}\n{FOOTER}", "lang": "en"})
    res = run([("c0", docs[:7]), ("c1", docs[7:])])
    dropped = {r["id"]: r for r in res["dropped"]}
    assert {k: r["duplicate_of"] for k, r in dropped.items()} == {f"q{i}": f"p{i}" for i in range(6)}
    kept = [d for _, ds in res["docs"] for d in ds]
    assert sorted(d["id"] for d in kept) == [f"p{i}" for i in range(6)]
    # the shared lines survive once, and only the pages' edges lost anything
    assert sum(HEADER in d["text"] for d in kept) == 1 and sum(FOOTER in d["text"] for d in kept) == 1
    assert all(d["text"].strip() in f"{HEADER}\n{paras[int(d['id'][1:])]}\n{FOOTER}" for d in kept)
    counts = flat_counts(res["counts"])
    assert counts["bytes_dedup_removed/boilerplate"] == 5 * len(f"{HEADER}\n\n{FOOTER}".encode())


@pytest.mark.slow
def test_boilerplate_in_the_middle_of_a_text_stays():
    body = _real_paragraphs()
    title = "Redistribution of the Work and of Derivative Works"  # a section title every page repeats
    docs = [{"id": f"s{i}", "text": f"{body[i]}\n{title}\n{body[i + 1]}", "lang": "en"} for i in range(6)]
    res = run([("c0", docs)], DedupConfig(fuzzy=False))
    assert sorted(d["text"] for _, ds in res["docs"] for d in ds) == sorted(d["text"] for d in docs)
    res = run([("c0", docs)], DedupConfig(fuzzy=False, boilerplate_scope="anywhere"))
    assert sum(title in d["text"] for _, ds in res["docs"] for d in ds) == 1


def test_mixed_chinese_english_text_gets_character_shingles_whatever_its_label():
    from pathlib import Path

    page = (Path(__file__).parent / "data" / "realtext" / "man-ls.zh_CN.1.txt").read_text(encoding="utf-8")
    body = page[page.index("描述") : page.index("描述") + 1500]
    # technical Chinese full of option names: each CJK character is a token, each option a word
    assert len(shingle_hashes(body, 5)) > 0.8 * sum(1 for ch in body if "\u4e00" <= ch <= "\u9fff")
    variant = body.replace("目录", "文件夹", 2).replace("条目", "项目", 1)
    docs = [
        {"id": "a", "text": body, "lang": "en"},  # labels that say "not Chinese" change nothing
        {"id": "b", "text": variant, "lang": None},
    ]
    res = run([("c0", docs)], DedupConfig(boilerplate=False))
    assert [(r["id"], r["duplicate_of"]) for r in res["dropped"]] == [("b", "a")]

"""Generated near-duplicate clusters from the bundled sample: the old, synthetic quality check.

Kept for the fast unit test in ``tests/test_dedup.py`` (``test_quality_small_meets_goals``),
which imports these names through ``bench.bench_dedup_quality``. The benchmark itself now
runs on real documents (``bench/bench_dedup_quality.py``): on this generated data every
system scores near 100 %, which is why it is no longer the benchmark.

Base texts are English (KJV chapters) and Chinese (fortunes-zh) records of the sample
corpus; each cluster is a base text plus variants with controlled edits (substitutions,
insertions, deletions, paragraph reordering, an added boilerplate line). ``evaluate``
gives pair recall at true J >= 0.85, pair precision at J >= 0.7, removal precision and
cluster precision/recall, with true J the exact Jaccard of the stage's own shingles.
"""

from __future__ import annotations

import gzip
import json
import random
import tempfile
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipelines.dedup import DedupConfig, DeduplicateDocuments
from pipelines.dedup.components import components
from pipelines.dedup.lsh import jaccard
from pipelines.dedup.shingles import chunk_shingles

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "data" / "sample" / "raw" / "jsonl"
BOILERPLATE = ["Share this page | Print | Email a friend", "版权所有 © 2024 保留所有权利 联系我们"]


def base_texts(lang: str, min_chars: int) -> list[str]:
    """Real texts of the sample corpus, consecutive records joined until ``min_chars``."""
    name = "kjv-old-testament" if lang == "en" else "fortunes-zh"
    with gzip.open(RAW / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
        records = [json.loads(line)["text"].strip() for line in f]
    out, cur = [], []
    for text in records:
        cur.append(text)
        if sum(len(t) for t in cur) >= min_chars:
            out.append("\n\n".join(cur))
            cur = []
    seen, uniq = set(), []
    for t in out:  # the sample repeats some records on purpose; bases must be distinct
        if t not in seen:
            seen.add(t)
            uniq.append(t)
    return uniq


def _units(text: str, lang: str) -> list[str]:
    return list(text) if lang == "zh" else text.split(" ")


def _join(units: list[str], lang: str) -> str:
    return "".join(units) if lang == "zh" else " ".join(units)


def edit(text: str, lang: str, rate: float, rng: random.Random, vocab: list[str]) -> str:
    """A variant: substitutions, insertions and deletions at ``rate`` per unit, sometimes
    paragraph reordering and an added boilerplate line."""
    paras = text.split("\n\n")
    if len(paras) > 2 and rng.random() < 0.3:
        i, j = rng.sample(range(len(paras)), 2)
        paras[i], paras[j] = paras[j], paras[i]
    out_paras = []
    for para in paras:
        units, out = _units(para, lang), []
        for u in units:
            r = rng.random()
            if r < rate / 3:
                out.append(rng.choice(vocab))  # substitution
            elif r < 2 * rate / 3:
                continue  # deletion
            elif r < rate:
                out += [u, rng.choice(vocab)]  # insertion
            else:
                out.append(u)
        out_paras.append(_join(out, lang))
    if rng.random() < 0.3:
        out_paras.append(BOILERPLATE[lang == "zh"])
    return "\n\n".join(out_paras)


def make_corpus(lang: str, n_clusters: int, seed: int, min_chars: int = 1500) -> list[dict]:
    """Docs with ``cluster`` labels: each base text alone or with 1-6 edited variants."""
    rng = random.Random(seed)
    bases = base_texts(lang, min_chars)
    rng.shuffle(bases)
    bases = bases[:n_clusters]
    vocab = sorted({u for t in bases for u in _units(t, lang) if u.strip()})
    docs = []
    for c, base in enumerate(bases):
        docs.append({"id": f"{lang}-{c:04d}-0", "text": base, "lang": lang, "cluster": c})
        for v in range(1, rng.choice([0, 1, 2, 3, 4, 6]) + 1):
            rate = rng.choice([0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.08, 0.12])
            docs.append(
                {
                    "id": f"{lang}-{c:04d}-{v}",
                    "text": edit(base, lang, rate, rng, vocab),
                    "lang": lang,
                    "cluster": c,
                }
            )
    return docs


def true_jaccards(docs: list[dict], cfg: DedupConfig) -> dict[tuple[str, str], float]:
    """Exact Jaccard for every within-cluster pair (cross-cluster pairs are distinct bases)."""
    sh = chunk_shingles(
        [d["text"] for d in docs], [d["lang"] == "zh" for d in docs], cfg.word_ngram, cfg.char_ngram
    )
    by_cluster = defaultdict(list)
    for i, d in enumerate(docs):
        by_cluster[d["cluster"]].append(i)
    out = {}
    for members in by_cluster.values():
        for i, j in combinations(members, 2):
            out[tuple(sorted((docs[i]["id"], docs[j]["id"])))] = jaccard(sh.of(i), sh.of(j))
    return out


def run_lmforge(docs: list[dict], cfg: DedupConfig, chunk: int = 200) -> dict[str, str]:
    """doc id -> representative, from ``DeduplicateDocuments`` on the FnApiRunner."""
    found: dict[str, str] = {}
    chunks = [
        (f"c{i:05d}", [{k: v for k, v in d.items() if k != "cluster"} for d in docs[i : i + chunk]])
        for i in range(0, len(docs), chunk)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        out_path = Path(tmp) / "removed.jsonl"
        with beam.Pipeline(runner=FnApiRunner()) as p:
            res = p | beam.Create(chunks) | DeduplicateDocuments(cfg)
            _ = (
                res.dropped
                | beam.Map(lambda r: json.dumps([r["id"], r.get("duplicate_of")]))
                | beam.combiners.ToList()
                | beam.Map(lambda lines: out_path.write_text("\n".join(sorted(lines))))
            )
        for line in out_path.read_text().splitlines():
            doc_id, rep = json.loads(line)
            found[doc_id] = rep
    return found


def evaluate(docs: list[dict], jac: dict[tuple[str, str], float], removed: dict[str, str]) -> dict:
    """Pair/removal/cluster metrics of a {removed id: representative} decision."""
    rep = {d["id"]: removed.get(d["id"], d["id"]) for d in docs}
    cluster_of = {d["id"]: d["cluster"] for d in docs}
    pos = [p for p, j in jac.items() if j >= 0.85]
    tp = sum(rep[a] == rep[b] for a, b in pos)
    predicted = defaultdict(list)
    for d in docs:
        predicted[rep[d["id"]]].append(d["id"])
    pred_pairs = [tuple(sorted(p)) for g in predicted.values() for p in combinations(g, 2)]
    good_pairs = sum(jac.get(p, 0.0) >= 0.7 for p in pred_pairs)
    best = defaultdict(float)
    for (a, b), j in jac.items():
        best[a], best[b] = max(best[a], j), max(best[b], j)
    removed_by_cluster = defaultdict(int)
    size = defaultdict(int)
    for d in docs:
        size[d["cluster"]] += 1
        removed_by_cluster[d["cluster"]] += d["id"] in removed
    wrong = [r for r in removed if best[r] < 0.7 or removed_by_cluster[cluster_of[r]] == size[cluster_of[r]]]
    # clusters: predicted (size >= 2) inside one generated cluster; generated J>=0.85 cores kept together
    pred_clusters = [g for g in predicted.values() if len(g) > 1]
    pure = sum(len({cluster_of[m] for m in g}) == 1 for g in pred_clusters)
    core_edges = defaultdict(list)
    for a, b in pos:
        core_edges[cluster_of[a]].append((a, b))
    cores = [components(e) for e in core_edges.values()]
    core_groups = []
    for roots in cores:
        g = defaultdict(list)
        for n, r in roots.items():
            g[r].append(n)
        core_groups += list(g.values())
    whole = sum(len({rep[m] for m in g}) == 1 for g in core_groups)
    recall = tp / len(pos) if pos else 1.0
    precision = good_pairs / len(pred_pairs) if pred_pairs else 1.0
    return {
        "docs": len(docs),
        "positive_pairs_j085": len(pos),
        "pair_recall_j085": round(recall, 4),
        "pair_precision_j07": round(precision, 4),
        "pair_f1": round(2 * recall * precision / (recall + precision), 4) if recall + precision else 0.0,
        "removed": len(removed),
        "removal_precision": round(1 - len(wrong) / len(removed), 4) if removed else 1.0,
        "cluster_precision": round(pure / len(pred_clusters), 4) if pred_clusters else 1.0,
        "cluster_recall": round(whole / len(core_groups), 4) if core_groups else 1.0,
    }

"""Decontamination in the dedup stage: planted test sentences leave as dropped/contaminated, counts add
up, task datasets are read from their validation/test shards, and the report names the matches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.dedup import DedupConfig
from pipelines.dedup.references import ReferenceInputError, read_texts, resolve
from tests.test_decontam_ngrams import TEST_SENTENCE, ZH_SENTENCE
from tests.test_dedup import flat_counts, run, text

CFG = DedupConfig(boilerplate=False)


def _jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path


def _pretraining_docs() -> list[dict]:
    words = TEST_SENTENCE.split()
    docs = [{"id": f"d{i:02d}", "text": text(300 + i), "lang": "en"} for i in range(8)]
    docs[1]["text"] = text(401) + "\n" + TEST_SENTENCE + "\n" + text(402)
    docs[2]["text"] = text(403) + " " + " ".join(words[:12]) + " " + text(404)  # 12 words only
    docs[3]["text"] = "今天我们讨论一部新片。" + ZH_SENTENCE + "大家怎么看这部电影呢我觉得还不错"
    docs[4]["text"] = docs[0]["text"]  # an exact duplicate: still a duplicate, not contaminated
    docs[5]["text"] = docs[1]["text"]  # a contaminated document's copy: contaminated too
    return docs


def _dedup(docs: list[dict], cfg: DedupConfig, **kw) -> dict:
    return run([("c0", docs[:4]), ("c1", docs[4:])], cfg, **kw)


def test_planted_test_sentences_leave_as_contaminated_and_the_counts_add_up(tmp_path):
    ref = _jsonl(tmp_path / "test.jsonl", [TEST_SENTENCE, ZH_SENTENCE])
    cfg = DedupConfig(boilerplate=False, decontaminate=[str(ref)])
    docs = _pretraining_docs()
    res = _dedup(docs, cfg, report_dir=str(tmp_path))
    kept = sorted(d["id"] for _, ds in res["docs"] for d in ds)
    assert kept == ["d00", "d02", "d06", "d07"]
    by_id = {r["id"]: r for r in res["dropped"]}
    assert {i: r["reason"] for i, r in by_id.items()} == {
        "d01": "contaminated",
        "d03": "contaminated",
        "d05": "contaminated",
        "d04": "duplicate_exact",
    }
    assert by_id["d03"]["contaminated_by"] == str(ref)
    assert by_id["d03"]["contaminated_ngram"] == ZH_SENTENCE[:13]
    counts = flat_counts(res["counts"])
    assert counts["dropped/contaminated"] == 3 and counts["duplicates/exact"] == 1
    removed = sum(v for k, v in counts.items() if k.startswith(("dropped/", "duplicates/")))
    assert removed + len(kept) == len(docs)  # every document in exactly one place
    assert counts["decontamination/reference_texts"] == 2
    summary = json.loads((tmp_path / "dedup_contamination.json").read_text())
    assert summary["contaminated"] == 3
    assert summary["per_reference"] == [{"reference": str(ref), "documents": 3}]
    assert [e["id"] for e in summary["examples"]] == ["d01", "d03", "d05"]


@pytest.mark.slow
def test_a_reference_that_matches_nothing_changes_nothing(tmp_path):
    (tmp_path / "unrelated.txt").write_text(text(999))
    docs = _pretraining_docs()
    off = _dedup(docs, CFG)
    on = _dedup(docs, DedupConfig(boilerplate=False, decontaminate=[str(tmp_path / "unrelated.txt")]))
    assert on["docs"] == off["docs"] and on["dropped"] == off["dropped"]
    counts_on, counts_off = flat_counts(on["counts"]), flat_counts(off["counts"])
    assert {k: v for k, v in counts_on.items() if not k.startswith("decontamination/")} == counts_off
    assert counts_on["decontamination/reference_ngrams"] > 0  # it did check against something


def test_a_task_dataset_contributes_its_validation_and_test_texts_not_its_train_split(tmp_path):
    from lm_train.testing import write_text_dataset

    texts = [(f"t{i:02d}", "en", text(500 + i, 30)) for i in range(7)] + [("t07", "en", TEST_SENTENCE)]
    task = write_text_dataset(tmp_path / "task", texts, vocab_size=300, val_every=8, train_shards=1)
    refs = resolve([str(task)])
    assert [Path(r.path).name for r in refs] == ["validation-00000-of-00001.arrow"]
    assert list(read_texts(refs[0])) == [TEST_SENTENCE]  # decoded exactly
    docs = _pretraining_docs()
    docs[6]["text"] = text(600) + " " + texts[0][2] + " " + text(601)  # a train example: allowed
    res = _dedup(docs, DedupConfig(boilerplate=False, decontaminate=[str(task)]))
    assert sorted(r["id"] for r in res["dropped"] if r["reason"] == "contaminated") == ["d01", "d05"]


def test_an_entry_that_gives_nothing_to_check_against_stops_the_run(tmp_path):
    with pytest.raises(ReferenceInputError, match="matches no file"):
        resolve([str(tmp_path / "missing" / "*.jsonl")])
    from lm_train.testing import write_text_dataset

    no_eval = write_text_dataset(tmp_path / "no_eval", [("a", "en", text(1, 30))], val_every=10**6)
    with pytest.raises(ReferenceInputError, match="no validation or test documents"):
        resolve([str(no_eval)])


@pytest.mark.slow
def test_cli_counts_contaminated_documents_and_the_report_lists_them(tmp_path):
    from pipelines.dedup.__main__ import main
    from pipelines.report.build import build_report

    ref = _jsonl(tmp_path / "eval.jsonl", [TEST_SENTENCE])
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({k: d[k] for k in ("id", "text")}) + "\n" for d in _pretraining_docs()))
    out = tmp_path / "out"
    assert main([f"--input={src}", f"--output={out}", f"--set=dedup.decontaminate={ref}"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] and stats["counts"]["dropped"]["contaminated"] == 2  # d01, d05
    report = build_report(str(out))
    removals = {(r["bucket"], r["reason"]): r["documents"] for r in report["accounting"]["removals"]}
    assert removals[("dropped", "contaminated")] == 2
    assert report["contamination"]["per_reference"] == [{"reference": str(ref), "documents": 2}]
    assert report["contamination"]["reference"]["reference_texts"] == 1
    code = main(
        [f"--input={src}", f"--output={tmp_path / 'x'}", f"--set=dedup.decontaminate={tmp_path}/nope"]
    )
    assert code == 2


@pytest.mark.slow
def test_prepare_drops_a_planted_test_sentence_and_its_report_shows_the_example(tmp_path):
    import gzip

    from pipelines.prepare import run as prepare
    from pipelines.report.build import build_report

    sample = Path(__file__).resolve().parent.parent / "data/sample/raw/jsonl/kjv-new-testament.jsonl.gz"
    with gzip.open(sample, "rt") as f:
        first = json.loads(f.readline())
    passage = " ".join(first["text"].split()[40:60])  # a "test set" passage from a corpus document
    ref = _jsonl(tmp_path / "eval.jsonl", [passage])
    out = tmp_path / "ds"
    argv = [f"--input={sample}", f"--output={out}", f"--set=dedup.decontaminate=[{ref}]"]
    assert prepare(argv) == 0
    report = build_report(str(out))
    c = report["contamination"]
    assert c["contaminated"] == report["accounting"]["counts"]["dropped"]["contaminated"] >= 1
    assert c["per_reference"] == [{"reference": str(ref), "documents": c["contaminated"]}]
    assert first["id"] in {e["id"] for e in c["examples"]}
    assert all(e["ngram"] in passage.lower() for e in c["examples"])
    assert next(x for x in report["checks"] if "dedup_contamination.json" in x["check"])["ok"]


def test_a_paired_task_dataset_contributes_both_its_sources_and_its_targets(tmp_path):
    from lm_train.testing import write_pairs_dataset

    pairs = [(text(700 + i, 20), text(800 + i, 20)) for i in range(4)] + [
        ("Translate this line", TEST_SENTENCE)
    ]
    task = write_pairs_dataset(tmp_path / "pairs", pairs, vocab_size=300, val_every=5)
    refs = resolve([str(task)])
    assert list(read_texts(refs[0])) == ["Translate this line", TEST_SENTENCE]
    res = _dedup(_pretraining_docs(), DedupConfig(boilerplate=False, decontaminate=[str(task)]))
    assert sorted(r["id"] for r in res["dropped"] if r["reason"] == "contaminated") == ["d01", "d05"]

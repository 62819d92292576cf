"""The default clean config on the bundled sample: prose in both languages survives, junk does not."""

from __future__ import annotations

import glob
import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from pipelines.clean import CleanConfig, Cleaner
from pipelines.clean.__main__ import main as clean_main
from pipelines.io.config import ReadConfig
from pipelines.io.documents import read_document_table
from pipelines.io.file_reader import FileReader
from schemas import table_to_documents

RAW = Path(__file__).resolve().parents[1] / "data" / "sample" / "raw"


def jsonl_records(directory: Path) -> list[dict]:
    return [
        json.loads(x)
        for f in sorted(directory.glob("*.jsonl.gz"))
        for x in gzip.decompress(f.read_bytes()).splitlines()
    ]


def docs_of(path: Path) -> list[dict]:
    return [d for d in FileReader(ReadConfig()).read(str(path)) if "text" in d]


@pytest.fixture(scope="module")
def cleaner() -> Cleaner:
    return Cleaner(CleanConfig())


def outcomes(docs: list[dict], cleaner: Cleaner) -> Counter:
    return Counter("kept" if out else reason for out, reason in (cleaner.clean(d) for d in docs))


def test_chinese_poems_and_sayings_survive(cleaner):
    docs = [d for d in docs_of(RAW / "jsonl" / "fortunes-zh.jsonl.gz") if "/chinese/" not in d["id"]]
    result = outcomes(docs, cleaner)
    assert len(docs) > 400
    assert result["kept"] / len(docs) >= 0.9, result


def test_english_prose_survives(cleaner):
    docs = docs_of(RAW / "jsonl" / "kjv-old-testament.jsonl.gz")[::3] + docs_of(
        RAW / "jsonl" / "kjv-new-testament.jsonl.gz"
    )
    result = outcomes(docs, cleaner)
    assert result["kept"] / len(docs) >= 0.93, result


def test_junk_and_other_languages_are_dropped_with_reasons(cleaner):
    docs = docs_of(RAW / "jsonl" / "junk.jsonl.gz")
    reasons = {d["id"]: cleaner.clean(d)[1] for d in docs}
    assert all(reasons.values()), reasons  # nothing junk is kept
    assert reasons["other-lang/fr"] == reasons["other-lang/de"] == "language_not_allowed"
    assert reasons["junk/4"] == "too_short"


@pytest.mark.slow
def test_clean_cli_end_to_end(tmp_path):
    inputs = [RAW / "jsonl" / "junk.jsonl.gz", RAW / "jsonl" / "scraped.jsonl", RAW / "html", RAW / "text"]
    nt = tmp_path / "nt.jsonl"  # the first New Testament chapters carry planted PII
    with gzip.open(RAW / "jsonl" / "kjv-new-testament.jsonl.gz", "rt", encoding="utf-8") as f:
        nt.write_text("".join(line for _, line in zip(range(30), f, strict=False)), encoding="utf-8")
    out = tmp_path / "out"
    argv = [f"--input={p}" for p in [*inputs, nt]] + [f"--output={out}", "--keep-dropped"]
    assert clean_main(argv) == 0

    stats = json.loads((out / "stats.json").read_text())
    counts = stats["counts"]
    assert stats["balanced"] and counts["input"] == 14 + 3 + 5 + 6 + 30
    assert counts["quarantined"] == {"bad_json": 1, "invalid_utf8": 1, "missing_text": 1, "wrong_type": 2}
    assert counts["dropped"]["language_not_allowed"] >= 2
    assert stats["annotations"]["pii"]["email"] >= 25 and stats["annotations"]["pii"]["phone"] >= 25

    docs = [
        d
        for p in sorted(glob.glob(str(out / "documents" / "*.parquet")))
        for d in table_to_documents(read_document_table(p))
    ]
    assert len(docs) == counts["kept"]
    assert {d["lang"] for d in docs} == {"en"} and all(d["lang_score"] > 0.5 for d in docs)
    assert all("@example" not in d["text"] for d in docs)
    html = [d for d in docs if d["meta"].get("extracted_from") == "html"]
    assert len(html) == 5 and all("<" not in d["text"][:50] for d in html)

    # Clean output is valid input for the next stage, unchanged.
    again = [d for p in sorted(glob.glob(str(out / "documents" / "*.parquet"))) for d in docs_of(Path(p))]
    assert again == docs

    quarantine = jsonl_records(out / "quarantine")
    assert {q["reason"] for q in quarantine} == {"bad_json", "invalid_utf8", "missing_text", "wrong_type"}
    assert all(q["stage"] == "read" and q["path"] and q["offset"] is not None for q in quarantine)
    dropped = jsonl_records(out / "dropped")
    assert len(dropped) == sum(counts["dropped"].values())
    assert all(r["stage"] == "clean" and r["reason"] and r["text"] for r in dropped)

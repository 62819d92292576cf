"""``python -m pipelines.report``: the numbers, the plots, and the directories it must cope with."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lmcore.dataset_writer import shard_info, write_token_shard
from lmcore.storage import InputFile
from pipelines import report
from pipelines.dataset import versions
from pipelines.report import data as report_data
from pipelines.report.build import build_report
from pipelines.report.whatif import what_if
from schemas import (
    Counts,
    Manifest,
    ShardInfo,
    TokenizerInfo,
    build_token_shard_table,
    documents_to_table,
    sha256_bytes,
)

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- reading the HTML back ---------------------------------------------------------------------
class PageParser(HTMLParser):
    """Collects tables (by id, as rows of cell text), embedded images and skipped-section notes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: dict[str, bytes] = {}
        self.skipped: dict[str, str] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._figure: str | None = None
        self._section: str | None = None
        self._skip: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._section = a["id"]
        elif tag == "table":
            self._table = a.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "figure":
            self._figure = a["id"]
        elif tag == "img":
            src = a["src"]
            assert src.startswith("data:image/png;base64,"), src[:40]
            self.images[self._figure] = base64.b64decode(src.split(",", 1)[1])
        elif tag == "p" and a.get("class") == "skipped":
            self._skip = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "p" and self._skip is not None:
            self.skipped[self._section] = "".join(self._skip)
            self._skip = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._skip is not None:
            self._skip.append(data)


def parse_page(path: Path) -> PageParser:
    page = PageParser()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def column(page: PageParser, table_id: str, key_col: int, value_col: int) -> dict[str, int]:
    rows = page.tables[table_id][1:]
    return {r[key_col]: int(r[value_col].replace(",", "")) for r in rows}


def assert_png(data: bytes) -> None:
    import matplotlib.image

    assert data.startswith(PNG_MAGIC)
    img = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert img.shape[0] > 100 and img.shape[1] > 100


# -- a hand-built dataset directory ------------------------------------------------------------
def _jsonl_gz(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        gzip.compress("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())
    )


def _docs(rng: np.random.Generator, prefix: str, n: int) -> list[dict]:
    sources = ["web", "books", "forum"]
    langs = ["en", "zh", None]
    return [
        {
            "id": f"{prefix}{i:03d}",
            "source": sources[i % 3],
            "lang": langs[(i // 3) % 3],
            "num_bytes": int(rng.integers(1, 5000)),
            "tokens": rng.integers(1, 1000, size=int(rng.integers(1, 800))).astype(np.uint16),
        }
        for i in range(n)
    ]


def _write_shard(root: Path, rel: str, docs: list[dict], split: str) -> ShardInfo:
    table = build_token_shard_table(
        [d["id"] for d in docs],
        [d["source"] for d in docs],
        [d["lang"] for d in docs],
        [d["num_bytes"] for d in docs],
        [d["tokens"] for d in docs],
        "uint16",
        split,
    )
    sha = write_token_shard(str(root / rel), table)
    return shard_info(rel, split, sha, table, "uint16")


STATS = {
    "stage": "prepare",
    "finished_at": "2026-02-01T00:00:00Z",
    "counts": {
        "input": 35,
        "kept": 15,
        "dropped": {"gopher_repetition": 2, "too_short": 6},
        "duplicates": {"exact": 6, "fuzzy": 2},
        "quarantined": {"bad_json": 3, "invalid_utf8": 1},
    },
    "balanced": True,
    "annotations": {
        "boilerplate": {"documents_changed": 5, "lines_removed": 9},
        "dedup_clusters": {"size_2": 4, "size_3": 2},
        "pii": {"email": 2},
    },
}
TOP_LINES = [
    {"line": "Copyright © Example Inc. All rights reserved.", "documents": 12},
    {"line": "版权所有 不得转载", "documents": 4},
]


def build_token_dataset(root: Path) -> dict:
    """Two committed versions, stats, dropped and quarantine records; returns the expected numbers."""
    rng = np.random.default_rng(7)
    tok_bytes = b'{"model": "dummy"}'
    (root / "tokenizer.json").write_bytes(tok_bytes)
    tokenizer = TokenizerInfo("tokenizer.json", sha256_bytes(tok_bytes), 1000, {"<|endoftext|>": 0}, eos_id=0)
    v1_train, v1_val, v2_train = _docs(rng, "a", 20), _docs(rng, "b", 5), _docs(rng, "c", 15)
    shards_v1 = [
        _write_shard(root, "shards/v00001/train-00000-of-00001.arrow", v1_train, "train"),
        _write_shard(root, "shards/v00001/validation-00000-of-00001.arrow", v1_val, "validation"),
    ]
    shards_v2 = [
        *shards_v1,
        _write_shard(root, "shards/v00002/train-00000-of-00001.arrow", v2_train, "train"),
    ]
    c1 = Counts(input=30, kept=25, dropped={"too_short": 5})
    m1 = Manifest(tokenizer, shards_v1, c1, created_at="2026-01-01T00:00:00Z", code_version="t", version=1)
    versions.commit(str(root), m1, [InputFile("in/a.jsonl", 1, "1")])
    c2 = c1 + Counts.from_dict(STATS["counts"])  # cumulative: version 1 plus the last run
    m2 = Manifest(
        tokenizer,
        shards_v2,
        c2,
        created_at="2026-02-01T00:00:00Z",
        code_version="t",
        version=2,
        parent_fingerprint=m1.fingerprint,
    )
    versions.commit(str(root), m2, [InputFile("in/b.jsonl", 1, "2")])
    run_tokens = {"tokens": {"train": shards_v2[-1].num_tokens}}  # what tokenize records for its own shards
    (root / "stats.json").write_text(
        json.dumps({**STATS, "annotations": {**STATS["annotations"], **run_tokens}})
    )
    (root / "dedup_boilerplate.json").write_text(json.dumps(TOP_LINES, ensure_ascii=False))
    dropped = [
        {
            "id": "x1",
            "text": "dup one",
            "source": "web",
            "stage": "dedup",
            "reason": "duplicate_exact",
            "duplicate_of": "a001",
        },
        {
            "id": "x2",
            "text": "dup two",
            "source": "web",
            "stage": "dedup",
            "reason": "duplicate_exact",
            "duplicate_of": "a001",
        },
        {
            "id": "x3",
            "text": "dup three",
            "source": "web",
            "stage": "dedup",
            "reason": "duplicate_fuzzy",
            "duplicate_of": "a002",
        },
        {"id": "x4", "text": "短", "source": "books", "stage": "clean", "reason": "too_short"},
    ]
    _jsonl_gz(root / "dropped" / "v00002" / "dropped-00000-of-00001.jsonl.gz", dropped)
    quarantine = [
        {
            "stage": "read",
            "path": "in/b.jsonl",
            "offset": i,
            "reason": "bad_json",
            "error": "Expecting value",
            "sample": "{",
        }
        for i in range(3)
    ] + [
        {
            "stage": "read",
            "path": "in/b.jsonl",
            "offset": 9,
            "reason": "invalid_utf8",
            "error": "bad byte",
            "sample": None,
        }
    ]
    _jsonl_gz(root / "quarantine" / "v00002" / "quarantine-00000-of-00001.jsonl.gz", quarantine)
    all_docs = v1_train + v1_val + v2_train
    by_source: dict[str, list[int]] = {}
    by_lang: dict[str, list[int]] = {}
    for d in all_docs:
        for table, key in ((by_source, d["source"]), (by_lang, d["lang"] or "unknown")):
            row = table.setdefault(key, [0, 0, 0])
            row[0] += 1
            row[1] += len(d["tokens"])
            row[2] += d["num_bytes"]
    return {
        "docs": all_docs,
        "by_source": by_source,
        "by_lang": by_lang,
        "versions": [
            (1, 25, sum(s.num_tokens for s in shards_v1)),
            (2, 40, sum(s.num_tokens for s in shards_v2)),
        ],
        "shards": {s.path: s.num_tokens for s in shards_v2},
    }


@pytest.fixture(scope="module")
def token_report(tmp_path_factory):
    """The dataset, reported once through the real command line (plots are the slow part)."""
    root = tmp_path_factory.mktemp("dataset")
    expected = build_token_dataset(root)
    out = root / "out" / "custom.html"
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.report", str(root), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return root, expected, proc, out, out.with_suffix(".json")


# -- pure functions ------------------------------------------------------------------------------
def test_length_distribution_merges_exactly_and_matches_numpy_quantiles():
    rng = np.random.default_rng(0)
    lengths = rng.lognormal(5, 1.5, size=5000).astype(np.int64)
    merged = report_data.LengthDist()
    for part in np.array_split(lengths, 7):
        merged = merged.merge(report_data.LengthDist.from_lengths(part))
    assert merged.n == len(lengths) and merged.total == int(lengths.sum())
    for q in report_data.QUANTILES:
        assert merged.quantile(q) == int(np.quantile(lengths, q, method="inverted_cdf"))
    hist = merged.log_histogram()
    edges, counts = np.array(hist["edges"]), np.array(hist["counts"])
    assert hist["zero"] + counts.sum() == len(lengths)
    positive = lengths[lengths > 0]
    assert edges[-1] > positive.max()  # every bin half-open, so numpy's closed last bin changes nothing
    assert np.array_equal(counts, np.histogram(positive, bins=edges)[0])
    assert edges[0] <= positive.min() < edges[1]


def test_duplicate_clusters_from_dropped_records_and_from_dedup_annotations(tmp_path, monkeypatch):
    recs = [
        {"id": f"d{i}", "stage": "dedup", "reason": "duplicate_exact", "duplicate_of": rep, "text": "x"}
        for i, rep in enumerate(["r1", "r1", "r1", "r2", "r3"])
    ]
    summary = report_data.summarise_dropped(
        [report_data._records_to_table(recs[:2]), report_data._records_to_table(recs[2:])]
    )
    assert summary["cluster_sizes"] == [
        {"size": 2, "clusters": 2, "documents": 4},
        {"size": 4, "clusters": 1, "documents": 4},
    ]
    assert [e["id"] for e in summary["examples"]["dedup/duplicate_exact"]] == ["d0", "d1", "d2"]
    # A file Arrow's JSON reader refuses (an integer id) is read line by line instead, with the same result.
    odd = [{"id": 7, "stage": "clean", "reason": "too_short", "text": "é", "meta": {"a": 1}}, *recs]
    _jsonl_gz(tmp_path / "odd.jsonl.gz", odd)
    _jsonl_gz(tmp_path / "plain.jsonl.gz", recs)
    both = report_data.summarise_dropped(report_data.read_dropped_tables([str(tmp_path / "odd.jsonl.gz")]))
    plain = report_data.summarise_dropped(report_data.read_dropped_tables([str(tmp_path / "plain.jsonl.gz")]))
    assert plain["cluster_sizes"] == both["cluster_sizes"] == summary["cluster_sizes"]
    assert both["by_reason"][-1] == {"stage": "clean", "reason": "too_short", "documents": 1, "bytes": 2}
    # ... also when the refused record comes after blocks already handed on: nothing is counted twice.
    late = [{"id": f"e{i:03d}", "stage": "clean", "reason": "too_short", "text": "t"} for i in range(60)]
    _jsonl_gz(
        tmp_path / "late.jsonl.gz", [*late, {"id": 1, "stage": "clean", "reason": "too_short", "text": "t"}]
    )
    monkeypatch.setattr(report_data, "JSON_BLOCK_BYTES", 512)
    late_summary = report_data.summarise_dropped(
        report_data.read_dropped_tables([str(tmp_path / "late.jsonl.gz")])
    )
    assert late_summary["documents"] == 61
    assert [e["id"] for e in late_summary["examples"]["clean/too_short"]] == ["1", "e000", "e001"]
    rows = report_data.clusters_from_annotations({"dedup_clusters": {"size_10": 1, "size_2": 7}})
    assert [(r["size"], r["clusters"]) for r in rows] == [(2, 7), (10, 1)]


# -- a token dataset with versions ------------------------------------------------------------------
@pytest.mark.slow
def test_report_numbers_match_shards_stats_and_manifests(token_report):
    _, expected, _, _, json_path = token_report
    rep = json.loads(json_path.read_text())
    tok = rep["tokens"]
    assert {r["name"]: [r["documents"], r["tokens"], r["bytes"]] for r in tok["by_source"]} == expected[
        "by_source"
    ]
    assert {r["name"]: [r["documents"], r["tokens"], r["bytes"]] for r in tok["by_lang"]} == expected[
        "by_lang"
    ]
    lengths = np.array([len(d["tokens"]) for d in expected["docs"]])
    assert tok["doc_length_tokens"]["p50"] == int(np.quantile(lengths, 0.5, method="inverted_cdf"))
    assert tok["doc_length_tokens"]["max"] == lengths.max() and tok["doc_length_tokens"]["documents"] == 40
    assert {s["path"]: s["tokens"] for s in tok["shards"]} == expected["shards"]
    assert rep["accounting"]["counts"] == STATS["counts"] and rep["accounting"]["balanced"]
    assert rep["duplicate_clusters"]["sizes"] == [
        {"size": 2, "clusters": 4, "documents": 8},
        {"size": 3, "clusters": 2, "documents": 6},
    ]
    assert rep["boilerplate"]["lines_removed"] == 9
    assert [x["line"] for x in rep["boilerplate"]["top_lines"]] == [x["line"] for x in TOP_LINES]
    assert [(v["version"], v["documents"], v["tokens"]) for v in rep["versions"]] == expected["versions"]
    assert rep["versions"][1]["new_documents"] == 15
    assert [r["records"] for r in rep["quarantine_records"]["by_reason"]] == [3, 1]
    assert all(c["ok"] for c in rep["checks"] if c["level"] == "error"), rep["checks"]
    assert any(c["check"].startswith("tokens/<split>") for c in rep["checks"])
    # --keep-dropped covered only some removals: a warning, not an error
    assert not next(c for c in rep["checks"] if c["check"].startswith("dropped records"))["ok"]


def test_html_has_every_plot_and_the_numbers_of_stats_json(token_report):
    _, expected, _, html_path, _ = token_report
    page = parse_page(html_path)
    want = {
        "tokens_by_source",
        "tokens_by_lang",
        "length_tokens",
        "length_bytes",
        "drop_reasons",
        "quarantine_reasons",
        "duplicate_cluster_sizes",
        "boilerplate_lines",
        "tokens_per_shard",
        "growth",
    }
    assert {k.removeprefix("plot-") for k in page.images} == want
    for png in page.images.values():
        assert_png(png)
    counts = STATS["counts"]
    acc = {(r[0], r[1]): int(r[2].replace(",", "")) for r in page.tables["accounting-counts"][1:]}
    assert acc[("input", "")] == counts["input"] and acc[("kept", "")] == counts["kept"]
    for bucket in ("dropped", "duplicates", "quarantined"):
        for reason, n in counts[bucket].items():
            assert acc[(bucket, reason)] == n
    assert column(page, "drop-reasons", 1, 2) == {**counts["dropped"], **counts["duplicates"]}
    assert column(page, "quarantine-reasons", 0, 1) == counts["quarantined"]
    assert column(page, "tokens-by-source", 0, 3) == {k: v[1] for k, v in expected["by_source"].items()}
    assert column(page, "duplicate-clusters", 0, 1) == {"2": 4, "3": 2}
    assert column(page, "boilerplate-lines", 1, 2) == {x["line"]: x["documents"] for x in TOP_LINES}
    assert [r[3] for r in page.tables["versions"][1:]] == ["25", "40"]
    # a token dataset has no document Parquet files; this one predates byte accounting
    assert set(page.skipped) == {"documents", "bytes"}
    assert "not recorded" in page.skipped["bytes"]


def test_cli_prints_a_summary_and_matches_the_in_process_numbers(token_report):
    root, _, proc, _, json_path = token_report
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(ln.split()[:2] == ["input", "35"] for ln in lines), proc.stdout
    assert any(ln.strip().startswith("token shards: 3") for ln in lines), proc.stdout
    from_cli = json.loads(json_path.read_text())
    in_process = json.loads(json.dumps(build_report(str(root))))
    for rep in (from_cli, in_process):
        rep.pop("generated_at"), rep.pop("plots", None)
    assert from_cli == in_process


def test_shard_that_disagrees_with_the_manifest_fails_the_report(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    docs = _docs(rng, "a", 4)
    info = _write_shard(tmp_path, "shards/train-00000-of-00001.arrow", docs, "train")
    wrong = ShardInfo(
        info.path, info.split, info.sha256, info.num_docs, info.num_tokens + 1, info.num_bytes, "uint16"
    )
    tok = TokenizerInfo("tokenizer.json", "0" * 64, 1000, {"<|endoftext|>": 0}, eos_id=0)
    (tmp_path / "manifest.json").write_text(
        Manifest(tok, [wrong], Counts(input=4, kept=4), created_at="x", code_version="t").to_json()
    )
    leftover = (
        tmp_path / "shards" / "v00002" / "train-00000-of-00001.arrow"
    )  # a killed run's uncommitted shard
    leftover.parent.mkdir()
    leftover.write_bytes(b"partial")
    rep = build_report(str(tmp_path))
    failed = {c["check"]: c for c in rep["checks"] if not c["ok"]}
    assert "num_tokens" in failed["shard contents match the manifest (documents, tokens, bytes)"]["detail"]
    assert failed["no shard files outside the manifest"]["level"] == "warning"
    assert len(failed) == 2 and rep["tokens"]["totals"]["documents"] == 4  # the leftover is not counted
    monkeypatch.setattr(report, "make_plots", lambda rep: {})  # the exit status is the point here, not plots
    assert report.main([str(tmp_path)]) == 1
    assert (tmp_path / "report.html").exists() and (tmp_path / "report.json").exists()


# -- a clean-stage output: documents + stats, no manifest ---------------------------------------------
def test_clean_stage_directory_reports_documents_and_skips_token_sections(tmp_path):
    docs = [
        {
            "id": f"d{i}",
            "text": ("中文" * (i + 1)) if i % 2 else "word " * (i + 1),
            "source": "web" if i < 4 else "books",
            "lang": "zh" if i % 2 else "en",
            "meta": {},
        }
        for i in range(7)
    ]
    (tmp_path / "documents").mkdir()
    pq.write_table(documents_to_table(docs), tmp_path / "documents" / "part-00000-of-00001.parquet")
    stats = {
        "stage": "clean",
        "finished_at": "2026-01-01T00:00:00Z",
        "balanced": True,
        "counts": {
            "input": 10,
            "kept": 7,
            "dropped": {"too_short": 2},
            "duplicates": {},
            "quarantined": {"bad_json": 1},
        },
        "annotations": {"pii": {"email": 3}},
    }
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    rep, html_path, _ = report.write_report(str(tmp_path))
    expected: dict[str, list[int]] = {}
    for d in docs:
        row = expected.setdefault(d["source"], [0, 0])
        row[0] += 1
        row[1] += len(d["text"].encode("utf-8"))
    assert {r["name"]: [r["documents"], r["bytes"]] for r in rep["documents"]["by_source"]} == expected
    assert rep["documents"]["doc_length_bytes"]["max"] == max(len(d["text"].encode()) for d in docs)
    assert rep["tokens"] is None and rep["versions"] == []
    page = parse_page(Path(html_path))
    assert set(page.skipped) == {
        "composition",
        "lengths",
        "shards",
        "duplicates",
        "boilerplate",
        "versions",
        "bytes",
    }
    assert "no token shards" in page.skipped["composition"]
    assert {k.removeprefix("plot-") for k in page.images} == {
        "documents_by_source",
        "documents_by_lang",
        "documents_length_bytes",
        "drop_reasons",
        "quarantine_reasons",
    }
    for png in page.images.values():
        assert_png(png)
    assert column(page, "documents-by-source", 0, 1) == {k: v[0] for k, v in expected.items()}
    assert column(page, "annotations", 1, 2) == {"email": 3}


def test_directory_without_any_output_is_an_error(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 2
    assert "holds no lmforge output" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


# -- bytes: stages, rules, sources, losses ------------------------------------------------------------
BYTES_ANNOTATIONS = {
    "bytes_clean": {"in": 10_000, "out": 6_000, "dropped": 2_500, "removed": 1_500},
    "bytes_clean_removed": {"html_markup": 1_000, "c4_line_no_terminal_punct": 400, "whitespace": 100},
    "bytes_clean_dropped": {"too_short": 500, "gopher_too_few_words": 2_000},
    "bytes_dedup_removed": {"boilerplate": 300},
    "bytes_dedup_dropped": {"duplicate_exact": 700, "duplicate_fuzzy": 200},
    "source_docs_in": {"web": 8, "书籍": 2},
    "source_docs_kept": {"web": 5, "书籍": 2},
    "source_bytes_in": {"web": 9_000, "书籍": 1_000},
    "source_bytes_kept": {"web": 5_100, "书籍": 900},
    "changes": {"fullwidth_ascii_chars": 12},
    "pii": {"email": 1},
}
LOSSES = [
    {
        "id": "d1",
        "source": "web",
        "bytes_in": 1000,
        "bytes_out": 100,
        "lost_fraction": 0.9,
        "removed": {"c4_line_no_terminal_punct": 850, "whitespace": 30, "normalize": 20},
        "excerpt": "what is left",
    },
    {
        "id": "d2",
        "source": "书籍",
        "bytes_in": 400,
        "bytes_out": 300,
        "lost_fraction": 0.25,
        "removed": {"pii_mask": 100},
        "excerpt": "剩下的",
    },
]


def _stats(stage: str, annotations: dict, kept: int = 7) -> dict:
    return {
        "stage": stage,
        "finished_at": "2026-01-01T00:00:00Z",
        "balanced": True,
        "counts": {
            "input": 10,
            "kept": kept,
            "dropped": {"too_short": 10 - kept},
            "duplicates": {},
            "quarantined": {},
        },
        "annotations": annotations,
    }


def _document_dir(root: Path, docs: list[dict]) -> None:
    (root / "documents").mkdir(parents=True)
    pq.write_table(documents_to_table(docs), root / "documents" / "part-00000-of-00001.parquet")


@pytest.mark.slow
def test_bytes_section_per_stage_rule_and_source_with_the_worst_losses(tmp_path):
    build_token_dataset(tmp_path)  # two committed versions; the last run's stats get byte accounting
    (tmp_path / "stats.json").write_text(
        json.dumps({**STATS, "annotations": BYTES_ANNOTATIONS}, ensure_ascii=False)
    )
    (tmp_path / "state" / "v00002" / "clean_losses.json").write_text(json.dumps(LOSSES, ensure_ascii=False))
    rep = build_report(str(tmp_path))
    b = rep["bytes"]
    clean, dedup = b["stages"]
    assert (clean["bytes_in"], clean["bytes_out"], clean["removed"], clean["dropped"]) == (
        10_000,
        6_000,
        1_500,
        2_500,
    )
    assert (dedup["bytes_in"], dedup["bytes_out"], dedup["removed"], dedup["dropped"]) == (
        6_000,
        4_800,
        300,
        900,
    )
    assert dedup["out_share_of_input"] == 0.48 and b["output_bytes"] == 4_800
    rules = {(r["stage"], r["rule"]): r for r in b["rules"]}
    assert rules[("clean", "html_markup")]["share_of_input"] == 0.1
    assert rules[("dedup", "duplicate_exact")]["share_of_stage_input"] == round(700 / 6000, 6)
    assert rules[("clean", "too_short")]["how"] == "dropped documents"
    src = {r["name"]: r for r in b["sources"]}
    assert src["web"]["bytes_kept_share"] == round(5100 / 9000, 6) and src["书籍"]["docs_kept_share"] == 1.0
    assert b["changes"] == {"fullwidth_ascii_chars": 12}
    losses = rep["clean_losses"]
    assert losses["source"] == "state/v00002/clean_losses.json"
    assert losses["documents"][0]["retained"] == pytest.approx(0.1)
    assert losses["documents"][0]["top_rules"] == [
        ["c4_line_no_terminal_punct", 850],
        ["whitespace", 30],
        ["normalize", 20],
    ] or losses["documents"][0]["top_rules"] == [
        ("c4_line_no_terminal_punct", 850),
        ("whitespace", 30),
        ("normalize", 20),
    ]

    _, html_path, _ = report.write_report(str(tmp_path))
    page = parse_page(Path(html_path))
    assert "bytes" not in page.skipped
    stages = {r[0]: r for r in page.tables["bytes-stages"][1:]}
    assert stages["clean"][1:3] == ["10,000", "6,000"] and stages["dedup"][6] == "48.00%"
    assert column(page, "bytes-sources", 0, 4) == {"web": 9000, "书籍": 1000}
    assert page.tables["clean-losses"][1][:5] == ["d1", "web", "1,000", "100", "10.00%"]
    assert "c4_line_no_terminal_punct 850" in page.tables["clean-losses"][1][5]
    assert column(page, "annotations", 1, 2) == {"email": 1}  # byte groups live in the Bytes section
    assert_png(page.images["plot-bytes_kept_by_source"])


def test_a_dedup_output_counts_its_input_from_its_documents(tmp_path):
    docs = [{"id": f"d{i}", "text": "x" * 100, "source": "web", "lang": "en", "meta": {}} for i in range(3)]
    _document_dir(tmp_path, docs)
    ann = {k: BYTES_ANNOTATIONS[k] for k in ("bytes_dedup_removed", "bytes_dedup_dropped")}
    (tmp_path / "stats.json").write_text(json.dumps(_stats("dedup", ann, kept=3)))
    b = build_report(str(tmp_path))["bytes"]
    assert [(s["stage"], s["bytes_in"], s["bytes_out"]) for s in b["stages"]] == [
        ("dedup", 300 + 300 + 900, 300)
    ]
    assert b["sources"] == []


def test_records_of_prepare_versions_under_state_are_reported(tmp_path):
    build_token_dataset(tmp_path)
    for kind in ("dropped", "quarantine"):  # where prepare really writes them
        (tmp_path / "state" / "v00002" / kind).mkdir(parents=True)
        (tmp_path / kind / "v00002").rename(tmp_path / "state" / "v00002" / kind / "x")
        (tmp_path / kind).rmdir()
    rep = build_report(str(tmp_path))
    assert rep["dropped_records"]["documents"] == 4 and rep["quarantine_records"]["records"] == 4
    assert "dedup/duplicate_exact" in rep["dropped_records"]["examples"]
    from pipelines.report.html import render_html

    html = render_html(rep, {})
    assert "run with --keep-dropped" not in html and "Examples (smallest ids)" in html


# -- what-if ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    """A clean-stage directory made by the real clean rules (no Beam): documents with meta.quality, dropped/."""
    from pipelines.clean.cleaner import Cleaner, clean_chunk
    from pipelines.clean.config import CleanConfig
    from pipelines.stage.accounting import dropped_record

    sample = REPO / "data" / "sample" / "raw" / "jsonl"
    raw = []
    for name, n in (("kjv-old-testament.jsonl.gz", 60), ("fortunes-zh.jsonl.gz", 60), ("junk.jsonl.gz", 10)):
        with gzip.open(sample / name, "rt", encoding="utf-8") as f:
            for line in list(f)[:n]:
                rec = json.loads(line)
                raw.append(
                    {
                        "id": rec["id"],
                        "text": rec["text"],
                        "source": name.split(".")[0],
                        "url": None,
                        "meta": {},
                    }
                )
    # A strict recorded threshold, so that some drops can be undone by a what-if.
    config = CleanConfig(thresholds={"default": {"min_words": 400}})
    kept, dropped, _ = clean_chunk(raw, Cleaner(config))
    root = tmp_path_factory.mktemp("cleaned")
    _document_dir(root, kept)
    _jsonl_gz(
        root / "dropped" / "dropped-00000-of-00001.jsonl.gz",
        [dropped_record("clean", doc, reason, quality=scores) for doc, reason, scores in dropped],
    )
    stats = _stats("clean", {}, kept=len(kept)) | {"config": {"clean": dataclasses.asdict(config)}}
    (root / "stats.json").write_text(json.dumps(stats))
    return root, kept, dropped


def test_what_if_counts_what_new_thresholds_would_drop_per_source_and_reason(cleaned):
    root, kept, _ = cleaned
    scores = [(d, json.loads(json.dumps(d["meta"]))["quality"]) for d in kept]
    en = [(d, q) for d, q in scores if d["lang"] == "en"]
    cut = sorted(q["words"] for _, q in en)[len(en) // 2]  # about half of the English documents
    result = what_if(str(root), [f"clean.thresholds.en.min_words={cut}"])
    want = [d for d, q in en if q["words"] < cut]
    wd = result["kept"]["would_drop"]
    assert result["kept"]["documents"] == len(kept) and result["kept"]["not_reproduced"] == 0
    assert wd["documents"] == len(want) > 0
    assert wd["bytes"] == sum(len(d["text"].encode()) for d in want)
    assert {r["name"]: r["documents"] for r in wd["by_reason"]} == {"gopher_too_few_words": len(want)}
    by_source: dict[str, int] = {}
    for d in want:
        by_source[d["source"]] = by_source.get(d["source"], 0) + 1
    assert {r["name"]: r["documents"] for r in wd["by_source"]} == by_source
    # unchanged thresholds drop nothing: the measures reproduce the clean stage's decisions
    same = what_if(str(root), ["clean.thresholds.en.min_words=400"])
    assert same["kept"]["would_drop"]["documents"] == 0
    assert same["base"]["thresholds"] == {"default": {"min_words": 400}}  # from stats.json


def test_what_if_tells_which_dropped_documents_would_now_be_kept(cleaned, capsys):
    root, _, dropped = cleaned
    few_words = [d for d, reason, _ in dropped if reason == "gopher_too_few_words"]
    assert few_words
    result = what_if(str(root), ["clean.thresholds.default.min_words=50"])
    wk = result["dropped"]["would_keep"]
    assert result["dropped"]["documents"] == len(dropped)
    assert 0 < wk["documents"] <= len(few_words)
    assert {r["name"] for r in wk["by_reason"]} == {"gopher_too_few_words"}
    assert report.main([str(root), "--what-if", "clean.thresholds.default.min_words=50"]) == 0
    out = capsys.readouterr().out
    assert f"would now be kept: {wk['documents']:,}" in out and "by old reason" in out
    assert not (root / "report.html").exists()  # --what-if writes nothing


def test_what_if_on_a_token_dataset_says_it_needs_documents(tmp_path, capsys):
    build_token_dataset(tmp_path)
    assert report.main([str(tmp_path), "--what-if", "clean.thresholds.en.min_words=100"]) == 2
    out = capsys.readouterr().out
    assert "needs the kept documents' measures" in out and "python -m pipelines.clean" in out
    assert report.main([str(tmp_path), "--what-if", "min_words=100"]) == 2
    assert "clean.thresholds.LANG.KEY=VALUE" in capsys.readouterr().err


def test_the_duckdb_query_of_the_help_runs_on_documents(cleaned):
    import duckdb

    root, kept, _ = cleaned
    assert report.DUCKDB_QUERY in report.build_parser().epilog
    rows = duckdb.sql(report.DUCKDB_QUERY.replace("DIR", str(root))).fetchall()
    docs = {}
    for d in kept:
        docs[d["source"]] = docs.get(d["source"], 0) + 1
    assert {r[0]: r[1] for r in rows} == docs
    under = {r[0]: r[4] for r in rows}
    for source in docs:
        assert under[source] == sum(
            1 for d in kept if d["source"] == source and d["meta"]["quality"]["words"] < 100
        )


# -- CJK in plots -------------------------------------------------------------------------------------------
def test_plots_draw_chinese_with_a_packaged_cjk_font():
    import warnings

    from lmcore.report.fonts import register_packaged_cjk_font
    from pipelines.report import plots as rp

    assert register_packaged_cjk_font() is not None  # noto-cjk-sans-otc, a [pipelines] dependency
    assert rp.label("版权所有 不得转载") == "版权所有 不得转载"  # not "????"
    fig, ax = rp._subplots()
    ax.set_title("每个来源保留的字节")
    ax.barh(["新闻网站", "web"], [1, 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing[:3]

"""Readers: every input format, and every kind of bad input ends in quarantine, never a crash."""

from __future__ import annotations

import gzip
import io
import json

import apache_beam as beam
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from pipelines.io.config import ReadConfig
from pipelines.io.documents import documents_to_parquet_bytes
from pipelines.io.file_reader import FileReader
from pipelines.io.lines import read_bounded_lines
from pipelines.io.readers import ReadDocuments
from pipelines.io.records import Quarantine
from pipelines.io.registry import detect_format
from pipelines.stage.accounting import SumCounts
from pipelines.stage.runner import make_pipeline
from tests.hostile.inputs import document_parquet_rule_breakers, warc_bytes


def read_all(path, **cfg) -> tuple[list[dict], list[dict]]:
    """(documents, quarantine records) of one file."""
    docs, bad = [], []
    for item in FileReader(ReadConfig(**cfg)).records(str(path)):
        if isinstance(item, Quarantine):
            bad.append(item.as_record())
        else:
            docs.append(item)
    return docs, bad


def jsonl(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


# -- formats ---------------------------------------------------------------------------------
def test_detect_format_by_extension():
    assert detect_format("s3://b/x/a.jsonl.gz") == ("jsonl", "gzip")
    assert detect_format("/d/a.json.zst") == ("jsonl", "zstd")
    assert detect_format("a.warc.gz") == ("warc", "gzip")
    assert detect_format("page.HTML") == ("html", None)
    assert detect_format("README") == (None, None)


def test_jsonl_plain_gzip_zstd_and_custom_fields(tmp_path):
    recs = [{"content": f"text {i}", "doc_id": i, "link": f"https://e.org/{i}"} for i in range(3)]
    (tmp_path / "a.jsonl").write_bytes(jsonl(recs))
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(jsonl(recs)))
    (tmp_path / "c.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(jsonl(recs)))
    for name in ("a.jsonl", "b.jsonl.gz", "c.jsonl.zst"):
        docs, bad = read_all(tmp_path / name, text_field="content", id_field="doc_id", url_field="link")
        assert bad == []
        assert [(d["id"], d["text"], d["url"]) for d in docs] == [
            (str(i), f"text {i}", f"https://e.org/{i}") for i in range(3)
        ]
        assert {d["source"] for d in docs} == {name.split(".")[0]}


def test_missing_id_gets_stable_derived_id(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(jsonl([{"text": "x"}, {"text": "y"}]))
    first, _ = read_all(tmp_path / "a.jsonl")
    again, _ = read_all(tmp_path / "a.jsonl")
    assert [d["id"] for d in first] == [d["id"] for d in again]
    assert len({d["id"] for d in first}) == 2


def test_parquet_generic_table_and_document_round_trip(tmp_path):
    pq.write_table(pa.table({"text": ["a", "b"], "id": ["x", "y"]}), tmp_path / "t.parquet")
    docs, bad = read_all(tmp_path / "t.parquet")
    assert bad == [] and [(d["id"], d["text"]) for d in docs] == [("x", "a"), ("y", "b")]

    original = [
        {"id": "d1", "text": "hello", "source": "web", "url": "https://e.org", "lang": "en",
         "lang_score": 0.5, "meta": {"pii": {"email": 1}, "content_type": "text/plain"}},
        {"id": "d2", "text": "你好", "source": "web", "url": None, "lang": "zh", "lang_score": 0.75, "meta": {}},
    ]  # fmt: skip
    (tmp_path / "part-00000-of-00001.parquet").write_bytes(documents_to_parquet_bytes(original))
    docs, bad = read_all(tmp_path / "part-00000-of-00001.parquet")
    assert bad == []
    assert docs == original  # ids, lang, meta survive a clean -> dedup/tokenize hand-over


def test_document_parquet_rows_that_break_the_rules_take_the_checked_path(tmp_path):
    (tmp_path / "d.parquet").write_bytes(document_parquet_rule_breakers())
    docs, bad = read_all(tmp_path / "d.parquet", max_doc_bytes=50)
    assert (
        [d["text"] for d in docs] == ["fine", "no id"] and docs[0]["id"] == "ok" and docs[1]["id"]
    )  # derived
    assert sorted(b["reason"] for b in bad) == ["too_large"] + ["wrong_type"] * 3  # size; meta, source, score


def test_text_per_file_and_per_paragraph(tmp_path):
    (tmp_path / "a.txt").write_text("First para.\n\nSecond para.\n\n\n", encoding="utf-8")
    docs, _ = read_all(tmp_path / "a.txt")
    assert [d["text"] for d in docs] == ["First para.\n\nSecond para.\n\n\n"]
    docs, _ = read_all(tmp_path / "a.txt", text_mode="paragraph")
    assert [d["text"] for d in docs] == ["First para.", "Second para."]


def test_html_and_warc_give_raw_html_marked_for_extraction(tmp_path):
    (tmp_path / "p.html").write_text("<html><body><p>Hi</p></body></html>", encoding="utf-8")
    docs, _ = read_all(tmp_path / "p.html")
    assert docs[0]["meta"] == {"content_type": "text/html"} and "<p>Hi</p>" in docs[0]["text"]

    data = warc_bytes(
        [("request", "", b""), ("response", "text/html; charset=utf-8", b"<p>one</p>"),
         ("response", "image/png", b"\x89PNG..."), ("response", "text/html", b"<p>two</p>")]
    )  # fmt: skip
    (tmp_path / "c.warc.gz").write_bytes(data)
    docs, bad = read_all(tmp_path / "c.warc.gz")
    assert [d["text"] for d in docs] == ["<p>one</p>", "<p>two</p>"]
    assert docs[0]["url"] == "https://example.org/1" and docs[0]["id"].startswith("<urn:uuid:")
    assert all(d["meta"]["content_type"] == "text/html" for d in docs)
    assert [b["reason"] for b in bad] == ["not_text"]  # the image: accounted, not silently skipped


def test_fsspec_memory_urls():
    fs = fsspec.filesystem("memory")
    fs.pipe("/readers/m.jsonl.gz", gzip.compress(jsonl([{"text": "in memory"}])))
    docs, bad = read_all("memory:///readers/m.jsonl.gz")
    assert bad == [] and docs[0]["text"] == "in memory"


# -- bad input: one test per case -----------------------------------------------------------------
def test_broken_json_line_is_quarantined_and_reading_goes_on(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "ok 1"}\n{"text": "broken\n{"text": "ok 2"}\n')
    docs, bad = read_all(tmp_path / "a.jsonl")
    assert [d["text"] for d in docs] == ["ok 1", "ok 2"]
    assert len(bad) == 1
    assert bad[0]["reason"] == "bad_json" and bad[0]["offset"] == len(b'{"text": "ok 1"}\n')
    assert bad[0]["stage"] == "read" and bad[0]["path"].endswith("a.jsonl") and "JSON" in bad[0]["error"]
    assert bad[0]["sample"].startswith('{"text": "broken')


def test_invalid_utf8_is_quarantined(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9 \xff"}\n{"text": "ok too"}\n')
    docs, bad = read_all(tmp_path / "a.jsonl")
    assert [d["text"] for d in docs] == ["ok", "ok too"]
    assert [b["reason"] for b in bad] == ["invalid_utf8"] and bad[0]["offset"] == 15


def test_truncated_gzip_keeps_what_was_read_and_quarantines_the_rest(tmp_path):
    data = gzip.compress(jsonl([{"text": f"doc {i} " + "x" * 200} for i in range(500)]))
    (tmp_path / "a.jsonl.gz").write_bytes(data[: len(data) // 2])
    docs, bad = read_all(tmp_path / "a.jsonl.gz")
    assert 0 < len(docs) < 500
    assert [b["reason"] for b in bad] == ["truncated_file"]
    assert bad[0]["offset"] > 0 and "EOFError" in bad[0]["error"]


def test_huge_single_line_is_skipped_in_bounded_pieces(tmp_path):
    limit = 64 * 1024
    huge = b'{"text": "' + b"a" * (20 * limit) + b'"}\n'
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "before"}\n' + huge + b'{"text": "after"}\n')
    docs, bad = read_all(tmp_path / "a.jsonl", max_line_bytes=limit)
    assert [d["text"] for d in docs] == ["before", "after"]
    assert [b["reason"] for b in bad] == ["line_too_long"] and bad[0]["offset"] == 19

    class Spy(io.BytesIO):
        biggest = 0

        def readline(self, size=-1):
            line = super().readline(size)
            Spy.biggest = max(Spy.biggest, len(line))
            return line

    lines = list(read_bounded_lines(Spy(huge + b"x\n"), limit))
    assert lines == [(0, None), (len(huge), b"x\n")]
    assert Spy.biggest <= 1 << 20  # never the whole 1.3 MB line in memory at once


def test_empty_file_is_quarantined(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "blank.txt").write_text("  \n\n")
    for name in ("empty.jsonl", "blank.txt"):
        docs, bad = read_all(tmp_path / name)
        assert docs == [] and [b["reason"] for b in bad] == ["empty_file"]


def test_wrong_field_types_are_quarantined(tmp_path):
    recs = [
        {"text": 12345},
        {"body": "no text"},
        [1, 2],
        {"text": "ok", "id": {"x": 1}},
        {"text": "fine", "id": 7},
    ]
    (tmp_path / "a.jsonl").write_bytes(jsonl(recs))
    docs, bad = read_all(tmp_path / "a.jsonl")
    assert [(d["id"], d["text"]) for d in docs] == [("7", "fine")]
    assert [b["reason"] for b in bad] == ["wrong_type", "missing_text", "wrong_type", "wrong_type"]
    assert "int" in bad[0]["error"]


def test_binary_garbage_in_warc(tmp_path):
    good = ("response", "text/html", b"<p>good</p>")
    binary = ("response", "text/html", b"\x00\x01\x02\xff" * 100)
    (tmp_path / "a.warc.gz").write_bytes(warc_bytes([good, binary, good]))
    docs, bad = read_all(tmp_path / "a.warc.gz")
    assert len(docs) == 2 and [b["reason"] for b in bad] == ["binary_content"]

    # Garbage bytes where the next record should start: records before it are kept.
    (tmp_path / "b.warc").write_bytes(warc_bytes([good], gz=False) + b"\x00garbage\xff" * 50)
    docs, bad = read_all(tmp_path / "b.warc")
    assert len(docs) == 1 and [b["reason"] for b in bad] == ["corrupt_file"]


def test_oversized_document_and_unknown_format(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(jsonl([{"text": "y" * 5000}, {"text": "small"}]))
    docs, bad = read_all(tmp_path / "a.jsonl", max_doc_bytes=1000)
    assert [d["text"] for d in docs] == ["small"] and [b["reason"] for b in bad] == ["too_large"]
    (tmp_path / "x.bin").write_bytes(b"\x00")
    assert [b["reason"] for b in read_all(tmp_path / "x.bin")[1]] == ["unsupported_format"]


# -- Beam wiring ------------------------------------------------------------------------------------
def test_read_documents_chunks_and_counts(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(jsonl([{"text": f"d{i}", "id": i} for i in range(5)]) + b"not json\n")
    (tmp_path / "b.txt").write_text("one document")
    with make_pipeline(PipelineOptions([])) as p:
        out = p | ReadDocuments([str(tmp_path)], ReadConfig(chunk_docs=2))
        sizes = out.docs | beam.Map(lambda kv: (kv[0].split("-")[1], len(kv[1])))
        assert_that(
            sizes, equal_to([("000000", 2), ("000001", 2), ("000002", 1), ("000000", 1)]), label="chunks"
        )
        total = out.counts | beam.CombineGlobally(SumCounts())
        assert_that(total, equal_to([{"input": 7, "quarantined/bad_json": 1}]), label="counts")


@pytest.mark.parametrize("name", ["a.jsonl"])
def test_chunk_keys_are_deterministic(tmp_path, name):
    from lmcore.storage import expand_inputs
    from pipelines.io.readers import ReadFileFn

    (tmp_path / name).write_bytes(jsonl([{"text": f"d{i}"} for i in range(3)]))
    fn = ReadFileFn(ReadConfig(chunk_docs=2))
    fn.setup()
    (file,) = expand_inputs([str(tmp_path / name)])
    keys = [[o for o in fn.process(file) if isinstance(o, tuple)] for _ in range(2)]
    assert [k for k, _ in keys[0]] == [k for k, _ in keys[1]] and len(keys[0]) == 2


def incompressible_records(n: int) -> bytes:
    import random

    rng = random.Random(0)
    return jsonl([{"text": "".join(rng.choice("abcdefghij ") for _ in range(300))} for _ in range(n)])


def test_truncated_zstd_is_quarantined_as_truncated(tmp_path):
    data = zstandard.ZstdCompressor().compress(incompressible_records(1000))
    (tmp_path / "a.jsonl.zst").write_bytes(data[: len(data) // 2])
    docs, bad = read_all(tmp_path / "a.jsonl.zst")
    assert 0 < len(docs) < 1000
    assert [b["reason"] for b in bad] == ["truncated_file"]


def test_corrupt_parquet_is_quarantined(tmp_path):
    buf = io.BytesIO()
    table = pa.table(
        {"text": [r["text"] for r in map(json.loads, incompressible_records(3000).splitlines())]}
    )
    pq.write_table(table, buf, row_group_size=500, compression="none")
    data = bytearray(buf.getvalue())
    data[200_000:300_000] = b"\xab" * 100_000
    (tmp_path / "a.parquet").write_bytes(bytes(data))
    (tmp_path / "b.parquet").write_bytes(bytes(data[:1000]))
    docs, bad = read_all(tmp_path / "a.parquet")
    # one damaged row group of six: its rows are one quarantine record, the other 2,500 are read
    assert len(docs) == 2500 and [b["reason"] for b in bad] == ["corrupt_row_group"]
    assert "row group" in bad[0]["error"] and bad[0]["offset"] % 500 == 0
    assert [b["reason"] for b in read_all(tmp_path / "b.parquet")[1]] == ["corrupt_file"]


def test_meta_with_a_lone_surrogate_is_quarantined():
    from pipelines.io.formats.parquet import parse_meta
    from pipelines.io.records import Quarantined

    assert parse_meta('{"a": "\\ud83d\\ude00"}') == {"a": "😀"}
    with pytest.raises(Quarantined) as info:
        parse_meta('{"a": "\\ud800"}')
    assert info.value.reason == "lone_surrogate"


# -- unique ids ------------------------------------------------------------------------------------
def test_colliding_ids_are_qualified_deterministically_the_first_holder_keeps_its_id():
    from pipelines.io.ids import chunk_id_batches, colliding_positions, rename_chunk, rename_table

    a = ("aaaa-000000", [{"id": "1", "text": "x"}, {"id": "2", "text": "y"}])
    b = ("bbbb-000000", [{"id": "2", "text": "z"}, {"id": "3", "text": "w"}, {"id": "2", "text": "v"}])
    batches = [batch for chunk in (b, a) for _, batch in chunk_id_batches(chunk, shards=1)]
    table = rename_table([colliding_positions(batches)])
    assert table == {"bbbb-000000": frozenset({0, 2})}  # "2" stays with the smallest (key, position)
    (_, docs), n = rename_chunk(b, table)
    assert n == 2 and [d["id"] for d in docs] == ["2#dup-bbbb-000000-0", "3", "2#dup-bbbb-000000-2"]
    assert rename_chunk(a, table) == (a, 0)
    assert colliding_positions([batch for _, batch in chunk_id_batches(a, shards=4)]) == []


def test_ids_of_earlier_versions_are_reserved(tmp_path):
    from pipelines.io.ids import RESERVED_KEY, chunk_id_batches, colliding_positions, id_hash

    new = ("cccc-000000", [{"id": "old-1", "text": "new text"}])
    reserved = (np.array([id_hash("old-1")], np.uint64), RESERVED_KEY, np.array([-1]))
    found = colliding_positions([reserved, *(b for _, b in chunk_id_batches(new, shards=1))])
    assert found == [("cccc-000000", 0)]

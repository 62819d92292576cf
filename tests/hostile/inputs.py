"""Builders of hostile input files (small, deterministic bytes; nothing large is committed).

Each builder returns the bytes of one file. ``scripts/make_hostile_cases.py`` writes them
into a directory; the cases in ``cases_pipeline.py`` write them into their own tmp dirs.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import random
import zlib

SAMPLE_SENTENCES = [
    "In the beginning God created the heaven and the earth, and the earth was without form.",
    "And the Spirit of God moved upon the face of the waters, and there was light upon it all.",
    "The quick brown fox jumps over the lazy dog while the farmer watches from the old barn door.",
    "A journey of a thousand miles begins with a single step, as the old saying tells us again.",
]


def prose(i: int, words: int = 60) -> str:
    """A deterministic paragraph of plain English prose (passes the clean stage's rules)."""
    rng = random.Random(i)
    parts = [rng.choice(SAMPLE_SENTENCES) for _ in range(max(1, words // 15))]
    return f"Record {i} says this. " + " ".join(parts)


def jsonl(records: list) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


def good_records(n: int, start: int = 0, with_ids: bool = True) -> list[dict]:
    return [({"id": str(i)} if with_ids else {}) | {"text": prose(i)} for i in range(start, start + n)]


def noise_records(n: int, seed: int = 0) -> bytes:
    """JSONL of incompressible texts (so a cut compressed file still holds whole records)."""
    rng = random.Random(seed)
    return jsonl([{"text": "".join(rng.choice("abcdefghij ") for _ in range(300))} for _ in range(n)])


# -- JSON ---------------------------------------------------------------------------------------
def lone_surrogate_jsonl() -> bytes:
    return b'{"text": "ok one"}\n{"text": "bad \\ud800 here"}\n{"text": "pair \\ud83d\\ude00 ok"}\n'


def lone_surrogate_id_jsonl() -> bytes:
    return b'{"id": "x\\udc00", "text": "text"}\n{"id": "y", "text": "text"}\n'


def deep_json_jsonl(depth: int = 100_000) -> bytes:
    return b'{"text": "before"}\n' + b"[" * depth + b"]" * depth + b'\n{"text": "after"}\n'


def utf16_jsonl(bom: bool = True) -> bytes:
    text = jsonl([{"text": f"record {i} é 中"} for i in range(3)]).decode()
    return text.encode("utf-16") if bom else text.encode("utf-16-le")


def utf8_bom_jsonl() -> bytes:
    return codecs.BOM_UTF8 + jsonl([{"text": f"record {i}"} for i in range(3)])


def broken_json_line() -> bytes:
    return b'{"text": "ok 1"}\n{"text": "broken\n{"text": "ok 2"}\n'


def invalid_utf8_line() -> bytes:
    return b'{"text": "ok"}\n{"text": "caf\xe9 \xff"}\n{"text": "ok too"}\n'


def huge_line(limit: int) -> bytes:
    return b'{"text": "before"}\n{"text": "' + b"a" * (4 * limit) + b'"}\n{"text": "after"}\n'


def wrong_types() -> bytes:
    recs = [
        {"text": 12345},
        {"body": "no text"},
        [1, 2],
        {"text": "ok", "id": {"x": 1}},
        {"text": "fine", "id": 7},
    ]
    return jsonl(recs)


def oversized_doc(limit: int) -> bytes:
    return jsonl([{"text": "y" * (5 * limit)}, {"text": "small"}])


# -- compression ----------------------------------------------------------------------------------
def gzip_trailing_garbage() -> bytes:
    return gzip.compress(jsonl([{"text": f"record {i}"} for i in range(10)]), mtime=0) + b"garbage!" * 4


def gzip_multi_member() -> bytes:
    one = gzip.compress(jsonl([{"text": f"a {i}"} for i in range(10)]), mtime=0)
    two = gzip.compress(jsonl([{"text": f"b {i}"} for i in range(10)]), mtime=0)
    return one + two + b"\x00" * 8


def gzip_truncated() -> bytes:
    data = gzip.compress(noise_records(500), mtime=0)
    return data[: len(data) // 2]


def zstd_truncated(fraction: float) -> bytes:
    import zstandard

    data = zstandard.ZstdCompressor().compress(noise_records(1000, seed=1))
    return data[: max(12, int(len(data) * fraction))]


def complete_lines_gzip(data: bytes) -> int:
    """Oracle: whole lines in what zlib can decompress of a cut gzip file."""
    return zlib.decompressobj(wbits=31).decompress(data).count(b"\n")


def complete_lines_zstd(data: bytes) -> int:
    import zstandard

    try:
        out = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except zstandard.ZstdError:
        return 0
    return out.count(b"\n")


# -- Parquet --------------------------------------------------------------------------------------
def parquet_bytes(texts: list[str], row_group_size: int | None = None, compression: str = "snappy") -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"text": texts}), buf, row_group_size=row_group_size, compression=compression)
    return buf.getvalue()


def parquet_one_bad_row_group() -> bytes:
    """200 rows in 10 row groups; 64 bytes in the middle of one group's pages overwritten."""
    import pyarrow.parquet as pq

    rng = random.Random(1)
    texts = ["".join(rng.choice("abcdefgh ") for _ in range(200)) for _ in range(200)]
    data = bytearray(parquet_bytes(texts, row_group_size=20))
    col = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(4).column(0)
    start = min(o for o in (col.dictionary_page_offset, col.data_page_offset) if o is not None)
    mid = start + col.total_compressed_size // 2
    data[mid : mid + 64] = b"\xff" * 64
    return bytes(data)


def parquet_gz() -> bytes:
    return gzip.compress(parquet_bytes(["a", "b"]), mtime=0)


def parquet_cut() -> bytes:
    return parquet_bytes(["x" * 100] * 50)[:300]


def document_parquet_rule_breakers() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import DOCUMENT_SCHEMA

    rows = {
        "id": ["ok", "", "big", "badmeta", "nosource", "nan"],
        "text": ["fine", "no id", "x" * 100, "text", "text", "text"],
        "source": ["s", "s", "s", "s", None, "s"],
        "url": [None] * 6,
        "lang": [None] * 6,
        "lang_score": [0.5, None, None, None, None, float("nan")],
        "meta": [None, None, None, "[1, 2]", None, None],
    }
    schema = pa.schema([f.with_nullable(True) for f in DOCUMENT_SCHEMA])
    buf = io.BytesIO()
    pq.write_table(pa.table(rows, schema=schema), buf)
    return buf.getvalue()


# -- HTML / WARC ------------------------------------------------------------------------------------
def nested_html(depth: int, closed: bool = True) -> bytes:
    body = "<div>" * depth + "<p>deep text</p>" + ("</div>" * depth if closed else "")
    return f"<html><body><p>{prose(1)}</p>{body}</body></html>".encode()


def gbk_html(declared: str = "gb2312") -> bytes:
    page = f'<html><head><meta charset="{declared}"><title>中文</title></head><body><p>中文内容测试，这是一个段落。</p></body></html>'
    return page.encode("gb18030")


def warc_bytes(records: list[tuple[str, str, bytes]], gz: bool = True) -> bytes:
    """A WARC file of (type, content-type, payload) ``response``/``request`` records."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=gz)
    for i, (rtype, ctype, payload) in enumerate(records):
        http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
        if rtype == "request":
            http = StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.org")], is_http_request=True)
        rec = writer.create_warc_record(
            f"https://example.org/{i}", rtype, payload=io.BytesIO(payload), http_headers=http
        )
        writer.write_record(rec)
    return buf.getvalue()


def warc_truncated(gz: bool) -> bytes:
    data = warc_bytes(
        [("response", "text/html", b"<p>one</p>" * 50), ("response", "text/html", b"<p>two</p>" * 50)], gz
    )
    return data[: len(data) - 100]


def warc_gbk() -> bytes:
    return warc_bytes([("response", "text/html; charset=gb2312", "<p>中文内容测试</p>".encode("gb18030"))])


def warc_mixed() -> bytes:
    return warc_bytes(
        [("request", "", b""), ("response", "text/html; charset=utf-8", b"<p>one</p>"),
         ("response", "image/png", b"\x89PNG..."), ("response", "text/html", b"<p>two</p>")]
    )  # fmt: skip


def warc_binary_payload() -> bytes:
    good = ("response", "text/html", b"<p>good</p>")
    return warc_bytes([good, ("response", "text/html", b"\x00\x01\x02\xff" * 100), good])


def warc_garbage_after() -> bytes:
    return warc_bytes([("response", "text/html", b"<p>good</p>")], gz=False) + b"\x00garbage\xff" * 50

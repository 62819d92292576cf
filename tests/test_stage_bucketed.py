"""``WriteBucketed`` and ``emit_counts``: deterministic bucketed files, counting in one call."""

from __future__ import annotations

import gzip
import json
import zlib

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.stage.bucketed import WriteBucketed, bucket_of
from pipelines.stage.counting import COUNTS, emit_counts
from pipelines.stage.jsonl import WriteJsonl


def _run(build) -> None:
    with beam.Pipeline(options=PipelineOptions(["--direct_num_workers=1"])) as p:
        build(p)


def _lines(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r, sort_keys=True).encode() + b"\n" for r in records)


def _write_records(tmp_path, records: list[dict], **kw) -> dict[str, bytes]:
    out = tmp_path / "out"

    def build(p):
        _ = (
            p
            | beam.Create(records)
            | WriteBucketed(
                key=lambda r: r["id"],
                sort_key=lambda r: r["id"],
                encode=_lines,
                path=lambda i, n: str(out / f"f-{i}-of-{n}.jsonl"),
                **kw,
            )
        )

    _run(build)
    return {f.name: f.read_bytes() for f in sorted(out.iterdir())} if out.exists() else {}


def test_files_do_not_depend_on_arrival_order(tmp_path):
    records = [{"id": f"d{i}", "v": i} for i in range(40)]
    one = _write_records(tmp_path / "a", records, num_files=3)
    two = _write_records(tmp_path / "b", records[::-1], num_files=3)
    assert one == two and len(one) == 3
    for name, data in one.items():
        ids = [json.loads(line)["id"] for line in data.splitlines()]
        assert ids == sorted(ids)
        assert {bucket_of(i, 3) for i in ids} == {int(name.split("-")[1])}


def test_empty_files_only_when_asked(tmp_path):
    records = [{"id": "only"}]
    assert len(_write_records(tmp_path / "a", records, num_files=4)) == 1
    written = _write_records(tmp_path / "b", records, num_files=4, write_empty=True)
    assert sorted(written) == [f"f-{i}-of-4.jsonl" for i in range(4)]
    assert sum(1 for data in written.values() if data) == 1


def test_batched_packed_with_num_files_as_side_input(tmp_path):
    chunks = [("c1", [{"id": "b"}, {"id": "a"}]), ("c2", [{"id": "c"}])]
    out = tmp_path / "out"

    def build(p):
        n = p | "N" >> beam.Create([2])
        _ = (
            p
            | beam.Create(chunks)
            | WriteBucketed(
                key=lambda r: r["id"],
                num_files=n,
                sort_key=lambda r: r["id"],
                batched=lambda chunk: chunk[1],
                pack=lambda recs: zlib.compress(json.dumps(recs).encode()),
                unpack=lambda part: json.loads(zlib.decompress(part)),
                encode=_lines,
                path=lambda i, n: str(out / f"part-{i}-of-{n}"),
            )
        )

    _run(build)
    ids = [json.loads(x)["id"] for f in sorted(out.iterdir()) for x in f.read_bytes().splitlines()]
    assert sorted(ids) == ["a", "b", "c"]


def test_write_jsonl_layout(tmp_path):
    prefix = str(tmp_path / "q" / "quarantine")
    recs = [{"k": "b"}, {"k": "a"}]
    _run(lambda p: p | beam.Create(recs) | WriteJsonl(prefix, 1, lambda r: r["k"]))
    data = gzip.decompress((tmp_path / "q" / "quarantine-00000-of-00001.jsonl.gz").read_bytes())
    assert [json.loads(x)["k"] for x in data.splitlines()] == ["a", "b"]


def test_emit_counts_yields_once_and_skips_empty():
    [out] = list(emit_counts("t", {"dropped/x": 2, "source_a": 1}, metric_skip=("source_",)))
    assert out.tag == COUNTS and out.value == {"dropped/x": 2, "source_a": 1}
    assert list(emit_counts("t", {})) == []

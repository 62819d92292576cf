"""The format registry and the typed records: formats are found by name, records told apart by type."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lmcore.storage import expand_inputs
from pipelines.io import registry
from pipelines.io.config import ReadConfig
from pipelines.io.file_reader import FileReader
from pipelines.io.formats.base import FileContext, Format
from pipelines.io.readers import ReadFileFn
from pipelines.io.records import Quarantine, Quarantined, Record
from pipelines.io.registry import detect_format
from pipelines.stage.accounting import QUARANTINE


def test_every_registered_suffix_selects_its_format():
    assert set(registry.FORMATS) == {"jsonl", "parquet", "text", "html", "warc", "csv", "tsv"}
    for name, spec in registry.FORMATS.items():
        assert spec.name == name
        for suffix in spec.suffixes:
            assert detect_format(f"a{suffix}") == (name, None)
            assert detect_format(f"a{suffix.upper()}.gz") == (name, "gzip")


def test_records_are_documents_or_quarantine_by_type(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "good"}\n{"text": \n')
    items = list(FileReader(ReadConfig()).records(str(tmp_path / "a.jsonl")))
    assert [type(i) for i in items] == [dict, Quarantine]
    bad = items[1]
    assert (bad.stage, bad.offset, bad.reason) == ("read", 17, "bad_json")
    assert list(bad.as_record()) == ["stage", "path", "offset", "reason", "error", "sample"]


def test_dict_view_keeps_quarantine_records_as_written(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b'"x"\n')
    (record,) = FileReader(ReadConfig(), stage="clean").read(str(tmp_path / "a.jsonl"))
    assert record == {
        "stage": "clean",
        "path": str(tmp_path / "a.jsonl"),
        "offset": 0,
        "reason": "wrong_type",
        "error": "record is a JSON str, not an object",
        "sample": '"x"\n',
    }


def _lines_of_csv(file: FileContext) -> Iterator[Record]:
    with open(file.path, "rb") as f:
        for index, line in enumerate(f):
            text = line.decode().strip()
            if text == "BAD":
                yield file.quarantine(index, Quarantined("bad_row", "a bad row"), line)
            else:
                yield file.document(index, text)


def test_a_new_format_is_one_registry_entry(tmp_path, monkeypatch):
    spec = Format("csvish", (".csvish",), _lines_of_csv)
    monkeypatch.setitem(registry.FORMATS, spec.name, spec)
    monkeypatch.setitem(registry.FORMAT_SUFFIXES, ".csvish", spec.name)
    (tmp_path / "a.csvish").write_text("one\nBAD\ntwo\n")
    docs, bad = [], []
    for item in FileReader(ReadConfig()).records(str(tmp_path / "a.csvish")):
        (bad if isinstance(item, Quarantine) else docs).append(item)
    assert [d["text"] for d in docs] == ["one", "two"] and [b.reason for b in bad] == ["bad_row"]


def test_an_unforeseen_error_in_a_format_is_a_read_error_after_the_records_read(tmp_path, monkeypatch):
    def breaks(file: FileContext) -> Iterator[Record]:
        yield file.document(0, "first")
        file.position = 42
        raise KeyError("boom")

    monkeypatch.setitem(registry.FORMATS, "jsonl", Format("jsonl", (".jsonl",), breaks))
    (tmp_path / "a.jsonl").write_text("")
    items = list(FileReader(ReadConfig()).read(str(tmp_path / "a.jsonl")))
    assert items[0]["text"] == "first"
    assert (items[1]["reason"], items[1]["offset"]) == ("read_error", 42)
    assert items[1]["error"] == "KeyError: 'boom'; records before this offset were read"


@pytest.mark.parametrize("text", ["reason", "a text with the word stage in it"])
def test_the_dofn_routes_by_type_not_by_keys(tmp_path, text):
    """A document whose own fields look like a quarantine record's is still a document."""
    rec = {"text": text, "id": "x", "reason": "r", "stage": "s"}
    (tmp_path / "a.jsonl").write_text(json.dumps(rec) + "\n{\n")
    fn = ReadFileFn(ReadConfig())
    fn.setup()
    (file,) = expand_inputs([str(tmp_path / "a.jsonl")])
    out = list(fn.process(file))
    chunks = [o for o in out if isinstance(o, tuple)]
    quarantined = [o.value for o in out if getattr(o, "tag", None) == QUARANTINE]
    assert [[d["text"] for d in docs] for _, docs in chunks] == [[text]]
    assert [q["reason"] for q in quarantined] == ["bad_json"] and all(type(q) is dict for q in quarantined)

"""Shared pipeline plumbing: inputs, atomic writes, config, deterministic document files, stats."""

from __future__ import annotations

import gzip
import json

import apache_beam as beam
import fsspec
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from lmcore import storage
from lmcore.config import ConfigError
from pipelines.config import PipelineConfig, load_pipeline_config
from pipelines.io.config import ReadConfig
from pipelines.io.documents import WriteDocuments, read_document_table
from pipelines.io.readers import ReadDocuments
from pipelines.stage.accounting import WriteStats
from pipelines.stage.runner import make_pipeline
from schemas import table_to_documents


def test_expand_inputs_sorted_and_recursive(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.jsonl").write_text("{}\n")
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / ".hidden").write_text("")
    files = storage.expand_inputs([str(tmp_path)])
    assert [f.path.rsplit("/", 2)[-1] for f in files] == ["a.jsonl", "x.jsonl"]
    assert all(f.size == 3 and f.mtime for f in files)


def test_expand_inputs_memory_filesystem_and_missing_pattern():
    fs = fsspec.filesystem("memory")
    fs.pipe("/in/one.jsonl", b"{}\n")
    files = storage.expand_inputs(["memory://in/*.jsonl"])
    assert [f.path for f in files] == ["memory:///in/one.jsonl"]
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        storage.expand_inputs(["memory://nothing-here/*.jsonl"])


def test_atomic_open_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "file.bin"
    with pytest.raises(RuntimeError), storage.atomic_open(str(target)) as f:
        f.write(b"partial")
        raise RuntimeError("crash while writing")
    assert not target.exists()
    assert list((tmp_path / "out").iterdir()) == []
    storage.atomic_write_bytes(str(target), b"whole")
    assert target.read_bytes() == b"whole"


def test_config_rejects_unknown_keys_and_wrong_types(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("read:\n  chunk_docs: 10\n")
    assert load_pipeline_config(str(cfg)).read.chunk_docs == 10
    cfg.write_text("read:\n  chunk_dcos: 10\n")
    with pytest.raises(ConfigError, match=r"config.read: unknown key\(s\) \['chunk_dcos'\]"):
        load_pipeline_config(str(cfg))
    cfg.write_text("read:\n  chunk_docs: many\n")
    with pytest.raises(ConfigError, match=r"config\.read\.chunk_docs: expected an integer"):
        load_pipeline_config(str(cfg))
    assert isinstance(load_pipeline_config(None), PipelineConfig)


def _write_jsonl_gz(path, lines):
    with gzip.open(path, "wb") as f:
        for line in lines:
            f.write((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n")


def _run_read_write(inputs, out, workers: int) -> None:
    flags = (
        [] if workers == 1 else ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    )
    with make_pipeline(PipelineOptions(flags)) as p:
        read = p | ReadDocuments(inputs, ReadConfig(chunk_docs=7))
        written = read.docs | WriteDocuments(out, target_file_bytes=2000)
        (
            (read.counts, written | beam.Map(lambda pn: {"kept": pn[1]}))
            | beam.Flatten()
            | WriteStats(out, "test", after=[written])
        )


@pytest.mark.slow
def test_read_write_documents_is_deterministic_and_accounted(tmp_path):
    src = tmp_path / "in.jsonl.gz"
    good = [{"id": f"doc{i:03d}", "text": f"document number {i} " * 5} for i in range(50)]
    _write_jsonl_gz(src, [*good[:25], b"{broken json", {"text": 7}, *good[25:]])
    outs = []
    for workers, name in [(1, "a"), (2, "b")]:
        out = tmp_path / name
        _run_read_write([str(src)], str(out), workers)
        outs.append(out)
    files_a = sorted(p.name for p in (outs[0] / "documents").iterdir())
    files_b = sorted(p.name for p in (outs[1] / "documents").iterdir())
    assert files_a == files_b and len(files_a) > 1
    for name in files_a:
        assert (outs[0] / "documents" / name).read_bytes() == (outs[1] / "documents" / name).read_bytes()
    ids = sorted(
        d["id"]
        for name in files_a
        for d in table_to_documents(read_document_table(str(outs[0] / "documents" / name)))
    )
    assert ids == [d["id"] for d in good]
    stats = json.loads((outs[0] / "stats.json").read_text())
    assert stats["balanced"] is True
    assert stats["counts"] == {
        "input": 52,
        "kept": 50,
        "dropped": {},
        "duplicates": {},
        "quarantined": {"bad_json": 1, "wrong_type": 1},
    }


@pytest.mark.parametrize(
    ("flags", "warned"),
    [
        (["--direct_running_mode=multi_threading", "--direct_num_workers=2"], True),
        (["--direct_running_mode=multi_processing", "--direct_num_workers=2"], False),
        ([], False),
    ],
)
def test_the_multi_threaded_local_mode_is_warned_about(flags, warned, caplog):
    from pipelines.stage.runner import MULTI_THREADING_WARNING, make_pipeline

    with caplog.at_level("WARNING", logger="lmforge"):
        make_pipeline(PipelineOptions(flags))
    assert (MULTI_THREADING_WARNING in caplog.text) is warned

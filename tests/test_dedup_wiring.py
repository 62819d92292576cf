"""Dedup wiring: earlier runs' index files as their own PCollection, named records, the index writer."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pytest
from apache_beam import pvalue
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipelines.dedup import DedupConfig, DeduplicateDocuments
from pipelines.dedup.clusters import removals_from_edges
from pipelines.dedup.index_writer import index_file_name, kept_rows_by_file
from pipelines.dedup.records import Edge, IndexRows, Removal
from tests.test_dedup import near, run, text

CFG = DedupConfig(boilerplate=False)


def _docs(prefix: str, texts: list[str]) -> list[dict]:
    return [{"id": f"{prefix}{i}", "text": t, "lang": "en"} for i, t in enumerate(texts)]


@pytest.mark.slow
def test_earlier_documents_linked_to_each_other_pick_the_smallest_old_id(tmp_path):
    # the same page kept by two earlier runs (each ran alone): the new copy belongs to the
    # cluster of both, so its representative is the smaller old id, whatever the uid order
    page = text(7)
    run([("c0", [{"id": "a", "text": page, "lang": "en"}])], CFG, index_output=str(tmp_path / "v1"))
    run([("c0", [{"id": "b", "text": page, "lang": "en"}])], CFG, index_output=str(tmp_path / "v2"))
    res = run(
        [("c1", [{"id": "n", "text": page, "lang": "en"}])],
        CFG,
        index_inputs=[str(tmp_path / "v1"), str(tmp_path / "v2")],
        index_output=str(tmp_path / "v3"),
    )
    assert res["docs"] == []
    assert [(r["id"], r["reason"], r["duplicate_of"]) for r in res["dropped"]] == [
        ("n", "duplicate_exact", "a")
    ]
    assert not (tmp_path / "v3").exists() or not list((tmp_path / "v3").iterdir())


class _AfterSideInput(beam.DoFn):
    """Stands in for an upstream stage whose output waits on a side input (as clean's does)."""

    def process(self, chunk, _signal):
        yield chunk


_STORE: dict = {}


def _store(value, name):
    _STORE[name] = value


@pytest.mark.slow
def test_index_inputs_work_downstream_of_a_side_input_step(tmp_path):
    old = _docs("a", [text(100 + i) for i in range(4)])
    run([("c0", old)], CFG, index_output=str(tmp_path / "v1"))
    new = _docs("b", [near(text(100), 2), text(101), text(999)])
    with beam.Pipeline(runner=FnApiRunner()) as p:
        signal = p | "Signal" >> beam.Create([None])
        chunks = (
            p
            | beam.Create([("c1", new[:2]), ("c2", new[2:])])
            | beam.ParDo(_AfterSideInput(), pvalue.AsSingleton(signal))
        )
        res = chunks | DeduplicateDocuments(
            CFG, index_inputs=[str(tmp_path / "v1")], index_output=str(tmp_path / "v2")
        )
        _ = res.dropped | beam.combiners.ToList() | beam.Map(_store, "dropped")
    assert {r["id"]: r["duplicate_of"] for r in _STORE.pop("dropped")} == {"b0": "a0", "b1": "a1"}


def test_removals_name_representative_and_kind():
    edges = [Edge("y", "z", 1, 1, False, False), Edge("x", "y", 2, 1, True, False)]
    assert removals_from_edges(edges) == {"y": Removal("x", "fuzzy"), "z": Removal("x", "fuzzy")}
    assert removals_from_edges([Edge("p", "q", 5, 5, False, False)]) == {"q": Removal("p", "exact")}


def test_kept_index_rows_go_to_uid_modulo_files():
    rows = IndexRows(
        ["d0", "d1", "d2", "d3"],
        np.array([4, 5, 6, 9], np.uint64),
        np.array([10, 11, 12, 13], np.uint64),
        np.arange(8, dtype=np.uint32).reshape(4, 2),
    )
    by_file = dict(kept_rows_by_file(rows, 2, {"d2": Removal("d0", "exact")}))
    assert sorted(by_file) == [0, 1]
    assert by_file[0].id == ["d0"] and by_file[1].id == ["d1", "d3"]
    assert by_file[1].sig.tolist() == [[2, 3], [6, 7]]
    both = IndexRows.concat([by_file[1], by_file[0]])
    assert both.id == ["d1", "d3", "d0"] and both.uid.tolist() == [5, 9, 4]
    assert index_file_name(1, 2) == "index-00001-of-00002.parquet"

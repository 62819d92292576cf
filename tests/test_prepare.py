"""``pipelines.prepare`` end to end: incremental versions, the lock, kill -9 at every phase.

Each test runs the real CLI in a subprocess (the in-process FnApiRunner), on a small
slice of the bundled sample so that a run takes seconds.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.dataset.lock import DatasetLock
from schemas import load_manifest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "raw" / "jsonl"
CONFIG = """
tokenize:
  vocab_size: 600
  validation_fraction: 0.1
  target_shard_tokens: 30000
dedup:
  index_files: 2
"""


def _docs(name: str, n: int, start: int = 0) -> list[dict]:
    with gzip.open(SAMPLE / name, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f][start : start + n]


def _write(path: Path, docs: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")


@pytest.fixture()
def corpus(tmp_path):
    """(input dir with file A, config path, function adding file B)."""
    inputs = tmp_path / "in"
    en, zh = _docs("kjv-old-testament.jsonl.gz", 40), _docs("fortunes-zh.jsonl.gz", 25)
    _write(inputs / "a.jsonl", en + zh)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)

    def add_b() -> list[dict]:
        new = _docs("kjv-new-testament.jsonl.gz", 20, start=30)
        copies = [{**d, "id": f"copy/{d['id']}"} for d in en[:8]]
        _write(inputs / "b.jsonl", new + copies)
        return copies

    return inputs, config, add_b


def prepare(
    inputs: Path, out: Path, config: Path, crash_at: str | None = None, *extra: str
) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600", "OMP_NUM_THREADS": "1"}
    if crash_at:
        env["LMFORGE_CRASH_AT"] = crash_at
    cmd = [
        sys.executable,
        "-m",
        "pipelines.prepare",
        f"--input={inputs}",
        f"--output={out}",
        f"--config={config}",
        *extra,
    ]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _doc_ids(path: Path) -> list[str]:
    return pa.ipc.open_stream(pa.memory_map(str(path))).read_all().column("doc_id").to_pylist()


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lmforge.lock"
    }


@pytest.mark.slow
def test_incremental_runs_add_versions_and_touch_only_new_files(corpus, tmp_path):
    inputs, config, add_b = corpus
    out = tmp_path / "out"
    first = prepare(inputs, out, config)
    assert first.returncode == 0, first.stderr
    assert "apitools" not in first.stderr
    # 10 % of 59 documents: far too few to measure a validation loss, and prepare says so
    assert "warning: the validation split holds only" in first.stderr
    v1 = load_manifest(str(out))
    assert v1.version == 1 and v1.counts.is_balanced()

    copies = add_b()
    second = prepare(inputs, out, config)
    assert second.returncode == 0, second.stderr
    v2 = load_manifest(str(out))
    assert v2.version == 2 and v2.parent_fingerprint == v1.fingerprint
    consumed = json.loads((out / "state" / "v00002" / "inputs.json").read_text())
    assert [Path(r["path"]).name for r in consumed] == ["b.jsonl"]
    # v1's shards are untouched and still listed; v2 adds its own.
    assert {s.path: s.sha256 for s in v1.shards}.items() <= {s.path: s.sha256 for s in v2.shards}.items()
    for s in v2.shards:
        v2.verify_checksum(s)
    # The copies of version-1 documents were removed as duplicates of the old documents.
    stats2 = json.loads((out / "state" / "v00002" / "stats.json").read_text())
    kept_v1 = {i for s in v1.shards for i in _doc_ids(out / s.path)}
    copies_of_kept = [c for c in copies if c["id"].removeprefix("copy/") in kept_v1]
    assert copies_of_kept and stats2["counts"]["duplicates"].get("exact", 0) >= len(copies_of_kept)
    kept_v2 = {i for s in v2.shards for i in _doc_ids(out / s.path)}
    assert not {c["id"] for c in copies} & kept_v2
    assert v2.counts.input == v1.counts.input + stats2["counts"]["input"]
    # The earlier version stays readable.
    assert load_manifest(str(out / "manifest-v00001.json")).fingerprint == v1.fingerprint

    third = prepare(inputs, out, config)
    assert third.returncode == 0 and "nothing new" in third.stderr
    assert not (out / "manifest-v00003.json").exists()


@pytest.mark.slow
def test_concurrent_run_is_refused(corpus, tmp_path):
    inputs, config, _ = corpus
    out = tmp_path / "out"
    with DatasetLock(str(out)):
        result = prepare(inputs, out, config)
    assert result.returncode == 3
    assert "being written by another run" in result.stderr


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("baseline")
    inputs = tmp / "in"
    _write(inputs / "a.jsonl", _docs("kjv-old-testament.jsonl.gz", 40) + _docs("fortunes-zh.jsonl.gz", 25))
    config = tmp / "config.yaml"
    config.write_text(CONFIG)
    out = tmp / "out"
    result = prepare(inputs, out, config)
    assert result.returncode == 0, result.stderr
    return inputs, config, tree_bytes(out)


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["read", "dedup", "shards", "manifest"])
def test_kill_9_at_any_phase_then_rerun_gives_the_same_bytes(uninterrupted, tmp_path, phase):
    inputs, config, expected = uninterrupted
    out = tmp_path / "out"
    crashed = prepare(inputs, out, config, crash_at=phase)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    if (out / "manifest.json").exists():  # a manifest never references a partial shard
        manifest = load_manifest(str(out))
        for shard in manifest.shards:
            manifest.verify_checksum(shard)
    rerun = prepare(inputs, out, config)
    assert rerun.returncode == 0, rerun.stderr
    assert tree_bytes(out) == expected


# -- empty versions, --reprocess, the validation minimum ---------------------------------------------
def _gzip_without_extension(path: Path, docs: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(json.dumps(d) + "\n" for d in docs).encode()))


@pytest.mark.slow
def test_an_input_set_that_keeps_nothing_is_not_committed(tmp_path):
    inputs, out, config = tmp_path / "in", tmp_path / "out", tmp_path / "config.yaml"
    config.write_text(CONFIG)
    _gzip_without_extension(inputs / "part-0001", _docs("kjv-old-testament.jsonl.gz", 10))
    _gzip_without_extension(inputs / "part-0002", _docs("fortunes-zh.jsonl.gz", 10))
    for _ in range(2):  # the second run does not say "nothing new": nothing was consumed
        result = prepare(inputs, out, config)
        assert result.returncode == 4, result.stderr[-3000:]
        assert (
            "version 1 NOT committed" in result.stderr
            and "quarantined: unsupported_format 2" in result.stderr
        )
        assert "state/v00001/quarantine" in result.stderr and "--reprocess" in result.stderr
        assert not (out / "manifest.json").exists() and not (out / "manifest-v00001.json").exists()
        assert not (out / "tokenizer.json").exists()
    # named with an extension, the same files make version 1
    for part in sorted(inputs.iterdir()):
        part.rename(part.with_name(part.name + ".jsonl.gz"))
    fixed = prepare(inputs, out, config)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert load_manifest(str(out)).version == 1


@pytest.mark.slow
def test_reprocess_reads_consumed_files_again(tmp_path):
    inputs, out, config = tmp_path / "in", tmp_path / "out", tmp_path / "config.yaml"
    config.write_text(CONFIG)
    good = _docs("kjv-old-testament.jsonl.gz", 30)
    renamed = [{"content": d["text"], "id": d["id"]} for d in _docs("kjv-new-testament.jsonl.gz", 20)]
    _write(inputs / "a.jsonl", good)
    _write(inputs / "c.jsonl", renamed)  # every record lacks "text": quarantined (missing_text)
    first = prepare(inputs, out, config)
    assert first.returncode == 0, first.stderr[-3000:]
    assert json.loads((out / "state" / "v00001" / "stats.json").read_text())["counts"]["quarantined"] == {
        "missing_text": 20
    }
    config.write_text(CONFIG + "read:\n  text_field: content\n")  # the fix, for c.jsonl
    unchanged = prepare(inputs, out, config)
    assert (
        unchanged.returncode == 0 and "nothing new" in unchanged.stderr and "--reprocess" in unchanged.stderr
    )
    again = prepare(inputs, out, config, None, "--reprocess")  # bare: the files that failed
    assert again.returncode == 0, again.stderr[-3000:]
    assert "1 of them read again (--reprocess)" in again.stderr
    consumed = json.loads((out / "state" / "v00002" / "inputs.json").read_text())
    assert [Path(r["path"]).name for r in consumed] == ["c.jsonl"]
    v2 = load_manifest(str(out))
    assert v2.version == 2 and v2.counts.kept > load_manifest(str(out / "manifest-v00001.json")).counts.kept
    # a path works too; a.jsonl's documents come out as exact duplicates of themselves
    third = prepare(inputs, out, config, None, f"--reprocess={inputs / 'a.jsonl'}")
    stats3 = json.loads((out / "state" / "v00003" / "stats.json").read_text())["counts"]
    assert third.returncode == 4 and stats3["kept"] == 0  # everything was a duplicate (or failed)
    assert "version 3 NOT committed" in third.stderr
    missing = prepare(inputs, out, config, None, "--reprocess=nowhere/*.jsonl")
    assert missing.returncode == 2 and "--reprocess 'nowhere/*.jsonl' matches no input file" in missing.stderr


@pytest.mark.slow
def test_min_validation_docs_gives_a_deterministic_minimum(corpus, tmp_path):
    from lmcore.hashing import stable_fraction

    inputs, config, _ = corpus
    config.write_text(
        CONFIG.replace("validation_fraction: 0.1", "validation_fraction: 0.0\n  min_validation_docs: 6")
    )
    out = tmp_path / "out"
    result = prepare(inputs, out, config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "validation split holds only" not in result.stderr  # the floor asked for is met
    manifest = load_manifest(str(out))
    validation = sorted(i for s in manifest.shards if s.split == "validation" for i in _doc_ids(out / s.path))
    kept = [i for s in manifest.shards for i in _doc_ids(out / s.path)]
    assert validation == sorted(sorted(kept, key=lambda i: stable_fraction(i, 23))[:6])

"""Dataset versions: which inputs are new, how a version is committed and repaired."""

from __future__ import annotations

import dataclasses
import gzip
import json

import pytest

from lmcore.storage import InputFile, expand_inputs
from pipelines.dataset import versions
from schemas import Counts, Manifest, TokenizerInfo, load_manifest


def _manifest(version: int) -> Manifest:
    return Manifest(
        tokenizer=TokenizerInfo("tokenizer.json", "0" * 64, 10, {"<|endoftext|>": 0}, eos_id=0),
        shards=[],
        counts=Counts(input=version, kept=version),
        created_at="2026-01-01T00:00:00Z",
        code_version="test",
        version=version,
    )


def test_first_run_plans_version_one_over_every_file(tmp_path):
    files = [InputFile("a.jsonl", 10, "1"), InputFile("b.jsonl", 20, "2")]
    plan = versions.plan_run(str(tmp_path), files)
    assert (plan.version, plan.parent, plan.files) == (1, None, files)


def test_second_run_sees_only_new_or_changed_files(tmp_path):
    a, b = InputFile("a.jsonl", 10, "1"), InputFile("b.jsonl", 20, "2")
    versions.commit(str(tmp_path), _manifest(1), [a, b])
    assert load_manifest(str(tmp_path)).version == 1
    c, b_changed = InputFile("c.jsonl", 5, "3"), InputFile("b.jsonl", 21, "4")
    plan = versions.plan_run(str(tmp_path), [a, b_changed, c])
    assert plan.version == 2 and plan.parent is not None and plan.parent.version == 1
    assert plan.files == [b_changed, c]
    assert versions.plan_run(str(tmp_path), [a, b]).nothing_new


def test_commit_interrupted_before_pointer_switch_is_repaired(tmp_path):
    versions.commit(str(tmp_path), _manifest(1), [])
    # Simulate a crash after manifest-v00002.json was written but before manifest.json moved.
    (tmp_path / versions.manifest_name(2)).write_text(_manifest(2).to_json())
    plan = versions.plan_run(str(tmp_path), [])
    assert plan.repaired_pointer and plan.version == 3
    assert load_manifest(str(tmp_path)).version == 2


def test_uncommitted_leftovers_are_removed(tmp_path):
    leftover = tmp_path / "shards" / "v00002"
    leftover.mkdir(parents=True)
    (leftover / "train-00000-of-00001.arrow").write_bytes(b"partial")
    (tmp_path / "shards" / "v00001").mkdir()
    (tmp_path / "._tmp-abc-manifest.json").write_text("{")
    versions.remove_uncommitted(str(tmp_path), 2)
    assert not leftover.exists() and (tmp_path / "shards" / "v00001").exists()
    assert not (tmp_path / "._tmp-abc-manifest.json").exists()


def test_reprocess_reads_consumed_files_again_failed_all_or_by_path(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.jsonl", "b.jsonl", "c.jsonl"):
        (inputs / name).write_text("{}\n")
    files = expand_inputs([str(inputs)])
    a, b, c = files
    out = tmp_path / "out"
    versions.commit(str(out), _manifest(1), files)
    quarantine = out / "state" / "v00001" / "quarantine"
    quarantine.mkdir(parents=True)
    records = [{"stage": "read", "path": b.path, "offset": 0, "reason": "missing_text"}]
    (quarantine / "quarantine-00000-of-00001.jsonl.gz").write_bytes(
        gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    )
    assert versions.plan_run(str(out), files).nothing_new
    failed = versions.plan_run(str(out), files, ["failed"])
    assert failed.files == [b] and failed.reprocessed == [b] and failed.version == 2
    assert versions.plan_run(str(out), files, ["all"]).files == files
    by_glob = versions.plan_run(str(out), files, [str(inputs / "[ac].jsonl")])
    assert by_glob.files == [a, c]
    with pytest.raises(FileNotFoundError, match="--reprocess"):
        versions.plan_run(str(out), files, [str(inputs / "nothing-*.jsonl")])


# -- write-new-then-switch of the standalone stages ------------------------------------------------
def test_switch_outputs_replaces_entries_and_removes_stale_ones(tmp_path):
    from pipelines.dataset import commit

    out = tmp_path / "out"
    (out / "documents").mkdir(parents=True)
    (out / "documents" / "part-00000-of-00002.parquet").write_bytes(b"old")
    (out / "dropped").mkdir()
    (out / "stats.json").write_text("old")
    (out / "mine.txt").write_text("not a stage output")
    staging = tmp_path / "out" / "._tmp-run-x"
    (staging / "documents").mkdir(parents=True)
    (staging / "documents" / "part-00000-of-00001.parquet").write_bytes(b"new")
    (staging / "stats.json").write_text("new")
    commit.switch_outputs(str(staging), str(out), commit.STAGE_OUTPUTS["clean"])
    assert sorted(p.name for p in (out / "documents").iterdir()) == ["part-00000-of-00001.parquet"]
    assert (out / "stats.json").read_text() == "new" and not (out / "dropped").exists()
    assert (out / "mine.txt").exists() and not staging.exists()
    assert not list(out.glob("._tmp-*"))


def test_promote_gives_next_files_their_usual_names_and_switches_the_manifest(tmp_path):
    from lmcore.layout import NEXT_DIR
    from pipelines.dataset import commit
    from schemas import ShardInfo

    out = tmp_path / "ds"
    next_shards = out / NEXT_DIR / "shards"
    next_shards.mkdir(parents=True)
    (next_shards / "train-00000-of-00001.arrow").write_bytes(b"new shard")
    (out / NEXT_DIR / "tokenizer.json").write_text("{}")
    (out / "shards").mkdir()
    (out / "shards" / "train-00000-of-00002.arrow").write_bytes(b"old shard")
    m = _manifest(1)
    shard = ShardInfo(f"{NEXT_DIR}/shards/train-00000-of-00001.arrow", "train", "0" * 64, 1, 1, 1, "uint16")
    m.shards = [shard]
    m.tokenizer = dataclasses.replace(m.tokenizer, file=f"{NEXT_DIR}/tokenizer.json")
    (out / "manifest.json").write_text(m.to_json())
    assert commit.prepare_token_output(str(out)) == commit.TokenLayout(
        f"{NEXT_DIR}/shards", f"{NEXT_DIR}/tokenizer.json"
    )
    final = load_manifest(str(out))  # the interrupted promotion was finished first
    assert [s.path for s in final.shards] == ["shards/train-00000-of-00001.arrow"]
    assert final.tokenizer.file == "tokenizer.json" and (out / "tokenizer.json").read_text() == "{}"
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["train-00000-of-00001.arrow"]
    assert not (out / NEXT_DIR).exists()


def test_tokenize_refuses_a_prepare_dataset(tmp_path):
    from pipelines.dataset import commit

    versions.commit(str(tmp_path), _manifest(1), [])
    with pytest.raises(commit.StageRefused, match="versioned dataset"):
        commit.prepare_token_output(str(tmp_path))


def test_recorded_inputs_with_unnormalised_paths_still_count_as_consumed(tmp_path):
    f = tmp_path / "d" / "f.jsonl"
    f.parent.mkdir()
    f.write_text("{}\n")
    (now,) = expand_inputs([str(f)])
    old = InputFile(str(tmp_path / "d" / "." / "f.jsonl"), now.size, now.mtime)  # as older versions wrote it
    versions.commit(str(tmp_path / "out"), _manifest(1), [old])
    assert versions.plan_run(str(tmp_path / "out"), [now]).nothing_new

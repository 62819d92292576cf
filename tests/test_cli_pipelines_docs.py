"""The documentation against a real ``prepare`` output: every documented path exists, every
Python block of docs/datasets-hf.md runs (offline), and the report finds the records.

One module-scoped dataset (two versions, --keep-dropped, a quarantined record) made by the
real command line; the tests only read it.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines.report import html as report_html
from pipelines.report.build import build_report
from pipelines.report.files import discover
from schemas import load_manifest

pytestmark = pytest.mark.slow  # prepare subprocesses

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "raw" / "jsonl"
DOC = ROOT / "docs" / "datasets-hf.md"
CONFIG = """
tokenize:
  vocab_size: 600
  validation_fraction: 0.2
  target_shard_tokens: 30000
dedup:
  index_files: 2
"""


# documents every preset drops (a file list, a page of another language): dropped/ is written
JUNK = [
    {"id": "junk-filelist", "text": "\n".join(f"/usr/share/doc/package-{i}/changelog.gz" for i in range(60))},
    {"id": "junk-french", "text": " ".join(["Le chat dort sur le canapé pendant que la pluie tombe."] * 12)},
]


def _docs(name: str, n: int, start: int = 0) -> list[dict]:
    with gzip.open(SAMPLE / name, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f][start : start + n]


def _write(path: Path, docs: list[dict], extra: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs) + extra, encoding="utf-8")


def _prepare(inputs: Path, out: Path, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pipelines.prepare", f"--input={inputs}", f"--output={out}"]
    cmd += [f"--config={config}", "--keep-dropped"]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("prepared")
    inputs, out, config = tmp / "in", tmp / "out", tmp / "config.yaml"
    config.write_text(CONFIG)
    _write(
        inputs / "a.jsonl",
        _docs("kjv-old-testament.jsonl.gz", 40) + _docs("fortunes-zh.jsonl.gz", 25) + JUNK,
        "{not json\n",
    )
    first = _prepare(inputs, out, config)
    assert first.returncode == 0, first.stderr[-3000:]
    _write(inputs / "b.jsonl", _docs("kjv-new-testament.jsonl.gz", 30, start=10))
    second = _prepare(inputs, out, config)
    assert second.returncode == 0, second.stderr[-3000:]
    (out.parent / "runs.log").write_text(first.stderr + second.stderr)  # for the checks on what it printed
    return out


# -- documented paths ----------------------------------------------------------------------------
def _as_glob(documented: str) -> str:
    """A documented path as a glob: ``v0000N`` any version, ``{train,validation}`` and ``IIIII-of-NNNNN`` any."""
    pattern = documented.split(" ")[0].removeprefix("DIR/").rstrip("/")
    pattern = pattern.replace("v0000N", "v*").replace("IIIII-of-NNNNN", "*-of-*")
    return re.sub(r"\{[^}]*\}", "*", pattern)


def _readme_prepare_paths() -> list[str]:
    row = next(
        ln
        for ln in (ROOT / "README.md").read_text().splitlines()
        if ln.startswith("| `python -m pipelines.prepare`")
    )
    return [p for p in re.findall(r"`([^`]+)`", row.split("|")[3]) if not p.startswith("--")]


def _help_prepare_paths() -> list[str]:
    """The paths column of the "Writes, under --output" list in ``prepare --help``."""
    from pipelines.prepare import COMMAND

    block = COMMAND.epilog.split("Writes, under --output", 1)[1].split("\nThen:", 1)[0]
    paths: list[str] = []
    for line in block.splitlines()[1:]:
        first, *more = re.split(r"\s{2,}", line.strip())[0].split(", ")
        # "state/v0000N/clean_losses.json, dedup_boilerplate.json": the second is in the same folder
        paths += [first, *(f"{first.rsplit('/', 1)[0]}/{item}" for item in more)]
    return paths


def test_every_documented_prepare_path_exists(dataset):
    documented = {
        "README": _readme_prepare_paths(),
        "--help": _help_prepare_paths(),
        "docs/datasets-hf.md": ["DIR/shards/v0000N/{train,validation}-IIIII-of-NNNNN.arrow"],
    }
    assert len(documented["README"]) >= 10 and len(documented["--help"]) >= 10
    state = dataset / "state" / "v00001"
    missing = {}
    for where, paths in documented.items():
        for p in paths:
            pattern = _as_glob(p)
            # state/v*/... names the files of one version; clean_losses.json etc. sit next to each other
            if not glob.glob(str(dataset / pattern)) and not (dataset / pattern).exists():
                missing.setdefault(where, []).append(p)
    assert not missing, missing
    assert "apitools" not in (dataset.parent / "runs.log").read_text()
    assert "shards/v0000N/{train,validation}-IIIII-of-NNNNN.arrow" in DOC.read_text()
    assert (state / "quarantine").is_dir() and (state / "dropped").is_dir()
    assert not (dataset / "quarantine").exists() and not (dataset / "dropped").exists()
    assert not list((dataset / "shards").glob("*.arrow"))  # the glob the old docs used matches nothing


# -- docs/datasets-hf.md --------------------------------------------------------------------------
def python_blocks(markdown: str) -> list[str]:
    return [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", markdown, flags=re.S)]


HARNESS = """
import json, sys, traceback
blocks = json.loads(open(sys.argv[1]).read())
namespace = {"__name__": "__docs__"}
for i, code in enumerate(blocks):
    try:
        exec(compile(code, f"datasets-hf.md block {i}", "exec"), namespace)
    except Exception:
        traceback.print_exc()
        print(f"BLOCK {i} FAILED")
        raise SystemExit(1)
    print(f"BLOCK {i} OK", flush=True)
print("ROWS " + json.dumps({
    "load_dataset": {k: namespace["ds"][k].num_rows for k in namespace["ds"]},
    "train": namespace["train"].num_rows,
    "documents": namespace["docs"].num_rows,
    "duckdb": sum(row[2] for row in namespace["per_source"]),
    "polars": int(namespace["by_lang"]["docs"].sum()),
    "polars_langs": sorted(l for l in namespace["by_lang"]["lang"].to_list() if l),
}))
"""


@pytest.fixture(scope="module")
def documents(dataset) -> Path:
    """``pipelines.clean`` of the dataset's first input: a folder of document Parquet."""
    out = dataset.parent / "clean"
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pipelines.clean", f"--input={dataset.parent / 'in' / 'a.jsonl'}"]
    proc = subprocess.run(
        [*cmd, f"--output={out}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_every_python_block_of_the_hf_datasets_doc_runs_offline(dataset, documents, tmp_path):
    blocks = [
        b.replace("DOCS", str(documents)).replace("DIR", str(dataset)) for b in python_blocks(DOC.read_text())
    ]
    assert len(blocks) >= 9
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    (tmp_path / "harness.py").write_text(HARNESS)
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf-home"),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "harness.py"), str(tmp_path / "blocks.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert all(f"BLOCK {i} OK" in proc.stdout for i in range(len(blocks)))
    rows = json.loads(proc.stdout.split("ROWS ", 1)[1].splitlines()[0])
    manifest = load_manifest(str(dataset))
    per_split = {
        split: sum(s.num_docs for s in manifest.shards if s.split == split)
        for split in ("train", "validation")
    }
    assert rows["load_dataset"] == per_split
    assert rows["train"] == per_split["train"]  # Option 3: Dataset.from_file on the committed shards
    import pyarrow.parquet as pq

    kept = sum(pq.ParquetFile(p).metadata.num_rows for p in (documents / "documents").glob("*.parquet"))
    assert kept > 0 and rows["documents"] == rows["duckdb"] == rows["polars"] == kept
    assert rows["polars_langs"] == ["en", "zh"]


# -- the report on the same output ---------------------------------------------------------------
def test_report_shows_dropped_and_quarantined_examples_of_a_prepare_output(dataset):
    rep = build_report(str(dataset))
    assert rep["dropped_records"] and rep["dropped_records"]["documents"] > 0
    assert rep["quarantine_records"]["records"] == 1
    found = discover(str(dataset))
    assert found.dropped and all("/state/v0000" in p for p in found.dropped + found.quarantine)
    html = report_html.render_html(rep, {})
    assert "run with --keep-dropped" not in html
    assert "Examples (smallest ids)" in html
    assert rep["sections"]["bytes"]["status"] == "ok" and rep["clean_losses"] is not None

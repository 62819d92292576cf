"""Portability: the clean stage on Beam's portable job server (the Flink/Spark code path).

Starts ``apache_beam.runners.portability.local_job_service_main`` as a subprocess, submits
``python -m pipelines.clean`` with ``--runner=PortableRunner --environment_type=LOOPBACK``
and checks the output is byte-identical to the default in-process FnApiRunner's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.clean.__main__ import main as clean_main

RAW = Path(__file__).resolve().parents[1] / "data" / "sample" / "raw"


@pytest.fixture
def job_server(tmp_path):
    port_file = tmp_path / "job.port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", "--port=0",
         f"--port_file={port_file}", f"--staging_dir={tmp_path / 'staging'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, "job server exited"
            assert time.monotonic() < deadline, "job server did not start"
            time.sleep(0.1)
        yield f"localhost:{port_file.read_text().strip()}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def outputs(out: Path) -> dict[str, bytes]:
    """Every output file except stats.json (it holds a timestamp), plus the counts."""
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    stats = json.loads(files.pop("stats.json"))
    files["counts"] = json.dumps(stats["counts"], sort_keys=True).encode()
    return files


@pytest.mark.slow
def test_clean_on_portable_runner_matches_fn_api_runner(tmp_path, job_server):
    inputs = [
        f"--input={RAW / 'jsonl' / 'junk.jsonl.gz'}",
        f"--input={RAW / 'text'}",
        f"--input={RAW / 'html'}",
    ]
    local, portable = tmp_path / "local", tmp_path / "portable"
    assert clean_main([*inputs, f"--output={local}", "--keep-dropped"]) == 0
    flags = ["--runner=PortableRunner", f"--job_endpoint={job_server}", "--environment_type=LOOPBACK"]
    assert clean_main([*inputs, f"--output={portable}", "--keep-dropped", *flags]) == 0
    expected = outputs(local)
    assert any(name.startswith("documents/") for name in expected)
    assert outputs(portable) == expected

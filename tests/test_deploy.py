"""The deploy/ recipes run as written: the Airflow DAG's prepare command and the crontab jobs,
on the bundled sample (Airflow itself need not be installed)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SAMPLE = ROOT / "data" / "sample" / "raw"
# The example locations in deploy/crontab.example, replaced by the sample and a tmp dir.
CRON_INPUT = "s3://corpus/incoming/**/*.jsonl.gz"
CRON_OUTPUT = "s3://corpus/datasets/web"


def load_dag_module():
    spec = importlib.util.spec_from_file_location("lmforge_airflow_dag", DEPLOY / "airflow_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(cmd: list[str] | str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd,
        cwd=cwd,
        shell=isinstance(cmd, str),
        executable="/bin/bash" if isinstance(cmd, str) else None,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The DAG's prepare task, started like the Beam operator does, from a foreign directory."""
    work = tmp_path_factory.mktemp("airflow-worker")
    dag = load_dag_module()
    cmd = dag.prepare_command(
        python=sys.executable,
        inputs=[str(SAMPLE)],
        output=str(work / "dataset"),
        config=str(DEPLOY / "prepare.yaml"),
    )
    return work / "dataset", run(cmd, cwd=work)


def test_the_dag_runs_prepare_as_a_module():
    dag = load_dag_module()
    cmd = dag.prepare_command(python="PY", inputs=["a", "b"], output="OUT", config="C")
    flags = ["--runner=DirectRunner", "--input=a", "--input=b", "--output=OUT", "--config=C"]
    assert cmd == ["PY", "-m", "pipelines.prepare", *flags]
    assert "pipelines/prepare.py" not in (DEPLOY / "airflow_dag.py").read_text().split('"""', 2)[2]
    assert dag.followup_commands("PY", "OUT") == {
        "verify": "PY -m pipelines.verify OUT",
        "report": "PY -m pipelines.report OUT",
    }


def test_the_dag_prepare_command_runs_on_the_sample(prepared):
    out, result = prepared
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["shards"] and (out / "tokenizer.json").exists()


def cron_jobs() -> tuple[dict[str, str], list[str]]:
    """(environment lines, commands) of deploy/crontab.example."""
    env, jobs = {}, []
    for line in (DEPLOY / "crontab.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if m := re.fullmatch(r"([A-Z_]+)=(\S+)", line.strip()):
            env[m.group(1)] = m.group(2)
        else:
            jobs.append(line.split(None, 5)[5])
    return env, jobs


def test_the_crontab_jobs_run_on_the_sample(prepared, tmp_path):
    out, first = prepared
    assert first.returncode == 0, first.stderr[-3000:]
    env, jobs = cron_jobs()
    assert set(env) == {"LMFORGE"} and len(jobs) == 2
    python = (
        ".venv/bin/python" if (ROOT / ".venv" / "bin" / "python").exists() else shlex.quote(sys.executable)
    )
    for job in jobs:
        assert CRON_OUTPUT in job and "-m pipelines." in job
        job = job.replace(f"'{CRON_INPUT}'", shlex.quote(str(SAMPLE))).replace(CRON_OUTPUT, str(out))
        job = job.replace("/var/log/lmforge", str(tmp_path)).replace("/tmp/lmforge-", f"{tmp_path}/lmforge-")
        job = job.replace(".venv/bin/python", python)
        result = run(job, cwd=tmp_path, env={"LMFORGE": str(ROOT)})
        logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
        assert result.returncode == 0, (job, logs[-3000:])
    logs = (tmp_path / "prepare.log").read_text()
    assert "nothing new" in logs  # the night after the DAG's run: same inputs, same version
    assert (out / "report.html").stat().st_size > 0

"""Airflow DAG: a daily incremental ``pipelines.prepare`` run, then verify and report.

Uses the Apache Beam provider (``pip install -e '.[airflow]'``). The operator starts the
same module a user runs by hand, so everything in the README applies: with the default
``DirectRunner`` it runs in-process on the worker; with ``runner="DataflowRunner"`` and
``dataflow_config`` it runs on Dataflow; with ``runner="FlinkRunner"`` on a Flink cluster.
``max_active_runs=1`` keeps runs from overlapping (the dataset lock refuses them anyway).

The pipeline runs as a module (``python -m pipelines.prepare``), never as the script
``pipelines/prepare.py``: a script puts ``pipelines/`` first on ``sys.path``, where
``pipelines/tokenize/`` hides the standard library's ``tokenize`` and ``import apache_beam``
fails. The operator builds ``[py_interpreter, *py_options, py_file, --runner=..., --key=value...]``,
so ``py_options=["-m"]`` with ``py_file="pipelines.prepare"`` is exactly that.
``prepare_command`` returns that command line without Airflow, for tests and for running
the task by hand.
"""

from __future__ import annotations

import os
import shlex
from datetime import datetime, timedelta
from typing import Any

LMFORGE = os.environ.get("LMFORGE_HOME", "/opt/lmforge")
INPUT = os.environ.get("LMFORGE_INPUT", "gs://corpus/incoming/**/*.jsonl.gz")
OUTPUT = os.environ.get("LMFORGE_OUTPUT", "gs://corpus/datasets/web")
PYTHON = f"{LMFORGE}/.venv/bin/python"
PREPARE_MODULE = "pipelines.prepare"
RUNNER = "DirectRunner"  # the operator's default; the pipelines run it in-process


def prepare_options(inputs: list[str], output: str, config: str) -> dict[str, Any]:
    """Pipeline options of the prepare task (a list becomes a repeated flag)."""
    return {"input": list(inputs), "output": output, "config": config}


def options_to_args(options: dict[str, Any]) -> list[str]:
    """``--key=value`` flags the way the Beam provider writes them (``beam_options_to_args``)."""
    args: list[str] = []
    for key, value in options.items():
        if value is None or value is True:
            args.append(f"--{key}")
        elif value is False:
            continue
        elif isinstance(value, list):
            args.extend(f"--{key}={v}" for v in value)
        else:
            args.append(f"--{key}={value}")
    return args


def prepare_command(
    python: str = PYTHON,
    inputs: list[str] | None = None,
    output: str = OUTPUT,
    config: str = f"{LMFORGE}/deploy/prepare.yaml",
    runner: str = RUNNER,
) -> list[str]:
    """The command line the prepare task runs."""
    options = prepare_options(inputs if inputs is not None else [INPUT], output, config)
    return [python, "-m", PREPARE_MODULE, f"--runner={runner}", *options_to_args(options)]


def followup_commands(python: str = PYTHON, output: str = OUTPUT) -> dict[str, str]:
    """Shell commands of the tasks after prepare (BashOperator)."""
    return {
        "verify": f"{shlex.quote(python)} -m pipelines.verify {shlex.quote(output)}",
        "report": f"{shlex.quote(python)} -m pipelines.report {shlex.quote(output)}",
    }


def build_dag() -> Any:
    from airflow import DAG
    from airflow.operators.bash import BashOperator
    from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

    with DAG(
        dag_id="lmforge_prepare",
        start_date=datetime(2026, 1, 1),
        schedule="15 2 * * *",
        catchup=False,
        max_active_runs=1,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
        tags=["lmforge"],
    ) as dag:
        prepare = BeamRunPythonPipelineOperator(
            task_id="prepare",
            py_file=PREPARE_MODULE,
            py_options=["-m"],
            py_interpreter=PYTHON,
            runner=RUNNER,
            pipeline_options=prepare_options([INPUT], OUTPUT, f"{LMFORGE}/deploy/prepare.yaml"),
            # runner="DataflowRunner",
            # dataflow_config={"project_id": "my-project", "location": "europe-west1", "job_name": "lmforge-prepare"},
            # default_pipeline_options={"temp_location": "gs://corpus/tmp", "setup_file": f"{LMFORGE}/setup.py"},
        )
        commands = followup_commands()
        verify = BashOperator(task_id="verify", bash_command=commands["verify"])
        report = BashOperator(task_id="report", bash_command=commands["report"])
        prepare >> verify >> report
    return dag


try:
    import airflow  # noqa: F401
except ModuleNotFoundError:  # imported for prepare_command (tests, by hand): no DAG without Airflow
    dag = None
else:
    dag = build_dag()

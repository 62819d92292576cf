"""Airflow DAG: a daily incremental ``pipelines.prepare`` run, then verify and report.

Uses the Apache Beam provider (``pip install -e '.[airflow]'``). The operator starts the
same module a user runs by hand, so everything in the README applies: without a runner it
runs in-process on the worker (FnApiRunner); with ``runner="DataflowRunner"`` and
``dataflow_config`` it runs on Dataflow; with ``runner="FlinkRunner"`` on a Flink cluster.
``max_active_runs=1`` keeps runs from overlapping (the dataset lock refuses them anyway).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

LMFORGE = os.environ.get("LMFORGE_HOME", "/opt/lmforge")
INPUT = os.environ.get("LMFORGE_INPUT", "gs://corpus/incoming/**/*.jsonl.gz")
OUTPUT = os.environ.get("LMFORGE_OUTPUT", "gs://corpus/datasets/web")
PYTHON = f"{LMFORGE}/.venv/bin/python"

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
        py_file=f"{LMFORGE}/pipelines/prepare.py",
        py_interpreter=PYTHON,
        # Pipeline options become --key=value flags; "input" may be a list (repeated flag).
        pipeline_options={
            "input": [INPUT],
            "output": OUTPUT,
            "config": f"{LMFORGE}/deploy/prepare.yaml",
        },
        # runner="DataflowRunner",
        # dataflow_config={"project_id": "my-project", "location": "europe-west1", "job_name": "lmforge-prepare"},
        # default_pipeline_options={"temp_location": "gs://corpus/tmp", "setup_file": f"{LMFORGE}/setup.py"},
    )
    verify = BashOperator(task_id="verify", bash_command=f"{PYTHON} -m pipelines.verify {OUTPUT}")
    report = BashOperator(task_id="report", bash_command=f"{PYTHON} -m pipelines.report {OUTPUT}")
    prepare >> verify >> report

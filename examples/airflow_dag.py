"""An Airflow DAG that runs segml's scheduled jobs through its command line.

Weekly training, nightly scoring. segml's exit codes tell Airflow what happened: 0 ok, 2 bad
config, 3 bad input data, 4 missing model, 5 drift beyond the failure threshold (nothing
published), 6 the partition is locked by another run, 7 the MLflow store is unusable (corrupt
or read-only), 8 published but the MLflow run not recorded, 9 a champion was trained on data
past the --as-of date (a backfill; --allow-future-models overrides); `segml --help` lists
them. Airflow need not share segml's environment: the tasks call the CLI of the virtual
environment at SEGML_HOME.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow import DAG
from airflow.operators.bash import BashOperator

SEGML_HOME = os.environ.get("SEGML_HOME", "/opt/segml")
SEGML = f"cd {SEGML_HOME} && OMP_WAIT_POLICY=PASSIVE .venv/bin/segml"
CONFIG = "configs/shop.yaml"

default_args = {"retries": 1, "retry_delay": dt.timedelta(minutes=10)}

with DAG(
    dag_id="segml_scoring",
    schedule="30 2 * * *",
    start_date=dt.datetime(2026, 1, 1),
    catchup=False,
    default_args=default_args,
    tags=["segml"],
) as dag:
    validate = BashOperator(
        task_id="validate",
        bash_command=f"{SEGML} validate --config {CONFIG} --as-of {{{{ ds }}}}",
    )
    score = BashOperator(
        task_id="score",
        # {{ ds }} is the logical date: a rerun of the same day replaces that partition
        bash_command=(
            f"{SEGML} score --config {CONFIG} --as-of {{{{ ds }}}} --out runs/scores --wait"
        ),
    )
    report = BashOperator(
        task_id="report",
        bash_command=f"{SEGML} report --run runs/scores/as_of={{{{ ds }}}} --config {CONFIG}",
    )
    validate >> score >> report

with DAG(
    dag_id="segml_training",
    schedule="0 1 * * 0",
    start_date=dt.datetime(2026, 1, 1),
    catchup=False,
    default_args=default_args,
    tags=["segml"],
) as training:
    BashOperator(
        task_id="train",
        bash_command=f"{SEGML} train --config {CONFIG} --now {{{{ ds }}}}",
    )

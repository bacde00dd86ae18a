"""The scheduler examples: the Airflow DAG parses (when Airflow is installed), and every command
the examples call exists in segml's CLI."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from segml.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_airflow_dag_imports_and_parses() -> None:
    source = (EXAMPLES / "airflow_dag.py").read_text()
    ast.parse(source)  # valid Python even without Airflow
    pytest.importorskip("airflow", reason="Airflow is not a segml dependency; install it to run")
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES / "airflow_dag.py"), include_examples=False)
    assert bag.import_errors == {}
    assert {"segml_scoring", "segml_training"} <= set(bag.dag_ids)


@pytest.mark.parametrize("example", ["crontab", "airflow_dag.py"])
def test_example_commands_exist(example: str) -> None:
    text = (EXAMPLES / example).read_text()
    pattern = r"segml\}? (validate|train|score|report|run|segment|cluster)\b"
    commands = set(re.findall(pattern, text, flags=re.IGNORECASE))
    assert commands, "the example calls no segml command"
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, (command, result.output)

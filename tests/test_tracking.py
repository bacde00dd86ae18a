"""The MLflow wrapper: local SQLite store, runs, registry aliases, clear missing-model errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from segml.errors import ModelNotFoundError
from segml.tracking import default_tracking_uri, find_model, load_pyfunc, start_run


def test_runs_and_missing_models(tmp_path: Path) -> None:
    uri = default_tracking_uri(tmp_path / "runs")
    with start_run(tracking_uri=uri, experiment="segml-test", run_name="r1") as run:
        run.params({"a": 1})
        run.metrics({"auc": 0.75, "skipped": float("nan")})
        run.json({"k": [1, 2]}, "reports/k.json")
    import mlflow

    got = mlflow.MlflowClient(tracking_uri=uri).get_run(run.run_id)
    assert got.data.params == {"a": "1"} and got.data.metrics == {"auc": 0.75}
    assert (tmp_path / "runs" / "mlflow.db").exists()
    assert (tmp_path / "runs" / "mlartifacts").is_dir()  # not ./mlruns in the working folder
    assert find_model(tracking_uri=uri, name="segml-purchase", alias="champion") is None
    with pytest.raises(ModelNotFoundError, match="no model 'segml-purchase' with alias 'champion'"):
        load_pyfunc(tracking_uri=uri, name="segml-purchase", alias="champion")

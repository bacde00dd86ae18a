"""The MLflow wrapper: local SQLite store, runs, registry aliases, clear missing-model errors;
and the store faults a scheduled job meets (missing, corrupt, not MLflow's, read-only store,
read-only model artifacts), each a coded error that names the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from segml.errors import ModelNotFoundError, TrackingStoreError
from segml.tracking import (
    check_store,
    default_tracking_uri,
    find_model,
    load_pyfunc,
    log_code_model,
    register_model,
    set_alias,
    start_run,
)
from tests.readonly import read_only


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


_CODE = """
from pathlib import Path

import pandas as pd

from segml.tracking import python_model_base, set_code_model


class Scale(python_model_base()):
    def load_context(self, context):
        self.factor = float(Path(context.artifacts["factor"]).read_text())

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return model_input * self.factor


set_code_model(Scale())
"""


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with one tiny models-from-code pyfunc (scales its input by 3) as 'm@champion'."""
    root = tmp_path_factory.mktemp("store")
    (root / "scale.py").write_text(_CODE)
    (root / "factor.txt").write_text("3")
    uri = default_tracking_uri(root / "runs")
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with start_run(tracking_uri=uri, experiment="segml-test", run_name="scale"):
        model_uri = log_code_model(code_path=root / "scale.py", input_example=frame,
                                   artifacts={"factor": root / "factor.txt"},
                                   output_example=frame * 3,
                                   pip_requirements=["pandas"])  # no inference: fast  # fmt: skip
    ref = register_model(tracking_uri=uri, model_uri=model_uri, name="m")
    set_alias(tracking_uri=uri, name="m", alias="champion", version=ref.version)
    return uri


def _store(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///"))


def test_model_loads_from_read_only_artifacts(registered: str) -> None:
    """Loading a models:/ URI used to write registered_model_meta into the model's folder."""
    artifacts = _store(registered).parent / "mlartifacts"
    with read_only(artifacts):
        model, ref = load_pyfunc(tracking_uri=registered, name="m", alias="champion")
    assert ref.version == "1"
    assert model.predict(pd.DataFrame({"x": [1.0, 5.0]}))["x"].tolist() == [3.0, 15.0]
    assert not list(artifacts.rglob("registered_model_meta"))  # nothing written into the store


@pytest.mark.parametrize("content", [None, b""], ids=["no file", "empty file"])
def test_missing_store_is_not_created(tmp_path: Path, content: bytes | None) -> None:
    db = tmp_path / "runs" / "mlflow.db"
    db.parent.mkdir()
    if content is not None:
        db.write_bytes(content)
    with pytest.raises(ModelNotFoundError, match=f"no tracking store at {db}: .* segml train"):
        check_store(f"sqlite:///{db}", must_exist=True)
    assert not db.exists() if content is None else db.read_bytes() == b""  # left as it was
    check_store(f"sqlite:///{db}")  # training may create it


def _not_mlflow(db: Path) -> None:
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE orders (id INTEGER)")
    con.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda db: db.write_bytes(b"garbage, not SQLite " * 50), "file is not a database"),
        (lambda db: db.mkdir(), "is a folder; expected an MLflow SQLite database file"),
        (_not_mlflow, r"not an MLflow tracking store: no 'experiments' table; found \['orders'\]"),
    ],
    ids=["garbage", "a folder", "another app's database"],
)
def test_unusable_store_is_a_coded_error_naming_the_file(
    tmp_path: Path, make, message: str
) -> None:
    db = tmp_path / "mlflow.db"
    make(db)
    uri = f"sqlite:///{db}"
    for call in (
        lambda: check_store(uri, must_exist=True),
        lambda: find_model(tracking_uri=uri, name="m", alias="champion"),  # what train reads
        lambda: start_run(tracking_uri=uri, experiment="e", run_name="r").__enter__(),
    ):
        with pytest.raises(TrackingStoreError, match=message) as err:
            call()
        assert str(db) in str(err.value) and err.value.exit_code == 7


def test_read_only_store_is_refused_before_a_run(registered: str, tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.write_bytes(_store(registered).read_bytes())
    uri = f"sqlite:///{db}"
    with read_only(db):
        check_store(uri, must_exist=True)  # reading is fine
        assert find_model(tracking_uri=uri, name="m", alias="champion") is not None
        with pytest.raises(TrackingStoreError, match=f"the tracking store {db} is read-only"):
            check_store(uri, write=True)
        with (
            pytest.raises(TrackingStoreError, match="is read-only"),
            start_run(tracking_uri=uri, experiment="e", run_name="r"),
        ):
            pass
        with pytest.raises(TrackingStoreError, match="is read-only"):
            set_alias(tracking_uri=uri, name="m", alias="old", version="1")
    with (
        read_only(tmp_path, recursive=False),  # the file is writable, its folder is not
        pytest.raises(TrackingStoreError, match=f"{tmp_path} is not writable"),
    ):
        check_store(uri, write=True)
    check_store(uri, write=True)


def test_a_relative_store_path_is_checked_too(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("mlflow.db").write_bytes(b"garbage, not SQLite " * 50)
    with pytest.raises(TrackingStoreError, match=r"the tracking store mlflow\.db cannot be read"):
        check_store("sqlite:///mlflow.db")

"""The one module that talks to MLflow: runs, metrics, artifacts, the model registry.

By default everything lives in a local SQLite store under the run folder
(``sqlite:///<root>/mlflow.db``, artifacts in ``<root>/mlartifacts``): no server to start. A
``tracking_uri`` in the config points at a shared MLflow server instead (``mlflow server
--backend-store-uri postgresql://... --artifacts-destination s3://...`` for a team).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segml.errors import ModelNotFoundError, TrackingStoreError

__all__ = [
    "ModelRef",
    "RunLogger",
    "VersionDetails",
    "check_store",
    "default_tracking_uri",
    "delete_alias",
    "find_model",
    "load_pyfunc",
    "load_run_artifact",
    "load_run_json",
    "log_code_model",
    "python_model_base",
    "register_model",
    "run_record",
    "set_alias",
    "set_code_model",
    "set_version_tags",
    "start_run",
    "version_details",
]


def default_tracking_uri(root: str | Path) -> str:
    """Local SQLite tracking store under ``root`` (created on first use)."""
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


# --------------------------------------------------------------------------- store checks
def _sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for a server or another database)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])


def check_store(tracking_uri: str, *, must_exist: bool = False, write: bool = False) -> None:
    """Fail with a coded error, naming the file, before anything relies on a local store.

    ``must_exist``: a missing (or empty) database is ModelNotFoundError (exit 4) instead of
    MLflow silently creating an empty one. A file that is not an SQLite database, or one
    without MLflow's tables, is TrackingStoreError (exit 7). ``write``: the store must take a
    write (tried inside a transaction that is rolled back), else TrackingStoreError. A
    tracking server is not checked here: MLflow reports its own errors.
    """
    path = _sqlite_path(tracking_uri)
    if path is None:
        return
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        if must_exist:
            raise ModelNotFoundError(
                f"no tracking store at {path}: expected the MLflow database that segml train "
                f"created (with the registered models); found {_found(path)}. Train first "
                "(segml train --config C), or point tracking_uri (or output_dir) in the "
                "config at the folder that holds mlflow.db."
            )
        return
    if path.is_dir():
        raise TrackingStoreError(
            f"the tracking store {path} is a folder; expected an MLflow SQLite database file. "
            "Point tracking_uri at the file (sqlite:///<folder>/mlflow.db)."
        )
    _check_database(path)
    if write:
        _check_writable(path)


def _found(path: Path) -> str:
    return "an empty file" if path.exists() else "no such file"


def _check_database(path: Path) -> None:
    import sqlite3

    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as con:
            tables = {
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
    except sqlite3.DatabaseError as err:
        raise TrackingStoreError(
            f"the tracking store {path} cannot be read: {err}. Expected an MLflow SQLite "
            "database; restore it from a backup, or point tracking_uri (or output_dir) at "
            "another store (segml train creates a new one)."
        ) from err
    if tables and "experiments" not in tables:
        raise TrackingStoreError(
            f"{path} is an SQLite database but not an MLflow tracking store: no 'experiments' "
            f"table; found {sorted(tables)[:5]}. Point tracking_uri (or output_dir) at the "
            "mlflow.db that segml train created."
        )


def _check_writable(path: Path) -> None:
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(path, timeout=20, isolation_level=None)) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute("CREATE TABLE segml_write_probe (x INTEGER)")
            finally:
                con.execute("ROLLBACK")
    except sqlite3.OperationalError as err:
        if "locked" in str(err):  # busy with another writer: writable, just slow
            return
        unwritable = path if not os.access(path, os.W_OK) else path.parent
        raise TrackingStoreError(
            f"the tracking store {path} is read-only ({err}; {unwritable} is not writable), "
            "and segml records every job's run there. Make it writable for this user, or "
            "point tracking_uri (or output_dir) at a writable copy."
        ) from err


def _is_store_failure(err: BaseException) -> bool:
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(err.__cause__, SQLAlchemyError)


@contextlib.contextmanager
def _store_errors(tracking_uri: str) -> Iterator[None]:
    """MLflow's database failures as TrackingStoreError naming the store. MLflow logs them
    at ERROR with a traceback; that log is silenced here (``--debug`` shows the cause)."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    db_log = logging.getLogger("mlflow.store.db.utils")
    level, db_log.level = db_log.level, logging.CRITICAL
    try:
        yield
    except (MlflowException, SQLAlchemyError) as err:
        if isinstance(err, MlflowException) and not _is_store_failure(err):
            raise
        where = _sqlite_path(tracking_uri) or tracking_uri
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TrackingStoreError(
            f"the tracking store {where} failed: {first}. Check that it is writable and "
            "not corrupt (rerun with --debug for the details)."
        ) from err
    finally:
        db_log.setLevel(level)


def _client(tracking_uri: str, *, write: bool = False) -> Any:
    import mlflow

    check_store(tracking_uri, write=write)

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _experiment_id(client: Any, name: str, tracking_uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if tracking_uri.startswith("sqlite:///"):
        store = Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts" / name
        location = store.resolve().as_uri()
    return str(client.create_experiment(name, artifact_location=location))


@dataclass
class RunLogger:
    """Logs into one MLflow run; every method is a thin, typed wrapper."""

    run_id: str
    client: Any

    def params(self, values: Mapping[str, Any]) -> None:
        import mlflow

        mlflow.log_params({k: str(v)[:6000] for k, v in values.items()})

    def metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        import mlflow

        clean = {k: float(v) for k, v in values.items() if v is not None and v == v}
        mlflow.log_metrics(clean, step=step)

    def tags(self, values: Mapping[str, Any]) -> None:
        import mlflow

        mlflow.set_tags({k: str(v) for k, v in values.items()})

    def artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        import mlflow

        mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def figure(self, figure: Any, name: str) -> None:
        import mlflow

        mlflow.log_figure(figure, name)

    def json(self, payload: Any, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(name).name
            path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
            parent = str(Path(name).parent)
            self.artifact(path, None if parent == "." else parent)


@contextlib.contextmanager
def start_run(
    *, tracking_uri: str, experiment: str, run_name: str, tags: Mapping[str, Any] | None = None
) -> Iterator[RunLogger]:
    """Open a run in ``experiment``; it is marked FAILED if the block raises. A store that
    cannot take the run (read-only, corrupt) raises TrackingStoreError before the block runs."""
    import mlflow

    client = _client(tracking_uri, write=True)
    with _store_errors(tracking_uri):
        experiment_id = _experiment_id(client, experiment, tracking_uri)
        with mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name,
            tags={k: str(v) for k, v in (tags or {}).items()},
        ) as run:
            yield RunLogger(run.info.run_id, client)


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    run_id: str
    source: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def register_model(*, tracking_uri: str, model_uri: str, name: str) -> ModelRef:
    """Register a logged model under ``name``; returns the new version."""
    import mlflow

    _client(tracking_uri, write=True)
    said = io.StringIO()  # MLflow prints "Successfully registered model ..." to stderr
    with _store_errors(tracking_uri), contextlib.redirect_stderr(said):
        mv = mlflow.register_model(model_uri, name)
    for line in said.getvalue().splitlines():
        logging.getLogger(__name__).debug("mlflow: %s", line)  # shown with segml --verbose
    return ModelRef(name, str(mv.version), str(mv.run_id), str(mv.source))


def set_alias(*, tracking_uri: str, name: str, alias: str, version: str) -> None:
    client = _client(tracking_uri, write=True)
    with _store_errors(tracking_uri):
        client.set_registered_model_alias(name, alias, version)


def find_model(*, tracking_uri: str, name: str, alias: str) -> ModelRef | None:
    """The version of ``name`` that carries ``alias``, or None."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    with _store_errors(tracking_uri):
        try:
            mv = client.get_model_version_by_alias(name, alias)
        except MlflowException as err:
            if _is_store_failure(err):
                raise
            return None
    return ModelRef(name, str(mv.version), str(mv.run_id), str(mv.source))


def load_pyfunc(*, tracking_uri: str, name: str, alias: str) -> tuple[Any, ModelRef]:
    """Load the ``alias`` version of registered model ``name`` as an MLflow pyfunc."""
    import mlflow

    ref = find_model(tracking_uri=tracking_uri, name=name, alias=alias)
    if ref is None:
        raise ModelNotFoundError(
            f"no model {name!r} with alias {alias!r} in the registry at {tracking_uri}; "
            f"train one first (segml train --config C) or point tracking_uri at the right store."
        )
    # Loaded from a temporary copy: loading a models:/ URI straight from a local store writes
    # a registered_model_meta file into the model's folder, which fails on read-only artifacts.
    # The segml pyfuncs read their artifacts into memory in load_context, so the copy can go.
    with tempfile.TemporaryDirectory(prefix="segml-model-") as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*[Tt]ype hint", category=UserWarning)
        return mlflow.pyfunc.load_model(f"models:/{name}/{ref.version}", dst_path=tmp), ref


# --------------------------------------------------------------------------- models from code
def python_model_base() -> Any:
    """MLflow's ``PythonModel`` base class, for a models-from-code file to subclass."""
    import mlflow.pyfunc

    return mlflow.pyfunc.PythonModel


def set_code_model(model: Any) -> None:
    """Declare the model object of a models-from-code file (``mlflow.models.set_model``)."""
    import mlflow.models

    mlflow.models.set_model(model)


def log_code_model(
    *,
    code_path: str | Path,
    artifacts: Mapping[str, str | Path],
    input_example: Any,
    output_example: Any,
    params: Mapping[str, Any] | None = None,
    pip_requirements: list[str] | None = None,
    code_paths: list[str] | None = None,
    optional_columns: Mapping[str, str] | None = None,
    name: str = "model",
) -> str:
    """Log a pyfunc defined by a code file (MLflow's models-from-code) in the active run.

    Nothing is pickled: MLflow stores the code file as text next to the ``artifacts`` (here
    LightGBM's model text and a JSON file) and the ``code_paths`` (put first on ``sys.path``
    when the model loads; segml ships a copy of its own source there). ``optional_columns``
    (name -> MLflow type, e.g. ``"double"``) are added to the signature as inputs a request
    may leave out. Returns the logged model's URI.
    """
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    signature = infer_signature(input_example, output_example, params=dict(params or {}))
    _add_optional_inputs(signature, optional_columns or {})
    with warnings.catch_warnings():  # the signature is explicit; MLflow's type-hint advice is moot
        warnings.filterwarnings("ignore", message=r".*[Tt]ype hint", category=UserWarning)
        info = _log_pyfunc(
            mlflow,
            code_path,
            artifacts,
            signature,
            input_example,
            pip_requirements,
            name,
            code_paths,
        )
    return str(info.model_uri)


def _add_optional_inputs(signature: Any, columns: Mapping[str, str]) -> None:
    """With ``columns`` given: they are optional inputs (added when the example lacks them),
    every other input column is required (whether or not the example had a missing value)."""
    from mlflow.types import ColSpec, Schema

    if not columns:
        return
    specs: list[Any] = [
        ColSpec(spec.type, spec.name, required=spec.name not in columns)
        for spec in signature.inputs.inputs
    ]
    known = {spec.name for spec in specs}
    specs += [ColSpec(t, col, required=False) for col, t in columns.items() if col not in known]
    signature.inputs = Schema(specs)


def _log_pyfunc(
    mlflow: Any,
    code_path: Any,
    artifacts: Any,
    signature: Any,
    example: Any,
    reqs: Any,
    name: str,
    code_paths: list[str] | None,
) -> Any:
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(code_path),
        artifacts={k: str(v) for k, v in artifacts.items()},
        signature=signature,
        input_example=example,
        pip_requirements=reqs,
        code_paths=code_paths,
    )


def load_run_json(*, tracking_uri: str, run_id: str, path: str) -> Any | None:
    """A JSON artifact of a run (e.g. a model's training reference profile), or None."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if _store_missing(tracking_uri):
        return None
    _client(tracking_uri)
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{path}")
    except (MlflowException, OSError):
        return None


def _store_missing(tracking_uri: str) -> bool:
    """True for a local SQLite store whose file does not exist (read-only look-ups then find
    nothing instead of letting MLflow create an empty store)."""
    path = _sqlite_path(tracking_uri)
    return path is not None and not path.is_file()


def run_record(*, tracking_uri: str, run_id: str) -> dict[str, Any] | None:
    """A run's metrics, parameters and tags, or None when the run (or the store) is not there.
    Read-only: nothing is written to the store."""
    from mlflow.exceptions import MlflowException

    if _store_missing(tracking_uri):
        return None
    try:
        run = _client(tracking_uri).get_run(run_id)
    except (MlflowException, OSError):
        return None
    return {
        "metrics": dict(run.data.metrics),
        "params": dict(run.data.params),
        "tags": dict(run.data.tags),
        "name": run.info.run_name,
    }


def load_run_artifact(*, tracking_uri: str, run_id: str, path: str) -> bytes | None:
    """The bytes of one artifact file of a run (e.g. ``plots/shap_summary.png``), or None.
    Read-only: the artifact is copied to a temporary folder."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if _store_missing(tracking_uri):
        return None
    _client(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=tmp, tracking_uri=tracking_uri
            )
        except (MlflowException, OSError):
            return None
        file = Path(local)
        return file.read_bytes() if file.is_file() else None


# --------------------------------------------------------------------------- model versions
@dataclass(frozen=True)
class VersionDetails:
    """What the registry holds about one model version besides its files."""

    name: str
    version: str
    tags: dict[str, str]
    description: str
    created: Any  # datetime.datetime (UTC) of the registration
    aliases: tuple[str, ...]


def set_version_tags(
    *,
    tracking_uri: str,
    name: str,
    version: str,
    tags: Mapping[str, Any],
    description: str | None = None,
) -> None:
    """Set ``tags`` (values as strings) and, when given, the description of a model version."""
    client = _client(tracking_uri)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))
    if description is not None:
        client.update_model_version(name, version, description=description)


def version_details(*, tracking_uri: str, name: str, version: str) -> VersionDetails:
    """Tags, description, registration time and aliases of model version ``name`` ``version``."""
    import datetime as dt

    mv = _client(tracking_uri).get_model_version(name, version)
    created = dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=dt.UTC)
    aliases = tuple(getattr(mv, "aliases", ()) or ())
    return VersionDetails(
        name,
        str(mv.version),
        dict(mv.tags or {}),
        mv.description or "",
        created.replace(tzinfo=None),
        aliases,
    )


def delete_alias(*, tracking_uri: str, name: str, alias: str) -> None:
    """Remove ``alias`` from registered model ``name`` (nothing happens when it is not set)."""
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):
        _client(tracking_uri).delete_registered_model_alias(name, alias)

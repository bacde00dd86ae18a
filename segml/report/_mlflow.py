"""Read-only MLflow look-ups the report needs and ``segml.tracking`` does not offer yet.

``segml.tracking`` is meant to be the one module that talks to MLflow; these two functions
belong there (``tracking.run_record`` and ``tracking.load_run_artifact``) and live here only
until they are moved. Nothing here writes to the store.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["load_run_artifact", "run_record"]


def _client(tracking_uri: str) -> Any:
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def run_record(*, tracking_uri: str, run_id: str) -> dict[str, Any] | None:
    """A run's metrics, parameters and tags, or None when the run is not in the store."""
    from mlflow.exceptions import MlflowException

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
    """The bytes of one artifact file of a run (e.g. ``plots/shap_summary.png``), or None."""
    import mlflow
    from mlflow.exceptions import MlflowException

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

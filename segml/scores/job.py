"""One scoring run: load the registered champion models, score every customer known at the
cutoff (calibrated probabilities, expected value, deciles, reason codes), and check drift
against each model's training reference.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from segml import tracking
from segml.engine import parse_as_of
from segml.errors import FutureModelError, ModelNotFoundError
from segml.models.propensity import PropensityModel
from segml.monitoring import drift_report
from segml.schema import ShopData
from segml.scores.backend import PolarsBackend, backend_for
from segml.scores.inputs import cluster_inputs, feature_groups

__all__ = [
    "REFERENCE_ARTIFACT",
    "Champions",
    "assign_clusters",
    "check_point_in_time",
    "cluster_inputs",
    "data_end",
    "feature_groups",
    "load_champions",
    "monitor",
    "score_shop",
]

REFERENCE_ARTIFACT = "reference/profile.json"


@dataclass
class Champions:
    """The models a scoring run uses, with their registry versions and training references."""

    models: dict[str, PropensityModel]
    refs: dict[str, tracking.ModelRef]
    references: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def versions(self) -> dict[str, dict[str, str]]:
        return {
            t: {"name": r.name, "version": r.version, "run_id": r.run_id}
            for t, r in self.refs.items()
        }


def load_champions(
    *,
    tracking_uri: str,
    prefix: str,
    targets: Sequence[str],
    alias: str = "champion",
    missing: str = "error",
) -> Champions:
    """Load ``<prefix>-<target>@<alias>`` for each target. A missing one is an error (exit 4),
    or with ``missing="skip"`` left out and listed in ``skipped`` (all missing is an error)."""
    absent = [
        t
        for t in targets
        if tracking.find_model(tracking_uri=tracking_uri, name=f"{prefix}-{t}", alias=alias) is None
    ]
    skipped = absent if missing == "skip" and len(absent) < len(targets) else []
    if absent and not skipped:
        raise ModelNotFoundError(
            f"no {alias!r} model for {absent} in the registry at {tracking_uri} (looked for "
            f"{[f'{prefix}-{t}@{alias}' for t in absent]}). Train them first with "
            "`segml train --config C`, or list only the targets you have under scoring.targets."
        )
    champions = Champions({}, {}, skipped=list(skipped))
    for target in (t for t in targets if t not in skipped):
        pyfunc, ref = tracking.load_pyfunc(
            tracking_uri=tracking_uri, name=f"{prefix}-{target}", alias=alias
        )
        champions.models[target] = pyfunc.unwrap_python_model().model
        champions.refs[target] = ref
        champions.references[target] = tracking.load_run_json(
            tracking_uri=tracking_uri, run_id=ref.run_id, path=REFERENCE_ARTIFACT
        )
    return champions


def data_end(model: PropensityModel) -> dt.datetime | None:
    """The end of the last label window the model's training run read (its backtest window):
    ``metadata_["data_end"]``, or for models trained before it was recorded the
    ``test_label_window_end`` date of their split; None when neither is there."""
    meta = getattr(model, "metadata_", {}) or {}
    for key in ("data_end", "test_label_window_end"):
        if meta.get(key):
            return parse_as_of(meta[key])
    return None


def check_point_in_time(
    champions: Champions, *, as_of: Any, tracking_uri: str, allow: bool = False
) -> list[dict[str, str]]:
    """The backfill guard: the models whose training data reaches past ``as_of``.

    A model qualifies when its last label window ends after ``as_of`` (``data_end``); a model
    with no recorded span qualifies when it was registered after ``as_of`` (the registration
    time bounds what it can have read; this refuses backfills with such models but never a
    scheduled run with a model registered before it). Raises FutureModelError (exit 9) unless
    ``allow``; returns the list (one dict per model) for the manifest."""
    cut = parse_as_of(as_of)
    found = []
    for target, model in champions.models.items():
        ref = champions.refs[target]
        end, basis = data_end(model), "last label-window end"
        if end is None:
            created = tracking.version_details(
                tracking_uri=tracking_uri, name=ref.name, version=ref.version
            ).created
            end, basis = created, "no training span recorded; registered"
        if end > cut:
            found.append(
                {
                    "target": target,
                    "name": ref.name,
                    "version": ref.version,
                    "data_end": f"{end:%Y-%m-%dT%H:%M:%S}",
                    "basis": basis,
                }
            )
    if found and not allow:
        raise FutureModelError(_future_message(found, cut))
    return found


def _future_message(found: list[dict[str, str]], cut: dt.datetime) -> str:
    models = "; ".join(
        f"{f['name']} version {f['version']} ({f['basis']} {f['data_end'][:10]})" for f in found
    )
    return (
        f"refusing to score as of {cut:%Y-%m-%d} with model(s) trained on data past that date: "
        f"{models}, after the as-of {cut:%Y-%m-%d}. A backfill with them would use the future. "
        "Score with models trained by that date (segml train --now DATE, then point the "
        "scoring alias at them), or pass --allow-future-models to score anyway (recorded in "
        "the manifest)."
    )


def score_shop(
    shop: ShopData,
    champions: Champions,
    *,
    as_of: Any,
    chunk_size: int = 250_000,
    reasons_top_k: int = 3,
    reasons_for: Any = None,
) -> Any:
    """Model inputs (features + BG/NBD columns) joined with every score column, on the shop's
    engine (``segml.scores.backend``): a Polars frame, or for a Spark shop a Spark DataFrame
    (``reasons_for`` then None, every customer, or False, none).

    Models trained with the same feature settings share one feature build.
    """
    return backend_for(shop.kind).score(
        shop,
        champions.models,
        as_of=as_of,
        chunk_size=chunk_size,
        reasons_top_k=reasons_top_k,
        reasons_for=reasons_for,
    )


def assign_clusters(
    frame: pl.DataFrame,
    shop: ShopData,
    clusterer: Any,
    *,
    as_of: Any,
    feature_params: Mapping[str, Any],
    frame_params: Mapping[str, Any] | None = None,
    chunk_size: int = 250_000,
) -> pl.DataFrame:
    """Join ``cluster__id``/``cluster__name`` from ``clusterer`` to a Polars ``frame``
    (``segml.scores.backend.PolarsBackend.assign_clusters``)."""
    return PolarsBackend().assign_clusters(
        frame,
        shop,
        clusterer,
        as_of=as_of,
        feature_params=feature_params,
        frame_params=frame_params,
        chunk_size=chunk_size,
    )


def monitor(frame: pl.DataFrame, champions: Champions, *, warn: float, fail: float) -> pd.DataFrame:
    """PSI/KS of every profiled column (features and scores) against each model's reference.

    Models without a stored reference are reported with status ``no_reference``. Columns are
    converted to pandas ``_DRIFT_COLUMNS`` at a time, so memory holds a few columns, not a copy
    of the table.
    """
    reports = []
    for target, profile in champions.references.items():
        if profile is None:
            row = dict(column="*", psi=np.nan, ks=np.nan, ks_pvalue=np.nan, status="no_reference")
            reports.append(pd.DataFrame([row]).assign(model=target))
            continue
        names = list(profile["columns"])
        for start in range(0, len(names), _DRIFT_COLUMNS):
            refs = {n: profile["columns"][n] for n in names[start : start + _DRIFT_COLUMNS]}
            pdf = frame.select([n for n in refs if n in frame.columns]).to_pandas()
            report = drift_report({**profile, "columns": refs}, pdf, warn=warn, fail=fail)
            reports.append(report.assign(model=target))
    out = pd.concat(reports, ignore_index=True)
    return out[["model", "column", "psi", "ks", "ks_pvalue", "status"]]


_DRIFT_COLUMNS = 8

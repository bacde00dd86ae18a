"""One scoring run: load the registered champion models, score every customer known at the
cutoff (calibrated probabilities, expected value, deciles, reason codes), and check drift
against each model's training reference.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from segml import tracking
from segml.engine import attach, parse_as_of
from segml.errors import DataError, FutureModelError, ModelNotFoundError
from segml.features import FeatureBuilder
from segml.models.propensity import PropensityModel
from segml.models.scoring import model_inputs, score_customers
from segml.monitoring import drift_report
from segml.schema import ShopData

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
            created = tracking.version_details(tracking_uri=tracking_uri, name=ref.name,
                                               version=ref.version).created  # fmt: skip
            end, basis = created, "no training span recorded; registered"
        if end > cut:
            found.append({"target": target, "name": ref.name, "version": ref.version,
                          "data_end": f"{end:%Y-%m-%dT%H:%M:%S}", "basis": basis})  # fmt: skip
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


def _spec(model: PropensityModel) -> str:
    meta = model.metadata_
    return json.dumps(
        {"features": meta.get("features", {}), "horizons": meta.get("btyd_horizons", [])},
        sort_keys=True,
        default=list,
    )


def feature_groups(
    models: Mapping[str, PropensityModel],
) -> list[tuple[dict[str, Any], list[str]]]:
    """Targets grouped by the feature settings their models were trained with:
    ``(params, targets)`` with ``params = {"features": FeatureBuilder kwargs, "horizons": [...]}``.
    """
    groups: dict[str, list[str]] = {}
    for target, model in models.items():
        groups.setdefault(_spec(model), []).append(target)
    out = []
    for spec, targets in groups.items():
        params = json.loads(spec)
        features = params["features"]
        features["windows_days"] = tuple(features.get("windows_days", (7, 30, 90, 365)))
        out.append((params, targets))
    return out


def score_shop(
    shop: ShopData,
    champions: Champions,
    *,
    as_of: Any,
    chunk_size: int = 250_000,
    reasons_top_k: int = 3,
    reasons_for: Any = None,
) -> Any:
    """Model inputs (features + BG/NBD columns) joined with every score column.

    Models trained with the same feature settings share one feature build. For a Spark shop
    everything runs on Spark and the result is a Spark DataFrame (``segml.scores.spark``);
    ``reasons_for`` is then None (every customer) or False (none).
    """
    if shop.kind == "spark":
        from segml.scores import spark

        if reasons_for is not None and reasons_for is not False:
            raise DataError(
                "on Spark, reasons_for must be None (every customer) or False (none); got a "
                f"{type(reasons_for).__name__}."
            )
        return spark.score_shop(
            shop, champions.models, as_of=as_of, reasons_top_k=reasons_top_k,
            reasons=reasons_for is None,
        )  # fmt: skip
    frame: pl.DataFrame | None = None
    for params, targets in feature_groups(champions.models):
        inputs = model_inputs(
            shop, as_of=as_of, feature_params=params["features"], horizons=params["horizons"]
        )
        scores = score_customers(
            inputs,
            {t: champions.models[t] for t in targets},
            chunk_size=chunk_size,
            reasons_top_k=reasons_top_k,
            reasons_for=reasons_for,
        )
        part = attach(inputs, scores)
        frame = (
            part
            if frame is None
            else frame.join(
                part.select("customer_id", *[c for c in part.columns if c not in frame.columns]),
                on="customer_id",
                how="full",
                coalesce=True,
            )
        )
    assert frame is not None
    return frame if frame["customer_id"].is_sorted() else frame.sort("customer_id")


def cluster_inputs(
    frame: Any, shop: ShopData, clusterer: Any, *, as_of: Any, feature_params: dict[str, Any]
) -> tuple[Any, list[str]]:
    """The frame the clusterer reads and its columns (``customer_id`` first): ``frame`` itself,
    or, when the clusterer was fitted on affinity columns of categories the propensity models do
    not use, features rebuilt with the clusterer's own category list (a native frame of the
    shop's engine)."""
    needed = [str(c) for c in clusterer.preprocessor_.feature_names_in_]
    columns = ["customer_id", *[c for c in needed if c != "customer_id"]]
    if set(needed) <= set(frame.columns):
        return frame, columns
    prefix = "affinity__spend_share_"
    cats = [c[len(prefix) :] for c in needed if c.startswith(prefix) and c != prefix + "other"]
    builder = FeatureBuilder(**feature_params, top_k_categories=max(len(cats), 1),
                             categories=cats).fit(shop, as_of=as_of)  # fmt: skip
    return builder.transform_table(shop, as_of=as_of), columns


def assign_clusters(
    frame: pl.DataFrame,
    shop: ShopData,
    clusterer: Any,
    *,
    as_of: Any,
    feature_params: dict[str, Any],
    chunk_size: int = 250_000,
) -> pl.DataFrame:
    """Join ``cluster__id``/``cluster__name`` from ``clusterer``, assigned ``chunk_size``
    customers at a time (only the clusterer's columns are converted to pandas)."""
    inputs, columns = cluster_inputs(frame, shop, clusterer, as_of=as_of,
                                     feature_params=feature_params)  # fmt: skip
    table = inputs if isinstance(inputs, pl.DataFrame) else pl.from_pandas(inputs)
    table = table.select(columns)
    parts = [
        pl.from_pandas(clusterer.assign(table.slice(start, chunk_size).to_pandas()))
        for start in range(0, max(table.height, 1), chunk_size)  # one (empty) chunk for none
    ]
    assigned = pl.concat(parts).with_columns(pl.col("cluster__id").cast(pl.Int32))
    return attach(frame, assigned)


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

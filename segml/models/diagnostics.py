"""The BTYD diagnostics people know (lifetimes' plots and the BG/NBD paper's figures), as tables.

- ``frequency_recency_matrix`` / ``probability_alive_matrix``: a fitted BG/NBD's expected
  purchases in the next ``t`` days and its P(alive), over a grid of frequency (repeat purchases)
  x recency (age at the last purchase), for customers of age ``T`` (lifetimes'
  ``plot_frequency_recency_matrix`` and ``plot_probability_alive_matrix``);
- ``calibration_holdout_summary`` -> ``calibration_vs_holdout``: customers grouped by their
  calibration-period repeat purchases (0..6+), the mean of what they bought in the holdout
  against the mean the calibration fit predicted ([FHL05] figure 3);
- ``cumulative_transactions``: cumulative repeat transactions of the calibration cohort, day by
  day over calibration and holdout, actual against the fit's expectation ([FHL05] figure 2);
- ``btyd_diagnostics``: all of that at one cutoff as one small JSON-ready dict (what a training
  run logs as ``DIAGNOSTICS_ARTIFACT`` and the report draws);
- ``value_deciles``: predicted against actual value per tenth of the customers, several models
  side by side.

Point in time: the fit and every calibration column read only the rows strictly before the
cutoff (``rfm_summary`` as of the day before); the holdout columns read ``[cutoff, cutoff +
holdout_days)``. The figures are in ``segml.models.diagnostic_plots``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
import polars as pl

from segml.engine import as_of_days, collect, parse_as_of, to_polars
from segml.errors import ConfigError, DataError
from segml.features import rfm_summary
from segml.features.summary import _transactions
from segml.models.btyd import BetaGeoModel
from segml.models.dataset import btyd_fit, btyd_from_params
from segml.models.metrics import decile_table
from segml.schema import prepare

__all__ = [
    "DIAGNOSTICS_ARTIFACT",
    "btyd_diagnostics",
    "calibration_holdout_summary",
    "calibration_vs_holdout",
    "cumulative_transactions",
    "frequency_recency_matrix",
    "is_constant",
    "probability_alive_matrix",
    "value_deciles",
]

DIAGNOSTICS_ARTIFACT = "tables/btyd_diagnostics.json"
_EPOCH = dt.datetime(1970, 1, 1)


def _bg(model: Any) -> BetaGeoModel:
    """A fitted BetaGeoModel from itself, ``btyd_params`` output or ``btyd_fit`` output."""
    if isinstance(model, BetaGeoModel):
        return model
    if isinstance(model, Mapping):
        params = model if "bg" in model else model.get("params")
        if isinstance(params, Mapping) and isinstance(params.get("bg"), Mapping):
            fitted = btyd_from_params(dict(params))
            if fitted is not None:
                return fitted[0]
    raise ConfigError(
        "model must be a fitted segml BetaGeoModel, the dict btyd_params gives ({'bg': {'r', "
        "'alpha', 'a', 'b'}, 'gg': ...}) or the dict btyd_fit gives; got "
        f"{type(model).__name__}"
        f"{' without fitted parameters' if isinstance(model, Mapping) else ''}."
    )


def _grid(max_frequency: int, max_recency: float, n_recency: int) -> tuple[np.ndarray, np.ndarray]:
    if max_frequency < 0 or not math.isfinite(max_recency) or max_recency < 0 or n_recency < 2:
        raise ConfigError(
            "max_frequency and max_recency must be >= 0 and n_recency >= 2; got "
            f"max_frequency={max_frequency!r}, max_recency={max_recency!r}, "
            f"n_recency={n_recency!r}."
        )
    frequency = np.arange(int(max_frequency) + 1, dtype=np.float64)
    recency = np.unique(np.floor(np.linspace(0.0, float(max_recency), n_recency)))
    return frequency, recency


def _matrix(values: Any, frequency: np.ndarray, recency: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(values, index=frequency.astype(int), columns=recency)
    frame.index.name, frame.columns.name = "frequency", "recency"
    return frame


def _cells(max_frequency: int, max_recency: float, n_recency: int) -> tuple[Any, ...]:
    """The grid's cells as an rfm_summary-like frame (age ``T`` = ``max_recency``, as in
    lifetimes), and a mask of the impossible cells (no repeat purchase but recency > 0)."""
    frequency, recency = _grid(max_frequency, max_recency, n_recency)
    f, r = np.meshgrid(frequency, recency, indexing="ij")
    valid = ~((f == 0) & (r > 0))
    rows = pd.DataFrame({
        "frequency": f[valid], "recency": r[valid], "T": np.full(valid.sum(), float(max_recency)),
    })  # fmt: skip
    return frequency, recency, valid, rows


def frequency_recency_matrix(
    model: Any, *, t: float, max_frequency: int, max_recency: float, n_recency: int = 40
) -> pd.DataFrame:
    """Expected purchases in the next ``t`` days per frequency (rows, 0..``max_frequency``) and
    recency (columns, up to ``n_recency`` days from 0 to ``max_recency``), for customers of age
    ``T = max_recency`` days; NaN where frequency is 0 and recency > 0 (no such customer).

    ``model``: a fitted ``BetaGeoModel`` or its parameters (``btyd_params`` / ``btyd_fit``)."""
    bg = _bg(model)
    frequency, recency, valid, rows = _cells(max_frequency, max_recency, n_recency)
    values = np.full(valid.shape, np.nan)
    values[valid] = bg.expected_purchases(rows, t=t)
    return _matrix(values, frequency, recency)


def probability_alive_matrix(
    model: Any, *, max_frequency: int, max_recency: float, n_recency: int = 40
) -> pd.DataFrame:
    """P(alive) per frequency x recency on the grid of ``frequency_recency_matrix``."""
    bg = _bg(model)
    frequency, recency, valid, rows = _cells(max_frequency, max_recency, n_recency)
    values = np.full(valid.shape, np.nan)
    values[valid] = bg.probability_alive(rows)
    return _matrix(values, frequency, recency)


def is_constant(matrix: pd.DataFrame, *, tolerance: float = 0.01) -> bool:
    """True when every defined cell lies within ``tolerance`` of every other (a matrix that
    ranks nobody: e.g. P(alive) close to 1 everywhere from a degenerate BG/NBD fit)."""
    values = matrix.to_numpy(dtype=np.float64)
    values = values[np.isfinite(values)]
    return values.size == 0 or float(values.max() - values.min()) <= tolerance


def _pandas(summary: Any) -> pd.DataFrame:
    if isinstance(summary, (pd.DataFrame, dict)):
        return pd.DataFrame(summary)
    return to_polars(summary).to_pandas()  # Polars, or Spark collected on the driver


def _check_holdout(holdout_days: Any) -> int:
    if isinstance(holdout_days, bool) or not isinstance(holdout_days, (int, float)):
        raise ConfigError(
            f"holdout_days must be a whole number of days >= 1; got {holdout_days!r}."
        )
    if holdout_days < 1 or holdout_days != int(holdout_days):
        raise ConfigError(
            f"holdout_days must be a whole number of days >= 1; got {holdout_days!r}."
        )
    return int(holdout_days)


def calibration_holdout_summary(
    data: Any, *, cutoff: Any, holdout_days: int, config: Any = None
) -> pd.DataFrame:
    """Per customer with a purchase before ``cutoff``: the calibration ``rfm_summary``
    (``frequency``, ``recency``, ``T``, ``monetary_value``, daily periods, rows strictly before
    the cutoff only) and ``frequency_holdout``, the days with a purchase in ``[cutoff, cutoff +
    holdout_days)`` (lifetimes' ``calibration_and_holdout_data``)."""
    days = _check_holdout(holdout_days)
    shop = prepare(data, config=config)
    cut = parse_as_of(cutoff)
    cal = _pandas(rfm_summary(shop, observation_period_end=cut - dt.timedelta(days=1)))
    full = _pandas(rfm_summary(shop, observation_period_end=cut + dt.timedelta(days=days - 1)))
    later = full.set_index("customer_id")["frequency"].rename("_full")
    out = cal.join(later, on="customer_id", how="left")
    out["frequency_holdout"] = out.pop("_full") - out["frequency"]
    return out.reset_index(drop=True)


def calibration_vs_holdout(
    summary: pd.DataFrame, model: Any, *, holdout_days: int, max_frequency: int = 6
) -> pd.DataFrame:
    """Customers grouped by calibration repeat purchases (0..``max_frequency``, the last group
    "N+"): ``customers``, ``actual`` (mean holdout purchases) and ``predicted`` (mean of the
    model's conditional expectation over ``holdout_days``), one row per group."""
    days = _check_holdout(holdout_days)
    missing = {"frequency", "recency", "T", "frequency_holdout"} - set(summary.columns)
    if missing:
        raise DataError(
            f"summary is missing columns {sorted(missing)}; found {list(summary.columns)}. "
            "Build it with calibration_holdout_summary."
        )
    bg = _bg(model)
    group = np.minimum(summary["frequency"].to_numpy(dtype=np.float64), max_frequency)
    frame = pd.DataFrame({
        "group": group.astype(int),
        "actual": summary["frequency_holdout"].to_numpy(dtype=np.float64),
        "predicted": bg.expected_purchases(summary, t=days) if len(summary) else [],
    })  # fmt: skip
    out = frame.groupby("group").agg(
        customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    out = out.reindex(range(max_frequency + 1)).reset_index()
    out["customers"] = out["customers"].fillna(0).astype(int)
    out.insert(0, "frequency", [str(g) for g in out.pop("group")])
    out.loc[out.index[-1], "frequency"] = f"{max_frequency}+"
    return out


def _purchase_days(shop: Any, end_day: int) -> nw.LazyFrame[Any]:
    """One row per customer and day with a purchase up to ``end_day`` (inclusive), with the
    customer's first purchase day (the purchases ``rfm_summary`` counts)."""
    return (
        _transactions(shop, zero_amount="transaction")
        .with_columns(nw.col("t").floor().alias("day"))
        .filter(nw.col("day") <= end_day)
        .group_by("customer_id", "day")
        .agg(nw.len().alias("_n"))
        .with_columns(nw.col("day").min().over("customer_id").alias("first"))
    )


def cumulative_transactions(
    data: Any, model: Any, *, cutoff: Any, holdout_days: int, config: Any = None
) -> pd.DataFrame:
    """Day by day from the first purchase to the end of the holdout: the calibration cohort's
    (customers with a purchase before ``cutoff``) cumulative repeat transactions, ``actual``,
    and the model's ``expected``, the sum over customers of the expected repeat purchases
    since their first (unconditional ``E[X(t)]``); ``period`` is calibration or holdout."""
    days = _check_holdout(holdout_days)
    bg, shop = _bg(model), prepare(data, config=config)
    cut_day = math.floor(as_of_days(parse_as_of(cutoff)))
    rows = _purchase_days(shop, cut_day + days - 1).filter(nw.col("first") < cut_day)
    first_days = rows.filter(nw.col("day") == nw.col("first"))  # one row per customer
    births = collect(first_days.group_by("first").agg(nw.len().alias("n")))
    repeats = collect(
        rows.filter(nw.col("day") > nw.col("first")).group_by("day").agg(nw.len().alias("n"))
    )
    if births.shape[0] == 0:
        raise DataError(f"no purchase before the cutoff {cutoff}: no calibration cohort to plot.")
    start = int(births["first"].to_numpy().min())
    span = cut_day + days - start
    born = np.zeros(span)
    np.add.at(born, births["first"].to_numpy().astype(int) - start, births["n"].to_numpy())
    bought = np.zeros(span)
    np.add.at(bought, repeats["day"].to_numpy().astype(int) - start, repeats["n"].to_numpy())
    expected_x = np.array([bg.expected_purchases_unconditional(float(t)) for t in range(span)])
    expected = np.convolve(born, expected_x)[:span]
    day = np.arange(start, start + span)
    return pd.DataFrame({
        "date": [(_EPOCH + dt.timedelta(days=int(d))).date() for d in day],
        "period": np.where(day < cut_day, "calibration", "holdout"),
        "actual": np.cumsum(bought),
        "expected": expected,
    })  # fmt: skip


def btyd_diagnostics(
    data: Any,
    *,
    cutoff: Any,
    holdout_days: float,
    max_fit_rows: int = 200_000,
    seed: int = 0,
    config: Any = None,
) -> dict[str, Any]:
    """The calibration/holdout diagnostics at ``cutoff``, JSON-ready: the BG/NBD fitted on the
    rows before the cutoff (``btyd_fit``, as the baseline and features are), the
    ``calibration_vs_holdout`` groups, the daily ``cumulative_transactions`` and the ranges
    for the matrices (99th percentile of frequency, largest age). ``params`` is None (and the
    tables empty) when too few customers bought before the cutoff to fit."""
    days, shop = _check_holdout(round(holdout_days)), prepare(data, config=config)
    cut = parse_as_of(cutoff)
    fit = btyd_fit(shop, cut, horizons=[days], max_fit_rows=max_fit_rows, seed=seed)
    out: dict[str, Any] = {
        "cutoff": f"{cut:%Y-%m-%d}",
        "holdout_days": days,
        "params": fit["params"],
        "calibration_holdout": [],
        "cumulative": [],
    }
    if fit["params"] is None:
        return out
    summary = calibration_holdout_summary(shop, cutoff=cut, holdout_days=days)
    groups = calibration_vs_holdout(summary, fit, holdout_days=days)
    cumulative = cumulative_transactions(shop, fit, cutoff=cut, holdout_days=days)
    cumulative["date"] = cumulative["date"].astype(str)
    out |= {
        "customers": len(summary),
        "max_frequency": int(np.ceil(np.quantile(summary["frequency"], 0.99))),
        "max_T": float(summary["T"].max()),
        "calibration_holdout": _records(groups),
        "cumulative": _records(cumulative),
    }
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts, NaN as None (valid JSON)."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in clean.to_dict("records")
    ]


def value_deciles(y: Any, predictions: Mapping[str, Any]) -> pl.DataFrame:
    """Predicted against actual value per tenth of the customers, for each model ranking them
    by its own prediction (``segml.models.metrics.decile_table``; decile 10 = the top tenth):
    ``decile``, ``customers``, then ``<who>_predicted`` and ``<who>_actual`` (means) per
    entry of ``predictions`` (e.g. ``{"model": ..., "btyd": ...}``)."""
    if not predictions:
        raise ConfigError("predictions is empty; pass e.g. {'model': scores, 'btyd': scores}.")
    out: pl.DataFrame | None = None
    for who, predicted in predictions.items():
        table = decile_table(y, predicted).select(
            "decile",
            pl.col("n").alias("customers"),
            pl.col("pred_mean").alias(f"{who}_predicted"),
            pl.col("actual_mean").alias(f"{who}_actual"),
        )
        out = table if out is None else out.join(table.drop("customers"), on="decile")
    assert out is not None
    return out.sort("decile", descending=True)

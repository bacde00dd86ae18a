"""A scoring run's per-customer lifetime outputs, for marketers (docs/outputs.md).

``lifetime_outputs`` adds, for every customer of the scored table, columns that are never model
inputs (their prefixes ``clv__`` and ``churn__`` are no feature family's and the models store the
columns they read):

- ``clv__p_alive`` and ``clv__expected_purchases_{h}d``: BG/NBD, fitted as of the cutoff exactly
  as the ``btyd__*`` model inputs are (``segml.models.dataset.btyd_fit``), over the configured
  horizons; empty for customers without an order before the cutoff;
- ``clv__btyd_{N}m``: BG/NBD x Gamma-Gamma discounted revenue over N months
  (``segml.models.clv.btyd_clv``);
- ``clv__model_{N}m``: the value model's revenue over its horizon, extended to N months by the
  customer's BG/NBD purchase timing (``segml.models.clv.horizon_ratio``);
- ``churn__tier``: low / medium / high from the calibrated lapse probability ``score__lapse``.

It works on a driver-side Polars table (``customer_id`` and the score columns it reads), so both
engines compute the same values; the backend joins them back (``ScoringBackend.attach_columns``).
The second value it returns is the run summary's ``outputs`` entry (plain numbers), with
``notes`` in words, e.g. that P(alive) carries no information on this data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from segml.engine import parse_as_of, to_polars
from segml.features import rfm_summary
from segml.models.clv import btyd_lifetime, horizon_ratio, model_clv, p_alive_information
from segml.models.dataset import btyd_fit, btyd_from_params
from segml.schema import ShopData

__all__ = ["OUTPUT_PREFIXES", "TIERS", "churn_tiers", "lifetime_outputs", "output_inputs"]

OUTPUT_PREFIXES = ("clv__", "churn__")
TIERS = ("low", "medium", "high")
_READS = ("score__value", "score__lapse")


def output_inputs(schema: Any) -> list[str]:
    """The columns of the scored table ``lifetime_outputs`` reads (a ``driver_table`` picker)."""
    return ["customer_id", *(c for c in _READS if c in schema)]


def churn_tiers(lapse: pl.Series, *, medium_from: float = 0.3, high_from: float = 0.6) -> pl.Series:
    """``low`` below ``medium_from``, ``high`` from ``high_from``, ``medium`` between; null where
    the lapse probability is null (customers outside the lapse model's population)."""
    tier = (
        pl.when(pl.col("p") >= high_from)
        .then(pl.lit("high"))
        .when(pl.col("p") >= medium_from)
        .then(pl.lit("medium"))
        .when(pl.col("p").is_not_null())
        .then(pl.lit("low"))
    )
    return pl.DataFrame({"p": lapse}).select(tier.alias("churn__tier"))["churn__tier"]


def _history(shop: ShopData, cut: dt.datetime, ids: pl.Series) -> pd.DataFrame:
    """``rfm_summary`` (days) as of ``cut`` lined up with ``ids``; NaN for customers without an
    order before the cutoff."""
    native = rfm_summary(shop, observation_period_end=cut - dt.timedelta(days=1), time_unit="D")
    summary = to_polars(native).select(  # one row per customer: on the driver
        pl.col("customer_id").cast(pl.String),
        *(pl.col(c).cast(pl.Float64) for c in ("frequency", "recency", "T", "monetary_value")),
    )
    lined = pl.DataFrame({"customer_id": ids.cast(pl.String)}).join(
        summary, on="customer_id", how="left", maintain_order="left"
    )
    return lined.drop("customer_id").to_pandas()


def _full(n: int, known: np.ndarray, values: Any) -> np.ndarray:
    out = np.full(n, np.nan)
    out[known] = values
    return out


def _btyd_columns(
    fitted: tuple[Any, Any] | None,
    history: pd.DataFrame,
    *,
    horizons: Sequence[int],
    months: int,
    rate: float,
    value_horizon_days: float | None,
) -> dict[str, np.ndarray]:
    """The BG/NBD columns, and ``_ratio`` (``horizon_ratio`` per row: customers without an
    order get a new customer's, x = T = 0; without a fit the constant-pace one)."""
    n = len(history)
    known = history["frequency"].notna().to_numpy()
    cols = {f"clv__expected_purchases_{h}d": np.full(n, np.nan) for h in horizons}
    cols = {"clv__p_alive": np.full(n, np.nan), **cols, f"clv__btyd_{months}m": np.full(n, np.nan)}
    bg, gg = fitted if fitted is not None else (None, None)
    if value_horizon_days is not None:
        newcomer = {"frequency": [0.0], "recency": [0.0], "T": [0.0]}
        ratio = horizon_ratio(
            bg, newcomer, horizon_days=value_horizon_days, months=months, annual_discount_rate=rate
        )
        cols["_ratio"] = np.full(n, float(ratio[0]))
    if bg is None or not known.any():
        return cols
    values = btyd_lifetime(
        bg,
        gg,
        history[known],
        horizons_days=horizons,
        months=months,
        annual_discount_rate=rate,
        value_horizon_days=value_horizon_days,
    )
    cols["clv__p_alive"] = _full(n, known, values["p_alive"])
    for h in horizons:
        cols[f"clv__expected_purchases_{h}d"] = _full(n, known, values[f"expected_{h:g}"])
    if "clv" in values:
        cols[f"clv__btyd_{months}m"] = _full(n, known, values["clv"])
    if "ratio" in values:
        cols["_ratio"][known] = values["ratio"]
    return cols


def lifetime_outputs(
    scores: pl.DataFrame,
    shop: ShopData,
    *,
    as_of: Any,
    value_horizon_days: float | None,
    purchase_horizons_days: Sequence[int] = (30, 90, 365),
    clv_months: int = 12,
    annual_discount_rate: float = 0.10,
    medium_from: float = 0.3,
    high_from: float = 0.6,
    p_alive_min_iqr: float = 0.02,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """``customer_id`` and the output columns for every row of ``scores`` (``customer_id``,
    and ``score__value`` / ``score__lapse`` when scored), and the run summary's entry.

    ``value_horizon_days``: the value model's horizon (its ``metadata_["horizon_days"]``)."""
    cut = parse_as_of(as_of)
    horizons = sorted(set(int(h) for h in purchase_horizons_days))
    months, rate = int(clv_months), float(annual_discount_rate)
    params = btyd_fit(shop, cut, horizons=horizons)["params"]
    fitted = btyd_from_params(params)
    history = _history(shop, cut, scores["customer_id"])
    scored = "score__value" in scores.columns and bool(value_horizon_days)
    cols = _btyd_columns(
        fitted,
        history,
        horizons=horizons,
        months=months,
        rate=rate,
        value_horizon_days=value_horizon_days if scored else None,
    )
    ratio = cols.pop("_ratio", None)
    model_col = f"clv__model_{months}m"
    cols[model_col] = np.full(scores.height, np.nan)
    if ratio is not None:
        cols[model_col] = model_clv(scores["score__value"].to_numpy(), ratio)
    lapse = scores["score__lapse"] if "score__lapse" in scores.columns else None
    if lapse is None:
        lapse = pl.Series("p", [None] * scores.height, dtype=pl.Float64)
    table = pl.DataFrame(
        [pl.Series("customer_id", scores["customer_id"])]
        + [pl.Series(k, v).fill_nan(None) for k, v in cols.items()]
        + [churn_tiers(lapse, medium_from=medium_from, high_from=high_from)]
    )
    settings = {
        "purchase_horizons_days": horizons,
        "clv_months": months,
        "annual_discount_rate": rate,
        "churn_tiers": {"medium_from": medium_from, "high_from": high_from},
        "value_horizon_days": value_horizon_days,
    }
    return table, _summary(table, params, settings, min_iqr=p_alive_min_iqr)


def _summary(
    table: pl.DataFrame, params: dict[str, Any] | None, settings: dict[str, Any], *, min_iqr: float
) -> dict[str, Any]:
    bg = (params or {}).get("bg") or {}
    alive = p_alive_information(
        table["clv__p_alive"].drop_nulls().to_numpy(),
        a=bg.get("a"),
        b=bg.get("b"),
        min_iqr=min_iqr,
    )
    counts = table["churn__tier"].value_counts()
    found = dict(zip(counts["churn__tier"].to_list(), counts["count"].to_list(), strict=True))
    tiers = {t: int(found.get(t, 0)) for t in TIERS} | {"unscored": int(found.get(None, 0))}
    scored = sum(tiers[t] for t in TIERS)
    months = settings["clv_months"]
    clv = {}
    for col in (f"clv__btyd_{months}m", f"clv__model_{months}m"):
        values = table[col].drop_nulls()
        clv[col] = {
            "customers": values.len(),
            "total": float(values.sum()) if values.len() else None,
            "median": float(values.median()) if values.len() else None,  # type: ignore[arg-type]
        }
    return {
        "columns": [c for c in table.columns if c != "customer_id"],
        "settings": settings,
        "btyd": {"params": params, "p_alive": alive},
        "churn_tiers": {
            "customers": tiers,
            "shares": {t: (tiers[t] / scored if scored else None) for t in TIERS},
        },
        "clv": clv,
        "notes": _notes(table, params, alive, clv, tiers),
    }


def _notes(
    table: pl.DataFrame,
    params: dict[str, Any] | None,
    alive: dict[str, Any],
    clv: dict[str, Any],
    tiers: dict[str, int],
) -> list[str]:
    notes = []
    if params is None:
        notes.append(
            "BG/NBD could not be fitted (too few customers with repeat orders): clv__p_alive, "
            "clv__expected_purchases_* and clv__btyd_* are empty; clv__model_* assumes a "
            "constant purchase pace."
        )
    elif alive["customers"] and not alive["informative"]:
        drop = alive["dropout_per_purchase"]
        notes.append(
            "P(alive) carries no information on this data: BG/NBD gives nearly every customer "
            f"the same P(alive) (interquartile range {alive['iqr']:.4f}, below "
            f"{alive['min_iqr']}; median {alive['quartiles'][1]:.4f}) because its fitted "
            f"drop-out chance per repeat purchase a/(a+b) is {drop:.4f}. Do not target on "
            "clv__p_alive or btyd__p_alive; use churn__tier (the lapse model) for churn."
        )
    for col, info in clv.items():
        if not info["customers"]:
            why = "no value model was scored" if "model" in col else "no Gamma-Gamma fit"
            notes.append(f"{col} is empty: {why}.")
    if tiers["unscored"] == table.height:
        notes.append("churn__tier is empty: no lapse model was scored.")
    return notes

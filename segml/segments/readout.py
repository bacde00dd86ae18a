"""Campaign readout: treatment against control per segment, from the orders placed in the
campaign window.

Per segment, over its members with a group (by default only the reachable ones, the population
the audience was drawn from, so both arms are comparable):

- conversion: the share with at least one purchase in ``[start, end)``; absolute lift with a
  Wald interval (unpooled), relative lift with a delta-method interval on the log of the ratio,
  and the pooled two-proportion z-test;
- revenue per customer (purchases in the window, zero for those who bought nothing): absolute
  lift with Welch's t interval and test, relative lift with a delta-method interval.

Returns (purchases in the window of returned orders still count) are as in features: a return
is never a purchase. Segments are read out separately: pooling them would mix different control
shares.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import narwhals.stable.v2 as nw
import polars as pl
from scipy import stats

from segml.config import DataSpec, data_section
from segml.engine import AsOf, as_of_days, collect, to_lazy, to_native
from segml.errors import DataError
from segml.schema import prepare
from segml.segments.segmenter import open_customer_table

__all__ = ["conversion_lift", "readout", "revenue_lift"]


_CONVERSION = ["treatment", "control", "lift", "lift_low", "lift_high", "lift_relative"]
_CONVERSION += ["lift_relative_low", "lift_relative_high", "p_value", "significant"]
_REVENUE = ["lift", "lift_low", "lift_high", "lift_relative", "lift_relative_low"]
_REVENUE += ["lift_relative_high", "p_value", "significant"]
COLUMNS = [f"conversion_{k}" for k in _CONVERSION] + [
    "revenue_per_customer_treatment",
    "revenue_per_customer_control",
    *[f"revenue_{k}" for k in _REVENUE],
]


def conversion_lift(
    n_t: int, x_t: int, n_c: int, x_c: int, *, alpha: float = 0.05
) -> dict[str, Any]:
    """Lift in conversion (``x`` of ``n`` converted) of treatment over control."""
    p_t, p_c = x_t / n_t, x_c / n_c
    z = float(stats.norm.ppf(1 - alpha / 2))
    d = p_t - p_c
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    pooled = (x_t + x_c) / (n_t + n_c)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    p_value = float(2 * stats.norm.sf(abs(d) / se0)) if se0 > 0 else 1.0
    out: dict[str, Any] = {
        "conversion_treatment": p_t,
        "conversion_control": p_c,
        "conversion_lift": d,
        "conversion_lift_low": d - z * se,
        "conversion_lift_high": d + z * se,
        "conversion_p_value": p_value,
        "conversion_significant": p_value < alpha,
    }
    if x_t > 0 and x_c > 0:  # the log ratio needs conversions in both arms
        log_ratio = math.log(p_t / p_c)
        se_log = math.sqrt((1 - p_t) / x_t + (1 - p_c) / x_c)
        out["conversion_lift_relative"] = p_t / p_c - 1
        out["conversion_lift_relative_low"] = math.exp(log_ratio - z * se_log) - 1
        out["conversion_lift_relative_high"] = math.exp(log_ratio + z * se_log) - 1
    return out


def revenue_lift(
    n_t: int,
    mean_t: float,
    var_t: float,
    n_c: int,
    mean_c: float,
    var_c: float,
    *,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Lift in revenue per customer, from each arm's size, mean and sample variance."""
    d = mean_t - mean_c
    out: dict[str, Any] = {
        "revenue_per_customer_treatment": mean_t,
        "revenue_per_customer_control": mean_c,
        "revenue_lift": d,
    }
    a, b = var_t / n_t, var_c / n_c
    if n_t < 2 or n_c < 2 or a + b == 0:
        return out
    se = math.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / (n_t - 1) + b**2 / (n_c - 1))  # Welch-Satterthwaite
    t = float(stats.t.ppf(1 - alpha / 2, df))
    p_value = float(2 * stats.t.sf(abs(d) / se, df))
    out |= {
        "revenue_lift_low": d - t * se,
        "revenue_lift_high": d + t * se,
        "revenue_p_value": p_value,
        "revenue_significant": p_value < alpha,
    }
    if mean_c > 0:
        z = float(stats.norm.ppf(1 - alpha / 2))
        ratio = mean_t / mean_c
        se_r = math.sqrt(var_t / (n_t * mean_c**2) + mean_t**2 * var_c / (n_c * mean_c**4))
        out |= {
            "revenue_lift_relative": ratio - 1,
            "revenue_lift_relative_low": ratio - 1 - z * se_r,
            "revenue_lift_relative_high": ratio - 1 + z * se_r,
        }
    return out


def _outcomes(orders: Any, start: float, end: float, config: DataSpec) -> pl.DataFrame:
    """Per customer who bought in ``[start, end)``: the purchase revenue there."""
    mapped = data_section(config).orders
    if not isinstance(orders, str | Path):
        lf = to_lazy(orders, table="orders")
        if "order_id" not in lf.collect_schema().names() and "order_id" not in mapped.columns:
            # each line counts as its own order: conversion and revenue need no order ids
            orders = lf.with_row_index("order_id", order_by="customer_id").with_columns(
                nw.col("order_id").cast(nw.String)
            )
    shop = prepare({"orders": orders}, config=config)
    inside = (nw.col("t") >= start) & (nw.col("t") < end) & ~nw.col("is_return")
    per_customer = shop.orders.filter(inside).group_by("customer_id").agg(nw.col("revenue").sum())
    ids = nw.col("customer_id").cast(nw.String)  # integer ids stay integers in prepared data
    return collect(per_customer.with_columns(ids)).rename({"revenue": "_revenue"})


def _members(members: Any, *, reachable_only: bool) -> tuple[pl.LazyFrame, str]:
    people, kind = open_customer_table(members)
    needed = {"customer_id", "segment", "priority", "group", "reachable"}
    missing = sorted(needed - set(people.collect_schema().names()))
    if missing:
        raise DataError(
            f"members is missing columns {missing}; pass the output of Segmenter.transform "
            "(or the members.parquet of `segml segment`)."
        )
    people = people.filter(pl.col("group").is_not_null())
    return (people.filter(pl.col("reachable")) if reachable_only else people), kind


def _segment_row(segment: str, arms: dict[str, dict[str, Any]], alpha: float) -> dict[str, Any]:
    t, c = arms.get("treatment"), arms.get("control")
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row |= {"segment": segment, "n_treatment": t["n"] if t else 0, "n_control": c["n"] if c else 0}
    for arm, figures in (("treatment", t), ("control", c)):
        if figures:  # each arm's own figures, even when the other arm is empty
            row[f"conversion_{arm}"] = figures["x"] / figures["n"]
            row[f"revenue_per_customer_{arm}"] = figures["mean"]
    if t and c:
        row |= conversion_lift(t["n"], t["x"], c["n"], c["x"], alpha=alpha)
        row |= revenue_lift(t["n"], t["mean"], t["var"], c["n"], c["mean"], c["var"], alpha=alpha)
    return row


def readout(
    members: Any,
    orders: Any,
    *,
    start: AsOf,
    end: AsOf,
    alpha: float = 0.05,
    reachable_only: bool = True,
    config: DataSpec = None,
) -> Any:
    """Treatment against control per segment, from orders in ``[start, end)``.

    ``members`` is ``Segmenter.transform``'s output (or the ``members.parquet`` a segment run
    wrote); ``orders`` the canonical orders table (``order_id`` may be left out) as any input
    ``prepare`` accepts, with ``config`` to map column names. One row per segment in priority
    order, in the caller's frame type.
    """
    lo, hi = as_of_days(start), as_of_days(end)
    if hi <= lo:
        raise DataError(f"the campaign window is empty: end {end!r} is not after start {start!r}.")
    people, kind = _members(members, reachable_only=reachable_only)
    joined = people.collect().join(_outcomes(orders, lo, hi, config), on="customer_id", how="left")
    summary = joined.group_by("segment", "group").agg(
        pl.len().alias("n"),
        pl.col("_revenue").is_not_null().sum().alias("x"),
        pl.col("_revenue").fill_null(0).mean().alias("mean"),
        pl.col("_revenue").fill_null(0).var().fill_null(0).alias("var"),
    )
    arms: dict[str, dict[str, dict[str, Any]]] = {}
    for r in summary.iter_rows(named=True):
        arms.setdefault(r["segment"], {})[r["group"]] = r
    order = joined.group_by("segment").agg(pl.col("priority").min()).sort("priority", "segment")
    rows = [_segment_row(s, arms[s], alpha) for s in order.get_column("segment").to_list()]
    columns = ["segment", "n_treatment", "n_control", *COLUMNS]
    result = pl.DataFrame([[r[k] for k in columns] for r in rows], schema=columns, orient="row")
    return to_native(result, None, kind)

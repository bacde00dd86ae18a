"""RFM family: recency, frequency, monetary value, tenure, purchase gaps, returns, windows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals.stable.v2 as nw

from segml.features._expr import count_if, safe_div

__all__ = ["order_level", "rfm_finish", "rfm_frames"]


def order_level(orders: nw.LazyFrame[Any], cut: float) -> nw.LazyFrame[Any]:
    """One row per purchase order strictly before the cutoff: customer_id, order_id, t, revenue.

    An order's time is its first line's time; its revenue the sum of its purchase lines.
    """
    return (
        orders.filter((nw.col("t") < cut) & ~nw.col("is_return"))
        .group_by("customer_id", "order_id")
        .agg(nw.col("t").min(), nw.col("revenue").sum())
    )


def _returns(orders: nw.LazyFrame[Any], cut: float) -> nw.LazyFrame[Any]:
    return (
        orders.filter((nw.col("t") < cut) & nw.col("is_return"))
        .group_by("customer_id")
        .agg(
            nw.col("order_id").n_unique().alias("rfm__returns"),
            nw.col("revenue").abs().sum().alias("_returned_value"),
        )
    )


def rfm_frames(
    orders: nw.LazyFrame[Any], cut: float, *, windows_days: Sequence[int]
) -> list[nw.LazyFrame[Any]]:
    """Per-customer aggregates of orders strictly before ``cut`` (joined by the builder)."""
    per_order = order_level(orders, cut).with_columns(
        nw.col("t").diff().over("customer_id", order_by=["t", "order_id"]).alias("_gap")
    )
    windowed = []
    for w in windows_days:
        inside = nw.col("t") >= cut - w
        windowed += [
            count_if(inside).alias(f"rfm__orders_{w}d"),
            nw.when(inside)
            .then(nw.col("revenue"))
            .otherwise(0.0)
            .sum()
            .alias(f"rfm__revenue_{w}d"),
        ]
    agg = per_order.group_by("customer_id").agg(
        (cut - nw.col("t").max()).alias("rfm__recency_days"),
        nw.len().alias("rfm__frequency"),
        nw.col("revenue").sum().alias("rfm__monetary_total"),
        nw.col("revenue").mean().alias("rfm__monetary_mean"),
        nw.col("revenue").max().alias("rfm__monetary_max"),
        (cut - nw.col("t").min()).alias("rfm__tenure_days"),
        nw.col("_gap").mean().alias("rfm__gap_mean_days"),
        nw.col("_gap").median().alias("rfm__gap_median_days"),
        nw.col("_gap").std().alias("rfm__gap_std_days"),
        *windowed,
    )
    return [agg, _returns(orders, cut)]


def rfm_finish(*, windows_days: Sequence[int]) -> list[nw.Expr]:
    """Column expressions after the join: counts default to 0, ratios derived."""
    counts = ["rfm__frequency", "rfm__monetary_total", "rfm__returns"]
    counts += [f"rfm__{k}_{w}d" for w in windows_days for k in ("orders", "revenue")]
    return [
        nw.col("rfm__recency_days"),
        *[nw.col(c).fill_null(0).cast(nw.Float64) for c in counts[:2]],
        nw.col("rfm__monetary_mean"),
        nw.col("rfm__monetary_max"),
        nw.col("rfm__tenure_days"),
        nw.col("rfm__gap_mean_days"),
        nw.col("rfm__gap_median_days"),
        nw.col("rfm__gap_std_days"),
        safe_div(nw.col("rfm__recency_days"), nw.col("rfm__gap_mean_days")).alias(
            "rfm__recency_gap_ratio"
        ),
        nw.col("rfm__returns").fill_null(0).cast(nw.Float64),
        safe_div(nw.col("_returned_value"), nw.col("rfm__monetary_total")).alias(
            "rfm__return_value_ratio"
        ),
        *[nw.col(c).fill_null(0).cast(nw.Float64) for c in counts[3:]],
    ]

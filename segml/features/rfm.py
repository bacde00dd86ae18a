"""RFM family: recency, frequency, monetary value, tenure, purchase gaps, returns, windows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals.stable.v2 as nw

from segml.features._expr import count_if, exact_sum, fixed, safe_div
from segml.features.family import (
    BEHAVIOURAL,
    CLUSTER,
    REPEATS,
    FamilyPlan,
    FeatureContext,
    FeatureFamily,
    column,
    register_family,
)

__all__ = ["order_level", "rfm_finish", "rfm_frames"]


def order_level(orders: nw.LazyFrame[Any], cut: float) -> nw.LazyFrame[Any]:
    """One row per purchase order strictly before the cutoff: customer_id, order_id, t, revenue.

    An order's time is its first line's time; its revenue the sum of its purchase lines.
    """
    return (
        orders.filter((nw.col("t") < cut) & ~nw.col("is_return"))
        .group_by("customer_id", "order_id")
        .agg(nw.col("t").min(), exact_sum(nw.col("revenue")).alias("revenue"))
    )


def _returns(orders: nw.LazyFrame[Any], cut: float) -> nw.LazyFrame[Any]:
    return (
        orders.filter((nw.col("t") < cut) & nw.col("is_return"))
        .group_by("customer_id")
        .agg(
            nw.col("order_id").n_unique().alias("rfm__returns"),
            exact_sum(nw.col("revenue").abs()).alias("_returned_value"),
        )
    )


def rfm_frames(
    orders: nw.LazyFrame[Any], cut: float, *, windows_days: Sequence[int]
) -> list[nw.LazyFrame[Any]]:
    """Per-customer aggregates of orders strictly before ``cut`` (joined by the builder)."""
    gap = nw.col("t").diff().over("customer_id", order_by=["t", "order_id"])
    per_order = order_level(orders, cut).with_columns(fixed(gap, 86_400).alias("_gap_s"))
    windowed = []
    for w in windows_days:
        inside = nw.col("t") >= cut - w
        windowed += [
            count_if(inside).alias(f"rfm__orders_{w}d"),
            exact_sum(nw.when(inside).then(nw.col("revenue")).otherwise(0.0)).alias(
                f"rfm__revenue_{w}d"
            ),
        ]
    agg = per_order.group_by("customer_id").agg(
        (cut - nw.col("t").max()).alias("rfm__recency_days"),
        nw.len().alias("rfm__frequency"),
        exact_sum(nw.col("revenue")).alias("rfm__monetary_total"),
        nw.col("revenue").max().alias("rfm__monetary_max"),
        (cut - nw.col("t").min()).alias("rfm__tenure_days"),
        (nw.col("t").max() - nw.col("t").min()).alias("_span"),
        (nw.col("_gap_s").median() / 86_400).alias("rfm__gap_median_days"),
        nw.col("_gap_s").sum().alias("_gap_s1"),
        (nw.col("_gap_s") * nw.col("_gap_s")).sum().alias("_gap_s2"),
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
        safe_div(nw.col("rfm__monetary_total"), nw.col("rfm__frequency")).alias(
            "rfm__monetary_mean"
        ),
        nw.col("rfm__monetary_max"),
        nw.col("rfm__tenure_days"),
        _gap_mean().alias("rfm__gap_mean_days"),
        nw.col("rfm__gap_median_days"),
        _gap_std().alias("rfm__gap_std_days"),
        safe_div(nw.col("rfm__recency_days"), _gap_mean()).alias("rfm__recency_gap_ratio"),
        nw.col("rfm__returns").fill_null(0).cast(nw.Float64),
        safe_div(nw.col("_returned_value"), nw.col("rfm__monetary_total")).alias(
            "rfm__return_value_ratio"
        ),
        *[nw.col(c).fill_null(0).cast(nw.Float64) for c in counts[3:]],
    ]


def _gap_mean() -> nw.Expr:
    """Mean gap between consecutive orders: (last - first) / (orders - 1), order-independent."""
    n_gaps = nw.col("rfm__frequency") - 1
    return nw.when(n_gaps > 0).then(nw.col("_span") / n_gaps).otherwise(None)


def _gap_std() -> nw.Expr:
    """Sample standard deviation of gaps, from exact integer sums of gap seconds."""
    n = nw.col("rfm__frequency") - 1
    s1, s2 = nw.col("_gap_s1").cast(nw.Float64), nw.col("_gap_s2").cast(nw.Float64)
    var = (s2 - s1 * s1 / n) / (n - 1)
    return nw.when(n > 1).then(var.clip(lower_bound=0.0).sqrt() / 86_400).otherwise(None)


class RfmFamily(FeatureFamily):
    """Recency, frequency, monetary value, tenure, purchase gaps, returns, windowed orders."""

    name = "rfm"
    description = "recency, frequency, monetary value, tenure, purchase gaps, returns"
    needs = frozenset({"orders"})
    tags = frozenset({BEHAVIOURAL, CLUSTER})
    columns = (
        column(
            "rfm__recency_days",
            "days from the last purchase to the cutoff",
            "days",
            "days",
            words=("more recent", "less recent"),
        ),
        column(
            "rfm__frequency",
            "number of orders (purchases, not returns) before the cutoff",
            "count",
            words=("fewer orders", "more orders"),
        ),
        column(
            "rfm__monetary_total",
            "total revenue of all purchases",
            "amount",
            "currency",
            words=("lower spend", "higher spend"),
        ),
        column(
            "rfm__monetary_mean",
            "mean revenue per order",
            "amount",
            "currency",
            words=("smaller baskets", "bigger baskets"),
        ),
        column("rfm__monetary_max", "largest single order's revenue", "amount", "currency"),
        column(
            "rfm__tenure_days",
            "days from the first purchase to the cutoff",
            "days",
            "days",
            words=("newer", "long-standing"),
        ),
        column(
            "rfm__gap_mean_days",
            "mean days between consecutive orders",
            "days",
            "days",
            words=("shorter gaps", "longer gaps"),
        ),
        column("rfm__gap_median_days", "median days between consecutive orders", "days", "days"),
        column(
            "rfm__gap_std_days",
            "standard deviation of days between consecutive orders",
            "days",
            "days",
        ),
        column("rfm__recency_gap_ratio", "days since last order divided by the mean gap", "ratio"),
        column(
            "rfm__returns",
            "number of return or cancellation orders",
            "count",
            words=("fewer returns", "more returns"),
        ),
        column(
            "rfm__return_value_ratio",
            "value returned as a share of value purchased",
            "ratio",
            words=("fewer returns", "more returns"),
        ),
        column(
            "rfm__orders_{window}d",
            "orders in the {window} days before the cutoff",
            "count",
            tags=[REPEATS],
        ),
        column(
            "rfm__revenue_{window}d",
            "revenue in the {window} days before the cutoff",
            "amount",
            "currency",
            tags=[REPEATS],
        ),
    )

    def plan(self, ctx: FeatureContext) -> FamilyPlan:
        windows = ctx.settings["windows_days"]
        return FamilyPlan(
            frames=rfm_frames(ctx.shop.orders, ctx.cut, windows_days=windows),
            covers=frozenset({"orders"}),  # purchases and returns: every order before the cutoff
            finish=rfm_finish(windows_days=windows),
        )


FAMILY = register_family(RfmFamily())

"""Timing family: when in the year and the week a customer buys, and how regularly.

Seasonal buyers (gifts before holidays), weekday buyers and steady monthly buyers can have the
same order count and spend; their calendar tells them apart. The shop's peak months are the
``peak_months`` (default 3) calendar months with the most purchase orders before the fit
cutoff, learned at fit and kept for scoring (like the affinity categories). With less than a
year of history they are the busiest months seen so far. Calendar dates are UTC days of the
parsed order times.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import narwhals.stable.v2 as nw

from segml.engine import collect
from segml.features._expr import count_if, safe_div
from segml.features.family import (
    BEHAVIOURAL,
    FamilyPlan,
    FeatureContext,
    FeatureFamily,
    column,
    register_family,
)

__all__ = ["TimingFamily", "calendar_month", "learn_peak_months", "timing_frame"]

_MONTH_DAYS = 365.2425 / 12


def calendar_month(t: nw.Expr) -> tuple[nw.Expr, nw.Expr]:
    """(year, month 1-12) of epoch days ``t`` in integer arithmetic (H. Hinnant's
    civil_from_days), so every engine gives the same calendar."""
    z = t.floor().cast(nw.Int64) + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = nw.when(mp < 10).then(mp + 3).otherwise(mp - 9)
    year = yoe + era * 400 + nw.when(month <= 2).then(1).otherwise(0)
    return year, month


def _orders(orders: nw.LazyFrame[Any], cut: float) -> nw.LazyFrame[Any]:
    """One row per purchase order before ``cut``: customer_id, order_id, t (its first line)."""
    past = orders.filter((nw.col("t") < cut) & ~nw.col("is_return"))
    return past.group_by("customer_id", "order_id").agg(nw.col("t").min())


def learn_peak_months(orders: nw.LazyFrame[Any], cut: float, *, n: int) -> list[int]:
    """The ``n`` calendar months with the most purchase orders before ``cut`` (ties: the
    earlier month), in month order; fewer when fewer months have orders."""
    _, month = calendar_month(nw.col("t"))
    counts = collect(
        _orders(orders, cut).with_columns(_m=month).group_by("_m").agg(nw.len().alias("n"))
    )
    ranked = sorted(zip(counts["n"].to_list(), counts["_m"].to_list(), strict=True),
                    key=lambda p: (-p[0], p[1]))  # fmt: skip
    return sorted(int(m) for _, m in ranked[:n])


def timing_frame(
    orders: nw.LazyFrame[Any], cut: float, *, peak: Sequence[int]
) -> nw.LazyFrame[Any]:
    """Per customer: orders, orders in the peak months and at weekends, distinct calendar
    months with an order and the first order's time."""
    year, month = calendar_month(nw.col("t"))
    weekday = (nw.col("t").floor().cast(nw.Int64) + 3) % 7  # epoch day 0 was a Thursday
    per_order = _orders(orders, cut).with_columns(_ym=year * 12 + month, _m=month, _wd=weekday)
    return per_order.group_by("customer_id").agg(
        nw.len().alias("_t_orders"),
        count_if(nw.col("_m").is_in(list(peak))).alias("_t_peak"),
        count_if(nw.col("_wd") >= 5).alias("_t_weekend"),
        nw.col("_ym").n_unique().alias("_t_months"),
        nw.col("t").min().alias("_t_first"),
    )


def timing_finish(cut: float, *, peak: Sequence[int]) -> list[nw.Expr]:
    n = nw.col("_t_orders").cast(nw.Float64)
    months = ((cut - nw.col("_t_first")) / _MONTH_DAYS).ceil().clip(lower_bound=1.0)
    share = safe_div(nw.col("_t_peak").cast(nw.Float64), n) if peak else nw.lit(None, nw.Float64)
    return [
        share.alias("timing__peak_share"),
        safe_div(nw.col("_t_weekend").cast(nw.Float64), n).alias("timing__weekend_share"),
        (nw.col("_t_months").cast(nw.Float64) / months)
        .clip(upper_bound=1.0)
        .alias("timing__month_coverage"),
    ]


class TimingFamily(FeatureFamily):
    """Peak-season and weekend share of orders, and the share of months with an order."""

    name = "timing"
    description = "peak-season and weekend share of orders, months with an order"
    needs = frozenset({"orders"})
    tags = frozenset({BEHAVIOURAL})
    opt_in = True  # built when named in features.families (see the module docstring)
    defaults: ClassVar[dict[str, Any]] = {"peak_months": 3}
    columns = (
        column(
            "timing__peak_share",
            "share of orders placed in the shop's busiest calendar months (learned at fit)",
            "share",
            words=("less seasonal", "more seasonal"),
        ),
        column(
            "timing__weekend_share",
            "share of orders placed on a Saturday or Sunday",
            "share",
            words=("weekday buyers", "weekend buyers"),
        ),
        column(
            "timing__month_coverage",
            "calendar months with an order per month since the first order",
            "share",
            words=("occasional", "every month"),
        ),
    )

    def learn(self, ctx: FeatureContext) -> dict[str, Any]:
        n = ctx.params["peak_months"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 11:
            raise ValueError(
                f"The 'peak_months' parameter of the timing feature family must be an int in "
                f"[1, 11]. Got {n!r} instead. Fix features.family_params.timing."
            )
        return {"peak_months": learn_peak_months(ctx.table("orders"), ctx.cut, n=n)}

    def plan(self, ctx: FeatureContext) -> FamilyPlan:
        peak = list(ctx.state.get("peak_months", []))
        return FamilyPlan(
            frames=[timing_frame(ctx.table("orders"), ctx.cut, peak=peak)],
            finish=timing_finish(ctx.cut, peak=peak),
        )


FAMILY = register_family(TimingFamily())

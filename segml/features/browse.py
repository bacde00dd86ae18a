"""Browse family: how a customer browses over their whole history, per month and per visit.

The engagement family counts sessions in its last-90-days window; a browser who stopped a
month ago and a buyer who never browses can look alike there. These columns are lifetime
rates instead: sessions per month since the first event, product views and add-to-carts per
session, and orders per session (when the shop has orders). A session is its ``session_id`` or,
without one, a day with web events (as in the engagement family); contact events (email, SMS,
ad clicks) are not browsing.
"""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from segml.features._expr import count_if, safe_div
from segml.features.family import (
    BEHAVIOURAL,
    CLUSTER,
    FamilyPlan,
    FeatureContext,
    FeatureFamily,
    column,
    register_family,
)

__all__ = ["BrowseFamily", "browse_frames"]

_CONTACTS = ("email_open", "email_click", "sms_click", "ad_click")
_MONTH_DAYS = 365.2425 / 12


def browse_frames(ctx: FeatureContext) -> list[nw.LazyFrame[Any]]:
    """Per customer, over events (and orders) before the cutoff: lifetime sessions, and
    purchase orders when the shop has orders."""
    past = ctx.table("events").filter(
        (nw.col("t") < ctx.cut) & ~nw.col("event_type").is_in(_CONTACTS)
    )
    day = nw.col("t").floor()
    if ctx.has("events", "session_id"):
        no_id = nw.col("session_id").is_null()
        keys = [nw.col("session_id"), nw.when(no_id).then(day).otherwise(None).alias("_day")]
    else:
        keys = [day.alias("_day")]
    sessions = (
        past.select("customer_id", *keys)
        .unique()
        .group_by("customer_id")
        .agg(nw.len().alias("_w_sessions"))
    )
    frames = [sessions]
    if ctx.has("orders"):
        orders = ctx.table("orders").filter((nw.col("t") < ctx.cut) & ~nw.col("is_return"))
        frames.append(
            orders.select("customer_id", "order_id")
            .unique()
            .group_by("customer_id")
            .agg(nw.len().alias("_w_orders"))
        )
    return frames


def browse_aggs() -> list[nw.Expr]:
    """Aggregations in the builder's one group_by over each customer's events before the
    cutoff: the first web event, product views and add-to-carts."""
    etype = nw.col("event_type")
    web = ~etype.is_in(_CONTACTS)
    return [
        nw.when(web).then(nw.col("t")).otherwise(None).min().alias("_w_first"),
        count_if(etype == "product_view").alias("_w_views"),
        count_if(etype == "add_to_cart").alias("_w_carts"),
    ]


def browse_finish(cut: float, *, has_orders: bool) -> list[nw.Expr]:
    sessions = nw.col("_w_sessions").cast(nw.Float64)
    months = ((cut - nw.col("_w_first")) / _MONTH_DAYS).clip(lower_bound=1.0)
    orders = nw.col("_w_orders").fill_null(0).cast(nw.Float64)
    return [
        safe_div(sessions, months).alias("browse__sessions_per_month"),
        safe_div(nw.col("_w_views").cast(nw.Float64), sessions).alias("browse__views_per_session"),
        safe_div(nw.col("_w_carts").cast(nw.Float64), sessions).alias("browse__carts_per_session"),
        (safe_div(orders, sessions) if has_orders else nw.lit(None, nw.Float64)).alias(
            "browse__orders_per_session"
        ),
    ]


class BrowseFamily(FeatureFamily):
    """Lifetime browsing rates: sessions per month, views, carts and orders per session."""

    name = "browse"
    description = "lifetime browsing: sessions per month, views, carts and orders per session"
    needs = frozenset({"events"})
    tags = frozenset({BEHAVIOURAL, CLUSTER})
    columns = (
        column(
            "browse__sessions_per_month",
            "browsing sessions per month since the first web event (at least one month)",
            "rate",
            words=("rarer visitors", "frequent visitors"),
        ),
        column(
            "browse__views_per_session",
            "product views per browsing session, all history",
            "rate",
            words=("shorter visits", "longer visits"),
        ),
        column("browse__carts_per_session", "add-to-cart events per browsing session", "rate"),
        column(
            "browse__orders_per_session",
            "purchase orders per browsing session, all history (can exceed 1: orders without "
            "a tracked visit)",
            "rate",
            words=("lookers", "converters"),
        ),
    )

    def plan(self, ctx: FeatureContext) -> FamilyPlan:
        return FamilyPlan(
            frames=browse_frames(ctx),
            event_aggs=browse_aggs(),
            finish=browse_finish(ctx.cut, has_orders=ctx.has("orders")),
        )


FAMILY = register_family(BrowseFamily())

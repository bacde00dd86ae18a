"""Intent family: recent browsing and cart activity, and what happened since the last purchase.

"Since the last purchase" uses the later of the last order and the last ``purchase`` event, so
an abandoned cart is an add-to-cart with no purchase after it.
"""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from segml.features._expr import count_if
from segml.features.family import (
    BEHAVIOURAL,
    FamilyPlan,
    FeatureContext,
    FeatureFamily,
    column,
    register_family,
)

__all__ = ["intent_aggs", "intent_finish", "last_purchase"]

_WINDOWED = {"product_views": "product_view", "cart_adds": "add_to_cart", "searches": "search"}


def intent_windows(window: int) -> list[int]:
    return sorted({7, window})


def last_purchase(
    orders: nw.LazyFrame[Any], events: nw.LazyFrame[Any], cut: float
) -> nw.LazyFrame[Any]:
    """Per customer, the later of the last purchase order and the last purchase event."""
    bought = orders.filter((nw.col("t") < cut) & ~nw.col("is_return")).select("customer_id", "t")
    tracked = events.filter((nw.col("t") < cut) & (nw.col("event_type") == "purchase"))
    return (
        nw.concat([bought, tracked.select("customer_id", "t")], how="vertical")
        .group_by("customer_id")
        .agg(nw.col("t").max().alias("_last_purchase"))
    )


def intent_aggs(cut: float, *, window: int) -> list[nw.Expr]:
    """Aggregations over a customer's events before ``cut``, each joined to its
    ``_last_purchase`` (null when the customer never bought)."""
    etype = nw.col("event_type")
    after = nw.col("t") > nw.col("_last_purchase").fill_null(-1e9)
    windowed = [
        count_if((nw.col("t") >= cut - w) & (etype == e)).alias(f"intent__{k}_{w}d")
        for w in intent_windows(window)
        for k, e in _WINDOWED.items()
    ]
    return [
        *windowed,
        count_if(after & (etype == "product_view")).alias("intent__views_since_purchase"),
        count_if(after & (etype == "add_to_cart")).alias("intent__cart_adds_since_purchase"),
        count_if(after & (etype == "begin_checkout")).alias("_checkouts_since_purchase"),
        nw.when(etype == "add_to_cart").then(nw.col("t")).otherwise(None).max().alias("_last_cart"),
        nw.when(etype == "product_view")
        .then(nw.col("t"))
        .otherwise(None)
        .max()
        .alias("_last_view"),
    ]


def intent_finish(cut: float, *, window: int) -> list[nw.Expr]:
    counts = [f"intent__{k}_{w}d" for w in intent_windows(window) for k in _WINDOWED]
    counts += ["intent__views_since_purchase", "intent__cart_adds_since_purchase"]
    return [
        *[nw.col(c).fill_null(0).cast(nw.Float64) for c in counts],
        (nw.col("intent__cart_adds_since_purchase").fill_null(0) > 0)
        .cast(nw.Float64)
        .alias("intent__abandoned_cart"),
        (nw.col("_checkouts_since_purchase").fill_null(0) > 0)
        .cast(nw.Float64)
        .alias("intent__abandoned_checkout"),
        (cut - nw.col("_last_cart")).alias("intent__days_since_cart_add"),
        (cut - nw.col("_last_view")).alias("intent__days_since_product_view"),
    ]


class IntentFamily(FeatureFamily):
    """Recent browsing, search and cart activity, and what happened since the last purchase.

    Not used by the clusterer by default (it describes the moment, not the customer)."""

    name = "intent"
    description = "recent browsing and cart activity, and what happened since the last purchase"
    needs = frozenset({"events"})
    tags = frozenset({BEHAVIOURAL})
    columns = (
        column(
            "intent__product_views_{window}d", "product views in the last {window} days", "count"
        ),
        column(
            "intent__cart_adds_{window}d", "add-to-cart events in the last {window} days", "count"
        ),
        column("intent__searches_{window}d", "searches in the last {window} days", "count"),
        column("intent__views_since_purchase", "product views since the last purchase", "count"),
        column(
            "intent__cart_adds_since_purchase",
            "add-to-cart events since the last purchase",
            "count",
        ),
        column(
            "intent__abandoned_cart",
            "1 if items were added to cart after the last purchase",
            "flag",
        ),
        column(
            "intent__abandoned_checkout", "1 if a checkout began after the last purchase", "flag"
        ),
        column("intent__days_since_cart_add", "days since the last add-to-cart", "days", "days"),
        column(
            "intent__days_since_product_view", "days since the last product view", "days", "days"
        ),
    )

    def plan(self, ctx: FeatureContext) -> FamilyPlan:
        window = ctx.settings["intent_window_days"]
        return FamilyPlan(
            event_joins=[last_purchase(ctx.shop.orders, ctx.table("events"), ctx.cut)],
            event_aggs=intent_aggs(ctx.cut, window=window),
            finish=intent_finish(ctx.cut, window=window),
        )


FAMILY = register_family(IntentFamily())

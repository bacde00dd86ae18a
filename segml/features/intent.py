"""Intent family: recent browsing and cart activity, and what happened since the last purchase.

"Since the last purchase" uses the later of the last order and the last ``purchase`` event, so
an abandoned cart is an add-to-cart with no purchase after it.
"""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from segml.features._expr import count_if

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

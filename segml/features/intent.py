"""Intent family: recent browsing and cart activity, and what happened since the last purchase.

"Since the last purchase" uses the later of the last order and the last ``purchase`` event, so
an abandoned cart is an add-to-cart with no purchase after it.
"""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from segml.features._expr import count_if

__all__ = ["intent_finish", "intent_frames"]

_WINDOWED = {"product_views": "product_view", "cart_adds": "add_to_cart", "searches": "search"}


def intent_windows(window: int) -> list[int]:
    return sorted({7, window})


def intent_frames(
    events: nw.LazyFrame[Any], orders: nw.LazyFrame[Any], cut: float, *, window: int
) -> list[nw.LazyFrame[Any]]:
    past = events.filter(nw.col("t") < cut)
    last_order = (
        orders.filter((nw.col("t") < cut) & ~nw.col("is_return"))
        .group_by("customer_id")
        .agg(nw.col("t").max().alias("_last_order"))
    )
    etype = nw.col("event_type")
    last_event_purchase = (
        past.filter(etype == "purchase")
        .group_by("customer_id")
        .agg(nw.col("t").max().alias("_last_purchase_event"))
    )
    marked = (
        past.filter(etype.is_in(["product_view", "add_to_cart", "begin_checkout", "search"]))
        .join(last_order, on="customer_id", how="left")
        .join(last_event_purchase, on="customer_id", how="left")
        .with_columns(
            nw.max_horizontal(
                nw.col("_last_order").fill_null(-1e9),
                nw.col("_last_purchase_event").fill_null(-1e9),
            ).alias("_last_purchase")
        )
    )
    after = nw.col("t") > nw.col("_last_purchase")
    windowed = [
        count_if((nw.col("t") >= cut - w) & (etype == e)).alias(f"intent__{k}_{w}d")
        for w in intent_windows(window)
        for k, e in _WINDOWED.items()
    ]
    agg = marked.group_by("customer_id").agg(
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
    )
    return [agg]


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

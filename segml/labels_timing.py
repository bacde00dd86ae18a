"""The label of ``next_order``: days from the cutoff to the first purchase order in the window.

Read only from rows in ``[cut, cut + horizon)``; customers without a purchase order there are
right-censored at the window's length, written ``-horizon`` (the convention of
``segml.models.survival``: ``y >= 0`` an observed order after ``y`` days, ``y < 0`` no order
within ``-y`` days). The population is ``segml.labels:active_buyers`` (a purchase order in the
``lookback_days`` before the cutoff; the target's default lookback is ten years, i.e. every
customer with at least one order).
"""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from segml.schema import ShopData

__all__ = ["next_order_label"]


def next_order_label(
    shop: ShopData, population: nw.LazyFrame[Any], *, cut: float, horizon: float
) -> nw.LazyFrame[Any]:
    """``customer_id``, ``label``: days to the first purchase order in the window, else
    ``-horizon`` (censored)."""
    inside = (nw.col("t") >= cut) & (nw.col("t") < cut + horizon)
    bought = ~nw.col("is_return") & (nw.col("revenue") > 0)
    first = (
        shop.orders.filter(inside & bought)
        .group_by("customer_id")
        .agg(nw.col("t").min().alias("_first"))
    )
    days = (
        nw.when(nw.col("_first").is_null())
        .then(nw.lit(-float(horizon)))
        .otherwise(nw.col("_first") - cut)
    )
    joined = population.join(first, on="customer_id", how="left")
    return joined.select("customer_id", days.cast(nw.Float64).alias("label"))

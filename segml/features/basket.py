"""Basket family: what a customer's orders look like, not how many there are.

Items and distinct products per order, how much order values vary, and how often an order was
bought at a discount. The discount is read off prices, not off a promotion flag (the data
contract has none): a line is discounted when its unit price is at least ``discount_depth``
(default 10%) below the product's reference price, the median unit price of that product's
purchase lines before the cutoff. A shop without ``product_id`` or ``unit_price`` gets the
columns as missing (the clusterer drops an all-missing column and lists it in
``dropped_features_``); one without ``quantity`` counts one item per line.
"""

from __future__ import annotations

from typing import Any, ClassVar

import narwhals.stable.v2 as nw

from segml.features._expr import count_if, exact_sum, safe_div
from segml.features.family import (
    BEHAVIOURAL,
    FamilyPlan,
    FeatureContext,
    FeatureFamily,
    column,
    register_family,
)

__all__ = ["BasketFamily", "basket_frame", "reference_prices"]

_COLUMNS = ("items_mean", "products_mean", "value_cv", "discount_share")


def reference_prices(lines: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """Per product, the median unit price of its purchase lines with a positive price."""
    return (
        lines.filter(~nw.col("product_id").is_null() & (nw.col("unit_price") > 0))
        .group_by("product_id")
        .agg(nw.col("unit_price").median().alias("_ref_price"))
    )


def basket_frame(
    orders: nw.LazyFrame[Any], cut: float, *, names: list[str], depth: float
) -> nw.LazyFrame[Any]:
    """Per customer, over purchase orders strictly before ``cut``: orders, items, products,
    exact sums of order value and its square, and discounted orders."""
    lines = orders.filter((nw.col("t") < cut) & ~nw.col("is_return"))
    priced = "product_id" in names and "unit_price" in names
    if priced:
        lines = lines.join(reference_prices(lines), on="product_id", how="left")
        cheap = nw.col("unit_price") <= (1.0 - depth) * nw.col("_ref_price")
        lines = lines.with_columns(_cheap=nw.when(cheap).then(1).otherwise(0))
    items = nw.col("quantity").sum() if "quantity" in names else nw.len()
    products = nw.col("product_id").n_unique() if "product_id" in names else nw.len()
    per_order = lines.group_by("customer_id", "order_id").agg(
        exact_sum(nw.col("revenue")).alias("_value"),
        items.cast(nw.Float64).alias("_items"),
        products.cast(nw.Float64).alias("_products"),
        *([nw.col("_cheap").max().alias("_cheap")] if priced else []),
    )
    value = nw.col("_value")
    return per_order.group_by("customer_id").agg(
        nw.len().alias("_b_orders"),
        exact_sum(nw.col("_items"), 1000).alias("_b_items"),
        exact_sum(nw.col("_products"), 1).alias("_b_products"),
        exact_sum(value).alias("_b_v1"),
        exact_sum(value * value, 100).alias("_b_v2"),
        *([count_if(nw.col("_cheap") == 1).alias("_b_cheap")] if priced else []),
    )


def basket_finish(*, priced: bool) -> list[nw.Expr]:
    """The output columns; without prices the discount share is missing for everyone."""
    n = nw.col("_b_orders").cast(nw.Float64)
    mean = safe_div(nw.col("_b_v1"), n)
    var = (nw.col("_b_v2") - nw.col("_b_v1") * nw.col("_b_v1") / n) / (n - 1)
    cv = nw.when((n > 1) & (mean > 0)).then(var.clip(lower_bound=0.0).sqrt() / mean)
    return [
        safe_div(nw.col("_b_items"), n).alias("basket__items_mean"),
        safe_div(nw.col("_b_products"), n).alias("basket__products_mean"),
        cv.otherwise(None).alias("basket__value_cv"),
        (
            safe_div(nw.col("_b_cheap").cast(nw.Float64), n) if priced else nw.lit(None, nw.Float64)
        ).alias("basket__discount_share"),
    ]


class BasketFamily(FeatureFamily):
    """Basket size, order-value dispersion and discount buying, over all orders before the
    cutoff."""

    name = "basket"
    description = "items and products per order, order-value dispersion, discounted orders"
    needs = frozenset({"orders"})
    tags = frozenset({BEHAVIOURAL})
    opt_in = True  # built when named in features.families (see the module docstring)
    defaults: ClassVar[dict[str, Any]] = {"discount_depth": 0.10}
    columns = (
        column(
            "basket__items_mean",
            "mean number of items (units) per order",
            "ratio",
            words=("fewer items per order", "more items per order"),
        ),
        column(
            "basket__products_mean",
            "mean number of distinct products per order",
            "ratio",
            words=("narrower baskets", "wider baskets"),
        ),
        column(
            "basket__value_cv",
            "coefficient of variation of order values (customers with 2+ orders)",
            "ratio",
            words=("steadier order values", "more varied order values"),
        ),
        column(
            "basket__discount_share",
            "share of orders with a line priced at least 10% (discount_depth) below the "
            "product's median price before the cutoff",
            "share",
            words=("fewer discounted orders", "more discounted orders"),
        ),
    )

    def plan(self, ctx: FeatureContext) -> FamilyPlan:
        depth = float(ctx.params["discount_depth"])
        if not 0.0 < depth < 1.0:
            raise ValueError(
                f"The 'discount_depth' parameter of the basket feature family must be a share "
                f"in (0, 1). Got {depth!r} instead. Fix features.family_params.basket."
            )
        orders = ctx.table("orders")
        names = orders.collect_schema().names()
        return FamilyPlan(
            frames=[basket_frame(orders, ctx.cut, names=names, depth=depth)],
            finish=basket_finish(priced="product_id" in names and "unit_price" in names),
        )


FAMILY = register_family(BasketFamily())

"""Category-affinity family: share of spend and of views across the top-K categories.

The top-K categories are learned once, on history before the training cutoff, and then fixed,
so the same columns exist when the model scores later data. Spend outside them goes to
``affinity__spend_share_other``. Data without categories can derive product groups from a text
column (``data.orders.category_rules``, see ``configs/online_retail.yaml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals.stable.v2 as nw

from segml.engine import collect
from segml.features._expr import combine_parts, count_if, exact_parts, exact_sum, safe_div, slug
from segml.features.family import (
    BEHAVIOURAL,
    BLOCK,
    CLUSTER,
    FamilyPlan,
    FeatureContext,
    FeatureFamily,
    column,
    register_family,
)

__all__ = [
    "affinity_finish",
    "affinity_frames",
    "affinity_view_aggs",
    "category_columns",
    "learn_categories",
]


def _purchases(orders: nw.LazyFrame[Any], cut: float) -> nw.LazyFrame[Any]:
    return orders.filter((nw.col("t") < cut) & ~nw.col("is_return") & (nw.col("revenue") > 0))


def learn_categories(
    orders: nw.LazyFrame[Any], events: nw.LazyFrame[Any] | None, cut: float, *, k: int
) -> list[str]:
    """The top-``k`` categories by spend before ``cut`` (by product views if orders have none)."""
    if "category" in orders.collect_schema().names():
        ranked = (
            _purchases(orders, cut)
            .filter(~nw.col("category").is_null())
            .group_by("category")
            .agg(nw.col("revenue").sum().alias("weight"))
        )
    elif events is not None and "category" in events.collect_schema().names():
        ranked = (
            events.filter((nw.col("t") < cut) & (nw.col("event_type") == "product_view"))
            .filter(~nw.col("category").is_null())
            .group_by("category")
            .agg(nw.len().alias("weight"))
        )
    else:
        return []
    top = collect(ranked.sort(["weight", "category"], descending=[True, False]).head(k))
    return [str(c) for c in top.get_column("category").to_list()]


def category_columns(categories: Sequence[str]) -> dict[str, str]:
    """category -> unique column slug."""
    out: dict[str, str] = {}
    for cat in categories:
        name = slug(cat)
        while name in out.values() or name == "other":
            name += "_"
        out[cat] = name
    return out


def affinity_frames(
    orders: nw.LazyFrame[Any], cut: float, *, categories: Sequence[str]
) -> list[nw.LazyFrame[Any]]:
    """Spend per category, entropy and categories bought, from purchases before ``cut``."""
    cols = category_columns(categories)
    frames = []
    if "category" in orders.collect_schema().names():
        units, rest = exact_parts(nw.col("revenue"))
        per_cat = (
            _purchases(orders, cut)
            .with_columns(nw.col("category").fill_null("unknown"))
            .group_by("customer_id", "category")
            .agg(units.sum().alias("_u"), rest.sum().alias("_r"))
            .with_columns(
                combine_parts(nw.col("_u"), nw.col("_r")).alias("_s"),
                combine_parts(
                    nw.col("_u").sum().over("customer_id"), nw.col("_r").sum().over("customer_id")
                ).alias("_total"),
            )
            .with_columns((nw.col("_s") / nw.col("_total")).alias("_p"))
        )
        frames.append(
            per_cat.group_by("customer_id").agg(
                combine_parts(nw.col("_u").sum(), nw.col("_r").sum()).alias("_spend_total"),
                exact_sum(-(nw.col("_p") * nw.col("_p").log(2)), 10**12).alias(
                    "affinity__category_entropy"
                ),
                nw.len().alias("affinity__categories_bought"),
                *[
                    # one row per category: the sum picks that row's exact spend
                    nw.when(nw.col("category") == c)
                    .then(nw.col("_s"))
                    .otherwise(0.0)
                    .sum()
                    .alias(f"_spend_{s}")
                    for c, s in cols.items()
                ],
            )
        )
    return frames


def affinity_view_aggs(categories: Sequence[str]) -> list[nw.Expr]:
    """Aggregations over a customer's events before the cutoff: product views per category."""
    view = nw.col("event_type") == "product_view"
    return [
        count_if(view).alias("_views_total"),
        *[
            count_if(view & (nw.col("category") == c)).alias(f"_views_{s}")
            for c, s in category_columns(categories).items()
        ],
    ]


_RESIDUE = 1e-9


def affinity_finish(
    *, categories: Sequence[str], has_spend: bool, has_views: bool
) -> list[nw.Expr]:
    cols = list(category_columns(categories).values())
    out: list[nw.Expr] = []
    if has_spend:
        shares = [safe_div(nw.col(f"_spend_{s}"), nw.col("_spend_total")) for s in cols]
        out += [sh.alias(f"affinity__spend_share_{s}") for sh, s in zip(shares, cols, strict=True)]
        other = (
            nw.lit(1.0)
            - nw.sum_horizontal(*[nw.col(f"_spend_{s}") for s in cols]) / nw.col("_spend_total")
            if cols
            else nw.lit(1.0)
        )
        out += [
            # 1 - (sum of parts) / total leaves a rounding residue (2e-16) that depends on the
            # summation order, so engines disagreed on "no other spend": snap it to 0
            nw.when(nw.col("_spend_total") > 0)
            .then(nw.when(other < _RESIDUE).then(0.0).otherwise(other.clip(0.0, 1.0)))
            .otherwise(None)
            .alias("affinity__spend_share_other"),
            nw.col("affinity__category_entropy"),
            nw.col("affinity__categories_bought").fill_null(0).cast(nw.Float64),
        ]
    if has_views:
        out += [
            safe_div(nw.col(f"_views_{s}"), nw.col("_views_total")).alias(
                f"affinity__view_share_{s}"
            )
            for s in cols
        ]
    return out


class AffinityFamily(FeatureFamily):
    """Shares of spend (and of product views, with events) across the top-K categories.

    ``learn`` fixes the categories at fit time (``FeatureBuilder(categories=...)`` fixes them
    by hand); the per-category view counts run in the builder's shared group_by over events.
    """

    name = "affinity"
    description = "share of spend and of product views across the top categories"
    needs = frozenset({"orders"})
    tags = frozenset({BEHAVIOURAL, CLUSTER})
    columns = (
        column(
            "affinity__spend_share_{category}",
            "share of spend on category '{category}'",
            "share",
            tags=[f"{BLOCK}spend_share"],
        ),
        column(
            "affinity__view_share_{category}",
            "share of product views in category '{category}'",
            "share",
            tags=[f"{BLOCK}view_share"],
        ),
        column(
            "affinity__spend_share_other",
            "share of spend outside the top categories",
            "share",
            tags=[f"{BLOCK}spend_share"],
        ),
        column(
            "affinity__category_entropy",
            "diversity of spend across categories (entropy, bits)",
            "number",
            words=("focused baskets", "varied baskets"),
        ),
        column(
            "affinity__categories_bought",
            "number of distinct categories bought",
            "count",
            words=("fewer categories", "more categories"),
        ),
    )

    def learn(self, ctx: FeatureContext) -> dict[str, Any]:
        fixed = ctx.settings.get("categories")
        if fixed is not None:
            return {"categories": list(fixed)}
        k = ctx.settings["top_k_categories"]
        return {"categories": learn_categories(ctx.shop.orders, ctx.shop.events, ctx.cut, k=k)}

    def plan(self, ctx: FeatureContext) -> FamilyPlan:
        categories = ctx.state["categories"]
        has_views = ctx.has("events", "category") and bool(categories)
        return FamilyPlan(
            frames=affinity_frames(ctx.shop.orders, ctx.cut, categories=categories),
            event_aggs=affinity_view_aggs(categories) if has_views else [],
            finish=affinity_finish(
                categories=categories,
                has_spend=ctx.has("orders", "category"),
                has_views=has_views,
            ),
        )


FAMILY = register_family(AffinityFamily())

"""Attributes family: country, region, language passthrough, consent flags, sign-up tenure."""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from segml.features.family import (
    ATTRIBUTE,
    CONSENT,
    FamilyPlan,
    FeatureContext,
    FeatureFamily,
    column,
    register_family,
)
from segml.schema import customers_at

__all__ = ["attribute_finish", "attribute_frames"]

_TEXT = ("country", "region", "language")
_FLAGS = ("email_consent", "sms_consent")


def attribute_frames(customers: nw.LazyFrame[Any], cut: float) -> list[nw.LazyFrame[Any]]:
    """Each customer's attributes as known strictly before ``cut`` (``customers_at``)."""
    customers = customers_at(customers, cut)
    names = customers.collect_schema().names()
    exprs = [nw.col(c).alias(f"attr__{c}") for c in _TEXT + _FLAGS if c in names]
    if "signup_t" in names:
        exprs.append(
            nw.when(nw.col("signup_t") < cut)
            .then(cut - nw.col("signup_t"))
            .otherwise(None)
            .alias("attr__signup_tenure_days")
        )
    return [customers.select("customer_id", *exprs)] if exprs else []


def attribute_finish(customers: nw.LazyFrame[Any]) -> list[nw.Expr]:
    names = customers.collect_schema().names()
    out = [nw.col(f"attr__{c}") for c in _TEXT if c in names]
    out += [nw.col(f"attr__{c}").fill_null(False).cast(nw.Float64) for c in _FLAGS if c in names]
    if "signup_t" in names:
        out.append(nw.col("attr__signup_tenure_days"))
    return out


class AttributeFamily(FeatureFamily):
    """Country, region, language, consent flags and sign-up tenure from the customers table,
    as known strictly before the cutoff."""

    name = "attr"
    description = "customer attributes: country, region, language, consent, sign-up tenure"
    needs = frozenset({"customers"})
    tags = frozenset({ATTRIBUTE})
    columns = (
        column("attr__country", "country from the customers table", "text"),
        column("attr__region", "region from the customers table", "text"),
        column("attr__language", "language from the customers table", "text"),
        column(
            "attr__email_consent",
            "1 if the customer opted in to email",
            "flag",
            tags=[f"{CONSENT}email"],
        ),
        column(
            "attr__sms_consent", "1 if the customer opted in to SMS", "flag", tags=[f"{CONSENT}sms"]
        ),
        column("attr__signup_tenure_days", "days from sign-up to the cutoff", "days", "days"),
    )

    def plan(self, ctx: FeatureContext) -> FamilyPlan:
        customers = ctx.table("customers")
        return FamilyPlan(
            frames=attribute_frames(customers, ctx.cut),
            finish=attribute_finish(customers),
        )


FAMILY = register_family(AttributeFamily())

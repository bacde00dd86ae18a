"""Assemble the feature families into one row per customer known at the cutoff."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import narwhals.stable.v2 as nw
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from segml.config import FEATURE_DEFAULTS, DataSpec
from segml.engine import AsOf, compute, in_order, left_join_in_order, materialise, to_native
from segml.errors import DataError
from segml.features.cutoff_rows import RowsMixin
from segml.features.family import FamilyPlan, FeatureContext, FeatureFamily, get_family, registered
from segml.features.registry import families as registered_names
from segml.schema import ShopData, prepare

__all__ = ["FeatureBuilder", "build_features"]


def known_customers(shop: ShopData, cut: float) -> nw.LazyFrame[Any]:
    """Customers with an order or event before the cutoff, or who signed up before it."""
    parts = [shop.orders.filter(nw.col("t") < cut).select("customer_id")]
    if shop.events is not None:
        parts.append(shop.events.filter(nw.col("t") < cut).select("customer_id"))
    signed_up = _signed_up(shop, cut)
    if signed_up is not None:
        parts.append(signed_up)
    return nw.concat(parts, how="vertical").unique()


def _signed_up(shop: ShopData, cut: float) -> nw.LazyFrame[Any] | None:
    if shop.customers is None or "signup_t" not in shop.customers.collect_schema().names():
        return None
    return shop.customers.filter(nw.col("signup_t") < cut).select("customer_id")


def _customers_before(table: nw.LazyFrame[Any], cut: float) -> nw.LazyFrame[Any]:
    return table.filter(nw.col("t") < cut).select("customer_id").unique()


class FeatureBuilder(  # type: ignore[misc,call-arg]
    RowsMixin, TransformerMixin, BaseEstimator, auto_wrap_output_keys=None
):
    """Point-in-time customer features from every registered feature family (RFM, category
    affinity, engagement, intent, attributes, and any family registered with
    ``segml.features.family.register_family``), or the ones named in ``families``.

    ``fit`` learns what must stay fixed between training and scoring (the top-K categories)
    from history strictly before ``as_of``; ``transform`` builds one row per customer known at
    its own ``as_of`` from rows strictly before it. Neither ever looks at later rows.

    Parameters
    ----------
    windows_days : activity windows for order counts and revenue.
    top_k_categories : how many categories get their own affinity columns.
    engagement_window_days, intent_window_days : look-back windows of those families.
    categories : fix the category list instead of learning it.
    families : the families to build (names, e.g. ``["rfm", "affinity"]``); None for every
        registered family that is not ``opt_in`` (``basket``, ``timing``). Columns come in
        registry order whatever the order given here.
    family_params : per family, parameters of families registered with ``defaults``
        (``{"my_family": {"window_days": 14}}``).
    as_of : the cutoff ``fit``/``transform`` use when not given one as a keyword (the keyword
        wins), so the builder can be a ``Pipeline`` step; None keeps the keyword required.
    source : the shop's tables (as ``fit`` takes them). When set, ``fit``/``transform`` take
        *rows* instead: a frame with ``customer_id`` and optionally ``cutoff``, one row per
        sample, and return each row's features as of its own cutoff (or ``as_of``) from
        ``source``, in the rows' order: what scikit-learn's splitters and ``cross_val_score``
        need (``segml.features.cutoff_rows``).
    """

    def __init__(
        self,
        *,
        windows_days: Sequence[int] = FEATURE_DEFAULTS["windows_days"],
        top_k_categories: int = FEATURE_DEFAULTS["top_k_categories"],
        engagement_window_days: int = FEATURE_DEFAULTS["engagement_window_days"],
        intent_window_days: int = FEATURE_DEFAULTS["intent_window_days"],
        categories: Sequence[str] | None = None,
        families: Sequence[str] | None = None,
        family_params: Mapping[str, Mapping[str, Any]] | None = None,
        as_of: Any = None,
        source: Any = None,
    ) -> None:
        self.windows_days = windows_days
        self.top_k_categories = top_k_categories
        self.engagement_window_days = engagement_window_days
        self.intent_window_days = intent_window_days
        self.categories = categories
        self.families = families
        self.family_params = family_params
        self.as_of = as_of
        self.source = source

    def fit(
        self, data: Any, y: Any = None, *, as_of: AsOf | None = None, config: DataSpec = None
    ) -> FeatureBuilder:
        data, as_of = self._fit_input(data, as_of)
        self._check_params()
        shop = prepare(data, config=config)
        cut = shop.check_cutoff(as_of)
        chosen = self._chosen()
        self.families_ = [f.name for f in chosen]
        self.state_ = {
            f.name: f.learn(self._context(f, shop, cut, {})) for f in chosen if f.available(shop)
        }
        # kept as an attribute of its own: models store it with their feature settings
        self.categories_ = list(
            self.state_["affinity"]["categories"]
            if "affinity" in self.state_
            else self.categories or []
        )
        self.tables_ = sorted(shop.tables())
        self.feature_names_out_ = [
            c for c in self._plan(shop, cut).collect_schema().names() if c != "customer_id"
        ]
        self.quality_ = shop.quality
        return self

    def transform(self, data: Any, *, as_of: AsOf | None = None, config: DataSpec = None) -> Any:
        """Features as of ``as_of``, in the caller's frame type (pandas for files), or the type
        chosen with ``set_output``; with ``source`` set, ``data`` are rows (see the class)."""
        if self.source is not None:
            return self._transform_rows(data, as_of=as_of, config=config)
        as_of = self._cutoff(as_of)
        shop = prepare(data, config=config)
        table = self.transform_table(shop, as_of=as_of)
        return self._output(to_native(table, None, shop.kind))

    def transform_table(self, data: Any, *, as_of: AsOf, config: DataSpec = None) -> Any:
        """``transform`` without the conversion to the caller's frame type: a Polars DataFrame
        (a lazy Spark DataFrame for Spark input), sorted by ``customer_id``.

        What segml's own jobs use: converting millions of rows to pandas and back would hold
        two more copies of the table.
        """
        check_is_fitted(self, "feature_names_out_")
        shop = prepare(data, config=config)
        if sorted(shop.tables()) != self.tables_:
            raise DataError(
                f"the builder was fitted on tables {self.tables_} but got {sorted(shop.tables())};"
                " pass the same tables at scoring time as at training time."
            )
        cut = shop.check_cutoff(as_of)
        self.quality_ = shop.quality
        plan = self._plan(shop, cut, run=True)
        return compute(plan, order_by="customer_id")  # Polars: in that order already (_plan)

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        import numpy as np

        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def _check_params(self) -> None:
        windows = list(self.windows_days)
        if not windows or any(int(w) != w or w <= 0 for w in windows):
            raise ValueError(
                f"The 'windows_days' parameter of FeatureBuilder must be positive whole days. "
                f"Got {self.windows_days!r} instead."
            )
        for name in ("top_k_categories", "engagement_window_days", "intent_window_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"The {name!r} parameter of FeatureBuilder must be an int in the range "
                    f"[1, inf). Got {value!r} instead."
                )
        self._chosen()  # checks families and family_params

    def _chosen(self) -> list[FeatureFamily]:
        """The registered families this builder builds, in registry order."""
        known = registered_names()
        default = [f.name for f in registered() if not f.opt_in]
        wanted = default if self.families is None else list(self.families)
        unknown = [n for n in wanted if n not in known]
        if unknown or not wanted or len(set(wanted)) != len(wanted):
            raise ValueError(
                f"The 'families' parameter of FeatureBuilder must be distinct names of "
                f"registered feature families ({known}), or None for the default ones. Got "
                f"{self.families!r} instead{f'; unknown: {unknown}' if unknown else ''}. Fix "
                "features.families in the config."
            )
        chosen = [f for f in registered() if f.name in wanted]
        for name, params in (self.family_params or {}).items():
            family = next((f for f in chosen if f.name == name), None)
            extra = sorted(set(params) - set(family.defaults)) if family else []
            if family is None or extra:
                raise ValueError(
                    f"The 'family_params' parameter of FeatureBuilder sets "
                    f"{name}: {sorted(params)}, but "
                    + (
                        f"{name!r} is not among the families built ({[f.name for f in chosen]})"
                        if family is None
                        else f"{name!r} has no parameter {extra} (it has {sorted(family.defaults)})"
                    )
                    + ". Fix the names (features.family_params in the config)."
                )
        return chosen

    def _context(
        self, family: FeatureFamily, shop: ShopData, cut: float, state: Mapping[str, Any]
    ) -> FeatureContext:
        settings = {
            "windows_days": sorted(set(self.windows_days)),
            "top_k_categories": self.top_k_categories,
            "engagement_window_days": self.engagement_window_days,
            "intent_window_days": self.intent_window_days,
            "categories": self.categories,
        }
        params = {**family.defaults, **(self.family_params or {}).get(family.name, {})}
        return FeatureContext(shop, cut, settings, params=params, state=state)

    def _family_plans(self, shop: ShopData, cut: float) -> list[FamilyPlan]:
        """Each fitted family's plan, for the families the shop has the tables of."""
        plans = []
        for name in self.families_:
            try:
                family = get_family(name)
            except KeyError:
                raise DataError(
                    f"the builder was fitted with the feature family {name!r}, which is not "
                    f"registered now (registered: {registered_names()}); import the module "
                    "that registers it before transforming."
                ) from None
            if family.available(shop):
                state = self.state_.get(name, {})
                plans.append(family.plan(self._context(family, shop, cut, state)))
        return plans

    def _frames(
        self, shop: ShopData, cut: float, *, run: bool
    ) -> tuple[list[nw.LazyFrame[Any]], list[nw.LazyFrame[Any]], list[nw.Expr]]:
        """The aggregates whose customers are the known customers (``whole``), the other
        aggregates (``parts``) and the output column expressions, from every family's plan.

        The events before the cutoff get one group_by with every family's ``event_aggs``; a
        table no family covers adds its distinct customers (not joined, only counted as known).
        """
        plans = self._family_plans(shop, cut)
        whole = [f for p in plans if p.covers for f in p.frames]
        parts = [f for p in plans if not p.covers for f in p.frames]
        covered = {t for p in plans for t in p.covers}
        if "orders" not in covered:
            whole.append(_customers_before(shop.orders, cut))
        if shop.events is not None:
            past = shop.events.filter(nw.col("t") < cut)
            aggs = [a for p in plans for a in p.event_aggs]
            joins = [j for p in plans for j in p.event_joins]
            if run and joins:
                joins = materialise(joins)
            for frame in joins:
                past = past.join(frame, on="customer_id", how="left")
            if aggs:
                whole.append(past.group_by("customer_id").agg(*aggs))
            elif "events" not in covered:
                whole.append(_customers_before(shop.events, cut))
        signed_up = _signed_up(shop, cut)
        if signed_up is not None:
            whole.append(signed_up)
        return whole, parts, [e for p in plans for e in p.finish]

    def _plan(self, shop: ShopData, cut: float, *, run: bool = False) -> nw.LazyFrame[Any]:
        """The feature table as a plan over the per-customer aggregates.

        With ``run``, the aggregates are computed first, all in one go
        (``segml.engine.materialise``), and the plan joins the small results; the customers
        known at the cutoff are those with a row in an aggregate that sees every order or event
        before it, or who signed up before it.
        """
        whole, parts, finish = self._frames(shop, cut, run=run)
        if run:
            done = materialise(whole + parts)
            whole, parts = done[: len(whole)], done[len(whole) :]
        known = nw.concat([f.select("customer_id") for f in whole], how="vertical").unique()
        plan = known.with_columns(_id=nw.col("customer_id").cast(nw.String))
        # Sorted before the joins, which keep its order: sorting the one id column is cheap,
        # sorting the finished table would copy every column (5M customers: +3.6 GB).
        # Spark has no row order to keep; transform_table sorts its result.
        plan = in_order(plan, "_id")
        for frame in whole + parts:
            if frame.collect_schema().names() != ["customer_id"]:
                plan = left_join_in_order(plan, frame, on="customer_id")
        return plan.select(nw.col("_id").alias("customer_id"), *finish)


def build_features(
    data: Any,
    *,
    as_of: AsOf,
    config: DataSpec = None,
    categories: Sequence[str] | None = None,
    **params: Any,
) -> Any:
    """One row per customer known at ``as_of``, from rows strictly before it.

    ``as_of`` is required: it never defaults to the latest timestamp in the data. ``params``
    are FeatureBuilder's (windows_days, top_k_categories, ...). For training and scoring with
    the same columns, fit a FeatureBuilder once and call ``transform`` for each cutoff.
    """
    builder = FeatureBuilder(categories=categories, **params)
    shop = prepare(data, config=config)
    return builder.fit(shop, as_of=as_of).transform(shop, as_of=as_of)

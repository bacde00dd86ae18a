"""Labels: what happened in the horizon after a cutoff (purchase, lapse, value), and the cutoffs.

Every label reads only rows in its window ``[cutoff, cutoff + horizon)``; every population (who
gets a label) is decided from rows strictly before the cutoff, like the features. So moving a row
dated at or after a cutoff can change that cutoff's labels but never its features.

Targets
-------
``purchase``
    1 if the customer places at least one purchase order (not a return) in the window. The
    population is every customer known at the cutoff: an order or event before it, or a sign-up
    before it when a customers table exists (so customers who never bought are scored too).
``lapse``
    1 if a customer with a purchase order in the ``lookback_days`` before the cutoff (an
    *active buyer*) places none in the window. The population is the active buyers only.
``value``
    Revenue of the purchase lines (returns excluded) in the window; 0 for most customers. The
    population is the same as for ``purchase``.

Each target is a ``segml.targets.TargetSpec``; the functions here are the built-ins' population
(``known_population``, ``active_buyers``) and label (``purchase_label``, ...) functions, and
``label_plan`` runs whichever the spec of the requested target names, so a target registered
from outside segml is labelled the same way (see ``segml.targets``).

Cutoffs are first-of-month midnights (UTC). At training time ``now``, only cutoffs whose whole
label window ends at or before ``now`` are eligible (:func:`monthly_cutoffs`).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np

from segml import targets
from segml.config import DataSpec
from segml.engine import AsOf, as_of_days, collect, deliver, parse_as_of
from segml.errors import ConfigError, DataError
from segml.features._expr import exact_sum
from segml.features.builder import known_customers
from segml.features.rfm import order_level
from segml.schema import ShopData, prepare

__all__ = [
    "CUTOFF_STEPS",
    "TARGETS",
    "Target",
    "active_buyers",
    "backtest_lapse_horizon",
    "cutoff_grid",
    "known_population",
    "label_plan",
    "label_window_end",
    "lapse_auto_horizon",
    "lapse_horizon_days",
    "lapse_label",
    "make_labels",
    "monthly_cutoffs",
    "purchase_label",
    "value_label",
    "window_purchases",
]

Target = str  # a name in the target registry (segml.targets.names())
CUTOFF_STEPS = ("monthly", "semimonthly")
# the built-in targets; every step reads segml.targets.names(), which includes registered ones
TARGETS: tuple[str, ...] = ("purchase", "lapse", "value")


def _check_target(target: str) -> None:
    targets.get(target)  # a ConfigError naming the registered targets


def _check_days(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{name} must be a positive number of days; got {value!r}.")
    return float(value)


def label_window_end(cutoff: AsOf, horizon_days: float) -> dt.datetime:
    """The end (exclusive) of the label window that starts at ``cutoff``."""
    return parse_as_of(cutoff) + dt.timedelta(days=_check_days(horizon_days, "horizon_days"))


def _add_months(day: dt.datetime, months: int) -> dt.datetime:
    index = day.year * 12 + day.month - 1 + months
    return dt.datetime(index // 12, index % 12 + 1, 1)


def monthly_cutoffs(
    *, now: AsOf, horizon_days: float, n_cutoffs: int, step_months: int = 1
) -> list[dt.datetime]:
    """The ``n_cutoffs`` latest first-of-month cutoffs whose label window ends by ``now``.

    A cutoff ``c`` is eligible when ``c + horizon_days <= now``: its whole label window lies in
    the past. Cutoffs are ``step_months`` apart, oldest first.
    """
    if not isinstance(n_cutoffs, int) or n_cutoffs < 1:
        raise ConfigError(f"n_cutoffs must be an int >= 1; got {n_cutoffs!r}.")
    if not isinstance(step_months, int) or step_months < 1:
        raise ConfigError(f"step_months must be an int >= 1; got {step_months!r}.")
    latest_start = parse_as_of(now) - dt.timedelta(days=_check_days(horizon_days, "horizon_days"))
    last = dt.datetime(latest_start.year, latest_start.month, 1)
    return [_add_months(last, -step_months * k) for k in range(n_cutoffs)][::-1]


def cutoff_grid(
    *, now: AsOf, horizon_days: float, n_cutoffs: int, step: str = "monthly"
) -> list[dt.datetime]:
    """The ``n_cutoffs`` latest cutoffs on a calendar grid whose label window ends by ``now``.

    ``step`` "monthly": the 1st of each month; "semimonthly": the 1st and the 16th (twice the
    examples from the same span of history). Oldest first; ``c + horizon_days <= now`` for all.
    """
    if step not in CUTOFF_STEPS:
        raise ConfigError(f"step must be one of {list(CUTOFF_STEPS)}; got {step!r}.")
    if step == "monthly":
        return monthly_cutoffs(now=now, horizon_days=horizon_days, n_cutoffs=n_cutoffs)
    if not isinstance(n_cutoffs, int) or n_cutoffs < 1:
        raise ConfigError(f"n_cutoffs must be an int >= 1; got {n_cutoffs!r}.")
    months = monthly_cutoffs(now=now, horizon_days=horizon_days, n_cutoffs=n_cutoffs // 2 + 2)
    latest = parse_as_of(now) - dt.timedelta(days=_check_days(horizon_days, "horizon_days"))
    grid = sorted(
        {d for m in months for d in (m, m.replace(day=16))} | {_add_months(months[-1], 1)}
    )
    return [d for d in grid if d <= latest][-n_cutoffs:]


def _purchases(shop: ShopData) -> nw.LazyFrame[Any]:
    return shop.orders.filter(~nw.col("is_return") & (nw.col("revenue") > 0))


def known_population(shop: ShopData, cut: float, *, lookback_days: float) -> nw.LazyFrame[Any]:
    """Every customer known at the cutoff (the population of ``purchase`` and ``value``)."""
    return known_customers(shop, cut)


def active_buyers(shop: ShopData, cut: float, *, lookback_days: float) -> nw.LazyFrame[Any]:
    """Customers with a purchase order in the ``lookback_days`` before the cutoff (``lapse``)."""
    return (
        order_level(shop.orders, cut)
        .filter(nw.col("t") >= cut - lookback_days)
        .select("customer_id")
        .unique()
    )


def window_purchases(
    shop: ShopData, population: nw.LazyFrame[Any], *, cut: float, horizon: float
) -> nw.LazyFrame[Any]:
    """``population`` with ``_revenue`` and ``_lines`` (null: none) of its purchase lines in
    ``[cut, cut + horizon)``."""
    inside = (nw.col("t") >= cut) & (nw.col("t") < cut + horizon)
    future = (
        _purchases(shop)
        .filter(inside)
        .group_by("customer_id")
        .agg(exact_sum(nw.col("revenue")).alias("_revenue"), nw.len().alias("_lines"))
    )
    return population.join(future, on="customer_id", how="left")


def _bought() -> nw.Expr:
    return nw.col("_lines").fill_null(0) > 0


def purchase_label(
    shop: ShopData, population: nw.LazyFrame[Any], *, cut: float, horizon: float
) -> nw.LazyFrame[Any]:
    joined = window_purchases(shop, population, cut=cut, horizon=horizon)
    return joined.select("customer_id", nw.when(_bought()).then(1.0).otherwise(0.0).alias("label"))


def lapse_label(
    shop: ShopData, population: nw.LazyFrame[Any], *, cut: float, horizon: float
) -> nw.LazyFrame[Any]:
    joined = window_purchases(shop, population, cut=cut, horizon=horizon)
    return joined.select("customer_id", nw.when(_bought()).then(0.0).otherwise(1.0).alias("label"))


def value_label(
    shop: ShopData, population: nw.LazyFrame[Any], *, cut: float, horizon: float
) -> nw.LazyFrame[Any]:
    joined = window_purchases(shop, population, cut=cut, horizon=horizon)
    revenue = nw.col("_revenue").fill_null(0.0).cast(nw.Float64)
    return joined.select("customer_id", revenue.alias("label"))


def label_plan(
    shop: ShopData, cut: float, *, target: str, horizon: float, lookback_days: float
) -> nw.LazyFrame[Any]:
    """The lazy query behind ``make_labels`` on prepared data; ``cut`` in epoch days. The
    target's spec (``segml.targets``) gives the population and the label."""
    spec = targets.get(target)
    population = targets.resolve(spec.population)(shop, cut, lookback_days=lookback_days)
    labelled = targets.resolve(spec.label)(shop, population, cut=cut, horizon=horizon)
    ids = nw.col("customer_id").cast(nw.String)  # integer ids stay integers in prepared data
    return labelled.select(ids, nw.col("label")).sort("customer_id")


def make_labels(
    data: Any,
    *,
    as_of: AsOf,
    target: Target,
    horizon_days: float,
    lookback_days: float = 365,
    config: DataSpec = None,
) -> Any:
    """One row per customer in the target's population: ``customer_id`` and ``label``.

    The label looks only at rows in ``[as_of, as_of + horizon_days)``; the population only at
    rows before ``as_of``. ``lookback_days`` defines an active buyer for ``lapse``. ``as_of`` is
    required. Returns the caller's frame type (pandas for files).
    """
    _check_target(target)
    horizon = _check_days(horizon_days, "horizon_days")
    lookback = _check_days(lookback_days, "lookback_days")
    shop = prepare(data, config=config)
    cut = as_of_days(as_of)
    plan = label_plan(shop, cut, target=target, horizon=horizon, lookback_days=lookback)
    return deliver(plan, shop.kind)


def lapse_horizon_days(
    data: Any, *, as_of: AsOf, quantile: float = 0.8, config: DataSpec = None
) -> int:
    """Default lapse horizon: the ``quantile`` of repeat buyers' gaps between orders, in days.

    Gaps between consecutive purchase orders of the same customer, strictly before ``as_of``,
    are pooled; the horizon is their ``quantile`` rounded up to whole weeks. With the default
    0.8, four in five repeat orders follow the previous one within the horizon, so a customer
    silent for that long has probably lapsed rather than merely paused.
    """
    if not 0 < quantile < 1:
        raise ConfigError(f"quantile must lie in (0, 1); got {quantile!r}.")
    shop = prepare(data, config=config)
    cut = as_of_days(as_of)
    gaps = (
        order_level(shop.orders, cut)
        .with_columns(nw.col("t").diff().over("customer_id", order_by=["t", "order_id"]).alias("g"))
        .filter(nw.col("g") > 0)
        .select("g")
    )
    values = collect(gaps)["g"].to_numpy()
    if values.size < 10:
        raise DataError(
            f"cannot derive the lapse horizon: only {values.size} repeat-order gaps before "
            f"{parse_as_of(as_of):%Y-%m-%d}; set training.lapse.horizon_days in the config."
        )
    return int(7 * math.ceil(float(np.quantile(values, quantile)) / 7))


def backtest_lapse_horizon(
    data: Any, *, now: AsOf, quantile: float = 0.8, config: DataSpec = None, max_rounds: int = 8
) -> int:
    """The automatic lapse horizon for training at ``now``, from data before the backtest cutoff.

    The backtest cutoff depends on the horizon (the latest first-of-month ``c`` with
    ``c + h <= now``, see :func:`monthly_cutoffs`), and the horizon must come from rows before
    that cutoff, or the backtest would score a model whose horizon was chosen with the test
    window in view. So: start from the horizon computed at ``now``, compute the cutoff, recompute
    the horizon from rows before that cutoff, and repeat until the cutoff no longer moves. If it
    keeps moving after ``max_rounds``, the horizon computed at the earliest cutoff seen is used
    (computed on even less data, never on later data).
    """
    shop = prepare(data, config=config)
    horizon = lapse_horizon_days(shop, as_of=now, quantile=quantile)
    seen: dict[dt.datetime, int] = {}
    for _ in range(max_rounds):
        cut = monthly_cutoffs(now=now, horizon_days=horizon, n_cutoffs=1)[0]
        if cut in seen:
            break
        seen[cut] = horizon = lapse_horizon_days(shop, as_of=cut, quantile=quantile)
        if monthly_cutoffs(now=now, horizon_days=horizon, n_cutoffs=1)[0] == cut:
            return horizon
    return seen[min(seen)]


def lapse_auto_horizon(shop: Any, *, now: AsOf, quantile: float, backtest: bool) -> int:
    """The ``auto_horizon`` of ``lapse``: ``backtest_lapse_horizon`` for a run that carves out a
    backtest at ``now``, else ``lapse_horizon_days`` as of ``now``."""
    if backtest:
        return backtest_lapse_horizon(shop, now=now, quantile=quantile)
    return lapse_horizon_days(shop, as_of=now, quantile=quantile)

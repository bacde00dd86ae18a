"""``rfm_summary``: the customer-base summary of the CLV ecosystem (lifetimes, PyMC-Marketing).

Same semantics and column names as ``lifetimes.utils.summary_data_from_transaction_data``:
timestamps are truncated to periods of ``time_unit``; purchases in the same period count once;

- ``frequency``: number of periods with a purchase, minus one (repeat purchases);
- ``recency``: periods from the first to the last purchase period (age at last purchase);
- ``T``: periods from the first purchase period to the ``observation_period_end`` period;
- ``monetary_value``: mean spend per repeat purchase period (first period excluded), 0 when
  there is no repeat purchase.

As in lifetimes, purchases inside the ``observation_period_end`` period are included (the end is
inclusive), and a zero-amount order is a transaction (it counts in ``frequency``, ``recency`` and
``T``, and adds 0 to ``monetary_value``); ``zero_amount="drop"`` leaves such orders out. The
feature builder never counts them as purchases (see ``segml.schema.prepare``).
To summarise history strictly before a feature cutoff ``as_of``, pass
``observation_period_end = as_of - 1 day`` with ``time_unit="D"``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import narwhals.stable.v2 as nw

from segml.config import DataSpec
from segml.engine import AsOf, as_of_days, deliver
from segml.errors import DataError
from segml.features._expr import count_if, exact_sum
from segml.schema import ShopData, prepare

__all__ = ["rfm_summary"]

_UNIT_DAYS = {"D": 1.0, "W": 7.0}


def _period_start(days: nw.Expr, unit: str) -> nw.Expr:
    day = days.floor()
    if unit == "W":  # lifetimes' 'W' periods run Monday..Sunday; epoch day 0 was a Thursday
        return day - ((day + 3) % 7)
    return day


def rfm_summary(
    data: Any,
    *,
    observation_period_end: AsOf,
    time_unit: Literal["D", "W"] = "D",
    zero_amount: Literal["transaction", "drop"] = "transaction",
    config: DataSpec = None,
) -> Any:
    """Per customer: ``frequency, recency, T, monetary_value`` (lifetimes' definitions).

    Returns the caller's frame type (pandas for files), indexed by a ``customer_id`` column.
    """
    if time_unit not in _UNIT_DAYS:
        raise DataError(
            f"rfm_summary time_unit must be one of {sorted(_UNIT_DAYS)}, got {time_unit!r}."
        )
    if zero_amount not in ("transaction", "drop"):
        raise DataError(
            f"rfm_summary zero_amount must be 'transaction' (as lifetimes) or 'drop', got "
            f"{zero_amount!r}."
        )
    if observation_period_end is None:
        raise DataError("rfm_summary needs observation_period_end (e.g. '2011-09-30').")
    shop = prepare(data, config=config)
    size = _UNIT_DAYS[time_unit]
    end_day = math.floor(as_of_days(observation_period_end))
    end = end_day - ((end_day + 3) % 7) if time_unit == "W" else end_day
    periods = (
        _transactions(shop, zero_amount=zero_amount)
        .with_columns(_period_start(nw.col("t"), time_unit).alias("p"))
        .filter(nw.col("p") <= end)
        .group_by("customer_id", "p")
        .agg(nw.col("revenue").sum())
        .with_columns(nw.col("p").min().over("customer_id").alias("_first"))
    )
    summary = (
        periods.group_by("customer_id")
        .agg(
            (nw.len() - 1).alias("frequency"),
            ((nw.col("p").max() - nw.col("_first").min()) / size).alias("recency"),
            ((end - nw.col("_first").min()) / size).alias("T"),
            _repeat_mean().alias("monetary_value"),
        )
        .with_columns(
            nw.col("customer_id").cast(nw.String),  # integer ids stay integers in prepared data
            nw.col("frequency").cast(nw.Float64),
            nw.col("monetary_value").fill_null(0.0),
        )
        .sort("customer_id")
    )
    return deliver(summary, shop.kind)


def _repeat_mean() -> nw.Expr:
    """Mean spend of repeat periods (the first period excluded), order-independent."""
    repeat = nw.col("p") > nw.col("_first")
    total = exact_sum(nw.when(repeat).then(nw.col("revenue")).otherwise(0.0))
    n = count_if(repeat)
    return nw.when(n > 0).then(total / n).otherwise(None)


def _transactions(shop: ShopData, *, zero_amount: str) -> nw.LazyFrame[Any]:
    """Purchase lines (returns excluded), with the zero-amount lines unless dropped."""
    columns = ["customer_id", "t", "revenue"]
    out = shop.orders.filter(~nw.col("is_return")).select(columns)
    zero = shop.zero_amount_orders
    if zero_amount == "transaction" and zero is not None:
        kept = zero.filter(~nw.col("is_return")).select(columns)
        out = nw.concat([out, kept.with_columns(nw.col("revenue").cast(nw.Float64))])
    return out

"""Amounts and timestamps later steps cannot use are refused in validation, named; amounts they
can use are summed exactly; rows without a time are counted (issue 13)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import segml
from segml.errors import DataError
from tests.conftest import AS_OF, tiny_orders


def _with_price(value: Any, column: str = "unit_price") -> pd.DataFrame:
    frame = tiny_orders()
    frame[column] = frame[column].astype(object)
    frame.loc[frame.index[0], column] = value
    return frame


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("NaN", r"orders.unit_price has 1 of 12 rows that are NaN or infinite, e.g. \['NaN'\]"),
        (float("inf"), r"orders.unit_price has 1 of 12 rows that are NaN or infinite"),
        ("-inf", r"that are NaN or infinite, e.g. \['-inf'\]"),
        ("Infinity", r"that are NaN or infinite, e.g. \['Infinity'\]"),
        (1e300, r"orders.unit_price has 1 of 12 rows beyond 1e15 in absolute value.*1e\+300"),
        ("2e16", r"rows beyond 1e15 in absolute value, the largest amount segml accepts"),
    ],
)
def test_unusable_amounts_are_refused_in_validation(value: Any, match: str) -> None:
    with pytest.raises(DataError, match=match):
        segml.prepare(_with_price(value))


def test_a_nan_float_is_a_missing_price() -> None:
    """pandas writes a missing number as NaN: that is a missing price, dropped and counted."""
    shop = segml.prepare(_with_price(float("nan")))
    assert shop.quality.count("orders", "bad_price_rows") == 1


def test_quantity_times_price_beyond_range_is_refused() -> None:
    frame = _with_price(1e9).assign(quantity=10**9)
    with pytest.raises(
        DataError, match=r"orders has 1 of 12 rows whose quantity x unit_price.*1e\+18"
    ):
        segml.prepare(frame)


def test_a_table_whose_revenue_overflows_int64_sums_is_refused() -> None:
    rows = [("a", f"o{i}", "2024-01-01", 9e14) for i in range(10_001)]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_time", "revenue"])
    with pytest.raises(DataError, match=r"the revenue adds up to 9e\+18 in absolute value"):
        segml.prepare(frame)


@pytest.mark.parametrize(
    ("column", "values", "match"),
    [
        ("revenue", [True, False], r"orders.revenue is of type Boolean; expected numbers"),
        ("order_time", [1, 2], r"orders.order_time is of type Int64; expected datetimes"),
    ],
)
def test_columns_of_the_wrong_type_are_refused_by_name(
    column: str, values: list[Any], match: str
) -> None:
    frame = pd.DataFrame(
        {"customer_id": ["a", "a"], "order_id": ["1", "2"], "order_time": ["2024-01-01"] * 2}
    )
    frame[column] = values
    if column != "revenue":
        frame["revenue"] = [1.0, 2.0]
    with pytest.raises(DataError, match=match):
        segml.prepare(frame)


def _big(amounts: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a"] * len(amounts),
            "order_id": [f"o{i}" for i in range(len(amounts))],
            "order_time": ["2024-01-01", "2024-01-15", "2024-02-01"][: len(amounts)],
            "revenue": amounts,
            "category": ["home", "toys", "home"][: len(amounts)],
        }
    )


def test_large_amounts_are_summed_exactly() -> None:
    """Two orders of 5e12 were summed in Int64 micro-units and wrapped to -8.45e12."""
    feats = segml.build_features(_big([5e12, 5e12]), as_of=AS_OF).iloc[0]
    assert feats["rfm__monetary_total"] == 1e13
    assert feats["rfm__monetary_mean"] == 5e12
    assert feats["affinity__spend_share_home"] == 0.5


def test_amounts_up_to_the_limit_are_summed_exactly() -> None:
    feats = segml.build_features(_big([1e15, 1e15, 0.25]), as_of=AS_OF).iloc[0]
    assert feats["rfm__monetary_total"] == 2e15 + 0.25
    assert feats["rfm__revenue_365d"] == 2e15 + 0.25


def test_rows_without_a_time_are_counted_not_lost_silently() -> None:
    orders = tiny_orders()
    blank = orders.index[orders["order_id"] == "o2"][0]
    orders.loc[blank, "order_time"] = None
    shop = segml.prepare(orders)
    assert shop.quality.count("orders", "null_time_rows") == 1
    terms = shop.quality.balance("orders")
    assert terms["read"] == 12 and terms["read"] == sum(v for k, v in terms.items() if k != "read")
    assert "orders.null_time_rows" in str(shop.quality)


@pytest.mark.parametrize(
    ("as_of", "match"),
    [
        ("2020-01-01", r"before the cutoff 2020-01-01 00:00; the first order is on 2023-03-01\."),
    ],
)
def test_a_cutoff_before_all_data_prints_dates(as_of: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        segml.build_features(tiny_orders(), as_of=as_of)


def test_a_cutoff_years_after_the_last_row_warns() -> None:
    builder = segml.FeatureBuilder()
    with pytest.warns(
        UserWarning, match=r"the cutoff 2030-01-01 00:00 is 5.8 years after the last"
    ):
        builder.fit(tiny_orders(), as_of="2030-01-01")
    assert "2024-03-05" in builder.quality_.warnings[0]
    assert "warning: the cutoff 2030-01-01" in str(builder.quality_)


def test_placeholder_dates_a_century_back_are_refused() -> None:
    orders = tiny_orders()
    orders.loc[orders.index[0], "order_time"] = "1900-01-01"
    with pytest.raises(DataError, match=r"rows as early as 1900-01-01, more than 95 years"):
        segml.build_features(orders, as_of=AS_OF)


def test_a_table_emptied_by_the_rules_says_so() -> None:
    orders = tiny_orders().assign(customer_id=None)
    with pytest.raises(DataError, match=r"no row is left after the hygiene rules"):
        segml.build_features(orders, as_of=AS_OF)

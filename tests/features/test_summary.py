"""rfm_summary against a hand calculation of the lifetimes definitions."""

from __future__ import annotations

import pandas as pd
import pytest

import segml
from segml.errors import DataError


def _orders(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "order_time", "revenue"])
    frame["order_id"] = [f"o{i}" for i in range(len(frame))]
    return frame.sample(frac=1.0, random_state=0)


ROWS = [
    ("a", "2024-01-01 09:00", 10.0),
    ("a", "2024-01-01 18:00", 5.0),  # same day: one period, 15 in total
    ("a", "2024-01-04 12:00", 20.0),
    ("a", "2024-01-10 08:00", 40.0),
    ("b", "2024-01-08 00:00", 7.0),
    ("c", "2024-01-20 23:59", 9.0),  # on the observation end day: included, as in lifetimes
    ("c", "2024-01-21 00:00", 9.0),  # after it: excluded
]


def test_daily_summary_by_hand() -> None:
    out = segml.rfm_summary(_orders(ROWS), observation_period_end="2024-01-20")
    got = out.set_index("customer_id")
    # a: purchase days Jan 1, 4, 10 -> frequency 2; recency 9; T = Jan 20 - Jan 1 = 19;
    # monetary value = mean of repeat days (20, 40) = 30; the first day's 15 is excluded.
    assert got.loc["a"].to_dict() == {"frequency": 2, "recency": 9, "T": 19, "monetary_value": 30}
    assert got.loc["b"].to_dict() == {"frequency": 0, "recency": 0, "T": 12, "monetary_value": 0}
    assert got.loc["c"].to_dict() == {"frequency": 0, "recency": 0, "T": 0, "monetary_value": 0}


def test_weekly_summary_by_hand() -> None:
    out = segml.rfm_summary(_orders(ROWS), observation_period_end="2024-01-20", time_unit="W")
    got = out.set_index("customer_id")
    # Weeks start on Monday: Jan 1 and Jan 4 fall in the week of Jan 1, Jan 10 in that of Jan 8;
    # the end (Sat Jan 20) is in the week of Jan 15. a: 2 purchase weeks -> frequency 1,
    # recency 1 week, T 2 weeks, repeat value 40.
    assert got.loc["a"].to_dict() == {"frequency": 1, "recency": 1, "T": 2, "monetary_value": 40}
    assert got.loc["b"].to_dict() == {"frequency": 0, "recency": 0, "T": 1, "monetary_value": 0}


def test_returns_are_not_purchases() -> None:
    orders = _orders([*ROWS[:3], ("a", "2024-01-05 00:00", -20.0)])
    got = segml.rfm_summary(orders, observation_period_end="2024-01-20").set_index("customer_id")
    assert got.loc["a", "frequency"] == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"observation_period_end": None}, "needs observation_period_end"),
        ({"observation_period_end": "2024-01-20", "time_unit": "M"}, "time_unit must be one of"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        segml.rfm_summary(_orders(ROWS), **kwargs)  # type: ignore[arg-type]


ZERO_ROWS = [
    ("d", "2024-01-02 10:00", 0.0),  # a free order: still a transaction, as in lifetimes
    ("d", "2024-01-05 00:00", 12.0),
    ("d", "2024-01-09 00:00", 0.0),
    ("e", "2024-01-03 00:00", 0.0),  # only free orders
]


def test_zero_amount_orders_are_transactions_like_lifetimes() -> None:
    out = segml.rfm_summary(_orders(ROWS + ZERO_ROWS), observation_period_end="2024-01-20")
    got = out.set_index("customer_id")
    # d: transaction days Jan 2, 5, 9 -> frequency 2, recency 7, T 18; monetary value = mean of
    # the repeat days (12, 0) = 6. e: one transaction day (Jan 3) -> T 17, monetary value 0.
    assert got.loc["d"].to_dict() == {"frequency": 2, "recency": 7, "T": 18, "monetary_value": 6}
    assert got.loc["e"].to_dict() == {"frequency": 0, "recency": 0, "T": 17, "monetary_value": 0}
    assert got.loc["a"].to_dict() == {"frequency": 2, "recency": 9, "T": 19, "monetary_value": 30}


def test_zero_amount_orders_can_be_dropped() -> None:
    out = segml.rfm_summary(
        _orders(ROWS + ZERO_ROWS), observation_period_end="2024-01-20", zero_amount="drop"
    )
    got = out.set_index("customer_id")
    assert got.loc["d"].to_dict() == {"frequency": 0, "recency": 0, "T": 15, "monetary_value": 0}
    assert "e" not in got.index


def test_zero_amount_orders_are_not_purchases_for_the_features() -> None:
    feats = segml.build_features(_orders(ROWS + ZERO_ROWS), as_of="2024-01-21")
    d = feats.set_index("customer_id").loc["d"]
    assert (d["rfm__frequency"], d["rfm__monetary_total"]) == (1, 12)
    assert "e" not in set(feats["customer_id"])

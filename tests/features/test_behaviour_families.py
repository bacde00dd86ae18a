"""The browse, basket and timing families: values worked out by hand, point in time, what a
shop without a column gets, and which families are built by default."""

from __future__ import annotations

import datetime as dt
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
import polars as pl
import pytest

from segml.clusters import DEFAULT_FEATURES
from segml.features import FeatureBuilder, build_features
from segml.features.timing import calendar_month
from tests.conftest import AS_OF, tiny_customers

_OPT_IN = ["rfm", "basket", "timing"]


def _orders() -> pd.DataFrame:
    rows = [
        # customer, order, time, product, qty, price, status
        ("x", "x1", "2024-01-06 10:00", "P1", 2, 10.0, "completed"),  # a Saturday
        ("x", "x1", "2024-01-06 10:00", "P2", 1, 5.0, "completed"),
        ("x", "x2", "2024-01-10 10:00", "P1", 1, 8.0, "completed"),  # 20% below P1's median
        ("y", "y1", "2024-02-03 10:00", "P1", 1, 10.0, "completed"),  # a Saturday
        ("y", "y1r", "2024-02-04 10:00", "P1", -1, 10.0, "returned"),
        ("x", "x3", "2024-03-02 10:00", "P1", 9, 1.0, "completed"),  # after the cutoff
        ("z", "z1", "2024-03-01 00:00", "P2", 1, 1.0, "completed"),  # at the cutoff
    ]
    cols = ["customer_id", "order_id", "order_time", "product_id", "quantity", "unit_price"]
    frame = pd.DataFrame(rows, columns=[*cols, "status"])
    return frame.sample(frac=1.0, random_state=4).reset_index(drop=True)


def _build(orders: pd.DataFrame, **params: Any) -> pd.DataFrame:
    feats = build_features({"orders": orders}, as_of=AS_OF, families=_OPT_IN, **params)
    return feats.set_index("customer_id")


def test_basket_by_hand() -> None:
    f = _build(_orders())
    assert sorted(f.index) == ["x", "y"]
    # x: x1 has 3 items of 2 products worth 25, x2 1 item worth 8 -> means 2 and 1.5
    assert f.loc["x", "basket__items_mean"] == pytest.approx(2.0)
    assert f.loc["x", "basket__products_mean"] == pytest.approx(1.5)
    # order values 25 and 8: sample std 12.0208 / mean 16.5
    assert f.loc["x", "basket__value_cv"] == pytest.approx(np.sqrt(2 * 8.5**2) / 16.5)
    # P1's median purchase price before the cutoff is 10 (10, 8, 10): x2 at 8 is discounted
    assert f.loc["x", "basket__discount_share"] == pytest.approx(0.5)
    # y: one order (the return is not an order), at P1's median: not discounted, no spread
    assert (f.loc["y", "basket__items_mean"], f.loc["y", "basket__discount_share"]) == (1.0, 0.0)
    assert np.isnan(f.loc["y", "basket__value_cv"])


def test_the_discount_depth_is_a_parameter() -> None:
    f = _build(_orders(), family_params={"basket": {"discount_depth": 0.25}})
    assert f.loc["x", "basket__discount_share"] == 0.0  # 8 is not 25% below 10
    with pytest.raises(ValueError, match=r"'discount_depth' .* must be a share in \(0, 1\)"):
        _build(_orders(), family_params={"basket": {"discount_depth": 1.5}})


def test_timing_by_hand() -> None:
    f = _build(_orders(), family_params={"timing": {"peak_months": 1}})
    # orders before the cutoff: two in January, one in February -> the peak month is January
    assert f.loc["x", "timing__peak_share"] == 1.0 and f.loc["y", "timing__peak_share"] == 0.0
    # x1 on Saturday 2024-01-06, x2 on a Wednesday; y1 on Saturday 2024-02-03
    assert f.loc["x", "timing__weekend_share"] == 0.5 and f.loc["y", "timing__weekend_share"] == 1
    # x: one calendar month with an order in ceil(55 days / 30.44) = 2; y: 1 in ceil(27 d) = 1
    assert f.loc["x", "timing__month_coverage"] == 0.5
    assert f.loc["y", "timing__month_coverage"] == 1.0
    with pytest.raises(ValueError, match=r"'peak_months' .* must be an int in \[1, 11\]"):
        _build(_orders(), family_params={"timing": {"peak_months": 0}})


def test_the_peak_months_are_learned_at_fit_and_kept() -> None:
    builder = FeatureBuilder(families=_OPT_IN, family_params={"timing": {"peak_months": 1}})
    builder.fit({"orders": _orders()}, as_of=AS_OF)
    assert builder.state_["timing"] == {"peak_months": [1]}
    later = builder.transform({"orders": _orders()}, as_of="2024-04-01").set_index("customer_id")
    # as of April x has x3 in March too; the peak month stays January (learned at fit)
    assert later.loc["x", "timing__peak_share"] == pytest.approx(2 / 3)


def test_browse_by_hand(tiny: dict[str, pd.DataFrame]) -> None:
    f = build_features(tiny, as_of=AS_OF).set_index("customer_id")
    # a: one web session (s1: a view, a cart) begun 4 days before the cutoff (counted as one
    # month); its email events are contacts, not browsing; 3 orders before the cutoff
    got = f.loc["a", [c for c in f.columns if c.startswith("browse__")]].to_dict()
    assert got == {
        "browse__sessions_per_month": 1.0,
        "browse__views_per_session": 1.0,
        "browse__carts_per_session": 1.0,
        "browse__orders_per_session": 3.0,
    }
    # b: sessions s2 (view, cart) and s3 (purchase event); one order (o8 is at the cutoff)
    assert f.loc["b", "browse__sessions_per_month"] == 2.0
    assert f.loc["b", "browse__views_per_session"] == 0.5
    assert f.loc["b", "browse__orders_per_session"] == 0.5
    # d: s4 (page view) and s5 (a product view; its ad click is a contact); no order yet
    assert f.loc["d", "browse__sessions_per_month"] == 2.0
    assert f.loc["d", "browse__carts_per_session"] == 0.0
    assert f.loc["d", "browse__orders_per_session"] == 0.0
    assert np.isnan(f.loc["c", "browse__sessions_per_month"])  # c has no events


def test_rows_after_the_cutoff_change_nothing(tiny: dict[str, pd.DataFrame]) -> None:
    families = ["rfm", "browse", "basket", "timing"]
    orders = pd.concat([tiny["orders"], _orders().assign(category="home")], ignore_index=True)
    tables = {"orders": orders, "events": tiny["events"], "customers": tiny_customers()}
    full = build_features(tables, as_of=AS_OF, families=families)
    cut = pd.Timestamp(AS_OF)
    before = {
        "orders": orders[pd.to_datetime(orders["order_time"]) < cut],
        "events": tiny["events"][pd.to_datetime(tiny["events"]["event_time"]) < cut],
        "customers": tables["customers"],
    }
    pd.testing.assert_frame_equal(full, build_features(before, as_of=AS_OF, families=families))


def test_a_shop_without_products_or_prices_gets_missing_discounts() -> None:
    orders = _orders().drop(columns=["product_id"])
    f = _build(orders)
    assert f["basket__discount_share"].isna().all()
    # without product ids every line counts as a product
    assert f.loc["x", "basket__products_mean"] == pytest.approx(1.5)
    assert f.loc["x", "basket__items_mean"] == pytest.approx(2.0)


def test_browse_is_built_and_clustered_by_default_basket_and_timing_are_opt_in(
    tiny: dict[str, pd.DataFrame],
) -> None:
    columns = build_features(tiny, as_of=AS_OF).columns
    assert any(c.startswith("browse__") for c in columns)
    assert not any(c.startswith(("basket__", "timing__")) for c in columns)
    assert "browse__*" in DEFAULT_FEATURES
    assert not {"basket__*", "timing__*"} & set(DEFAULT_FEATURES)


@pytest.mark.parametrize(
    "day", ["1970-01-01", "1969-12-31", "2000-02-29", "2023-12-31", "2024-03-01", "2100-03-01"]
)
def test_calendar_month_matches_the_calendar(day: str) -> None:
    date = dt.date.fromisoformat(day)
    days = (date - dt.date(1970, 1, 1)).days + 0.75  # any time of the day
    frame = nw.from_native(pl.DataFrame({"t": [days]}))
    year, month = calendar_month(nw.col("t"))
    got = frame.select(year.alias("y"), month.alias("m")).row(0)
    assert got == (date.year, date.month)

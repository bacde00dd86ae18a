"""Tests of the second synthetic store: the data contract of make_shop, determinism, the
invariants of an event log, and the behaviour each planted type is meant to show."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segml
from segml.datasets import make_second_store
from segml.datasets.second_store import DEPARTMENTS, SHOPPER_TYPES
from segml.schema import EVENT_TYPES
from tests.datasets.test_synthetic import COLUMNS, _kind_ok

TRUTH = {
    "customer_id": "str", "latent_type": "str", "state_at_end": "str", "weeks_active": "int",
    "session_rate": "float", "conversion": "float", "basket_lines": "float",
    "preferred_tier": "str", "return_prob": "float", "favourite_department": "str",
}  # fmt: skip


@pytest.fixture(scope="module")
def store():
    return make_second_store(600, seed=5)


def test_same_seed_gives_equal_tables_and_another_seed_different_ones():
    first, again, other = (make_second_store(150, seed=s) for s in (3, 3, 4))
    for name in ("orders", "events", "customers", "truth"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    assert not first.orders.equals(other.orders)
    assert not first.truth.equals(other.truth)


@pytest.mark.parametrize("table", ["orders", "events", "customers", "truth"])
def test_columns_and_dtypes_follow_the_contract_of_make_shop(store, table):
    expected = TRUTH if table == "truth" else COLUMNS[table]
    frame = getattr(store, table)
    assert list(frame.columns) == list(expected)
    wrong = [c for c, kind in expected.items() if not _kind_ok(frame[c], kind)]
    assert wrong == [], f"{table} columns with the wrong dtype: {wrong}"


def test_values_and_every_order_has_its_purchase_event(store):
    orders, events = store.orders, store.events
    assert set(events["event_type"]) == set(EVENT_TYPES)
    assert set(orders["category"]) <= set(DEPARTMENTS)
    assert set(store.truth["latent_type"]) == set(SHOPPER_TYPES)
    assert events["event_time"].is_monotonic_increasing
    placed = orders[orders["status"] == "completed"]
    firsts = placed.drop_duplicates("order_id")
    purchases = events[events["event_type"] == "purchase"]
    matched = firsts.merge(purchases, left_on=["customer_id", "order_time"],
                           right_on=["customer_id", "event_time"])  # fmt: skip
    assert len(matched) == len(firsts) == len(purchases)
    assert (matched["product_id_x"] == matched["product_id_y"]).all()
    reversed_ = orders["status"] != "completed"
    assert (orders["quantity"] < 0).eq(reversed_).all() and reversed_.any()


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_nothing_happens_before_signup_or_after_the_window(n, seed):
    shop = make_second_store(n, seed=seed, start="2024-01-01", end="2024-03-31")
    signup = shop.customers.set_index("customer_id")["signup_time"]
    for table, col in (("events", "event_time"), ("orders", "order_time")):
        frame = getattr(shop, table)
        assert (frame[col] >= frame["customer_id"].map(signup)).all()
        assert (frame[col] < pd.Timestamp("2024-04-01")).all()


def test_planted_types_behave_as_named(store):
    truth = store.truth.set_index("customer_id")["latent_type"]
    placed = store.orders[store.orders["status"] == "completed"]
    orders = placed.drop_duplicates("order_id").groupby("customer_id").size()
    orders = orders.reindex(truth.index, fill_value=0).groupby(truth).mean()
    sessions = store.events.groupby("customer_id")["session_id"].nunique()
    sessions = sessions.reindex(truth.index, fill_value=0).groupby(truth).mean()
    assert orders["loyal_frequent"] > 5 * orders["one_and_done"]
    assert sessions["window_shopper"] > 10 * orders["window_shopper"]
    assert sessions["loyal_frequent"] < 8 * orders["loyal_frequent"]
    lines = store.orders.assign(type=store.orders["customer_id"].map(truth))
    returned = (lines["status"] == "returned").groupby(lines["type"]).sum()
    sold = (lines["status"] == "completed").groupby(lines["type"]).sum()
    assert (returned / sold)["deal_hunter"] > 3 * (returned / sold)["loyal_frequent"]
    price = placed.groupby(placed["customer_id"].map(truth))["unit_price"].median()
    assert price["lapsed_high_value"] > 2 * price["deal_hunter"]
    gone = store.truth.groupby("latent_type")["state_at_end"].apply(lambda s: (s == "gone").mean())
    assert gone["lapsed_high_value"] > 0.8 and gone["loyal_frequent"] < 0.3


def test_gifters_buy_in_gift_seasons_and_deal_hunters_in_promotions(store):
    truth = store.truth.set_index("customer_id")["latent_type"]
    placed = store.orders[store.orders["status"] == "completed"].drop_duplicates("order_id")
    month = placed["order_time"].dt.month.groupby(placed["customer_id"].map(truth))
    in_season = month.apply(lambda m: m.isin([2, 5, 11, 12]).mean())
    assert in_season["seasonal_gifter"] > 0.7 > 0.5 > in_season["loyal_frequent"]
    list_price = store.orders.groupby("product_id")["unit_price"].max().rename("list")
    lines = placed.join(list_price, on="product_id")
    on_promo = lines["unit_price"] < 0.9 * lines["list"]
    promo = on_promo.groupby(lines["customer_id"].map(truth)).mean()
    assert promo["deal_hunter"] > 2 * promo["loyal_frequent"]


def test_segml_builds_features_on_it(store):
    tables = {"orders": store.orders, "events": store.events, "customers": store.customers}
    features = segml.build_features(tables, as_of="2025-01-01")
    assert len(features) == len(store.customers)
    shares = [c for c in features.columns if c.startswith("affinity__spend_share_")]
    assert {c.removeprefix("affinity__spend_share_") for c in shares} - {"other"} <= set(
        DEPARTMENTS
    )
    assert np.isfinite(features["rfm__frequency"]).all()

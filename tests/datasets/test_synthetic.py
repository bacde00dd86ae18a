"""Tests of the synthetic shop: contract, determinism, dirt, and the signal it is meant to carry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from segml.datasets.synthetic import CATEGORIES, CHANNELS, LATENT_TYPES, make_shop
from segml.schema import EVENT_TYPES

PRODUCT_EVENTS = {"product_view", "add_to_cart", "begin_checkout", "purchase"}
COLUMNS = {
    "orders": {
        "customer_id": "str", "order_id": "str", "order_time": "time", "product_id": "str",
        "category": "str", "quantity": "int", "unit_price": "float", "status": "str",
    },
    "events": {
        "customer_id": "str", "event_time": "time", "event_type": "str", "category": "str",
        "product_id": "str", "session_id": "str", "channel": "str",
    },
    "customers": {
        "customer_id": "str", "signup_time": "time", "country": "str", "region": "str",
        "language": "str", "email_consent": "bool", "sms_consent": "bool",
        "email": "str", "phone": "str", "first_name": "str", "last_name": "str",
        "postal_code": "str",
    },
    "truth": {
        "customer_id": "str", "latent_type": "str", "purchase_rate": "float",
        "dropout_time": "time", "alive_at_end": "bool", "basket_lines": "float",
        "browse_rate": "float", "email_open_prob": "float", "sms_click_prob": "float",
        "favourite_category": "str",
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def shop():
    return make_shop(3000, seed=7)


@pytest.fixture(scope="module")
def clean():
    return make_shop(3000, seed=7, dirt=False)


def _kind_ok(column: pd.Series, kind: str) -> bool:
    if kind == "str":  # object (pandas 2) or a string dtype; values are str or missing
        values = column.dropna()
        is_text = column.dtype == object or pd.api.types.is_string_dtype(column.dtype)
        return is_text and values.map(type).eq(str).all()
    if kind == "time":  # naive datetime64, meaning UTC
        return pd.api.types.is_datetime64_dtype(column.dtype) and column.dt.tz is None
    checks = {
        "int": pd.api.types.is_integer_dtype,
        "float": pd.api.types.is_float_dtype,
        "bool": pd.api.types.is_bool_dtype,
    }
    return checks[kind](column.dtype)


def _orders_of_customers(shop) -> pd.DataFrame:
    """Completed lines of registered customers, one row per order."""
    orders = shop.orders
    known = orders[orders["customer_id"].notna() & (orders["status"] == "completed")]
    return known.drop_duplicates("order_id")


def test_same_seed_gives_equal_tables_and_another_seed_different_ones():
    first, again, other = make_shop(200, seed=3), make_shop(200, seed=3), make_shop(200, seed=4)
    for name in ("orders", "events", "customers", "truth"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    assert not first.orders.equals(other.orders)
    assert not first.events.equals(other.events)
    assert not first.truth.equals(other.truth)


@pytest.mark.parametrize("table", list(COLUMNS))
def test_columns_and_dtypes_follow_the_contract(shop, table):
    frame = getattr(shop, table)
    assert list(frame.columns) == list(COLUMNS[table])
    wrong = [c for c, kind in COLUMNS[table].items() if not _kind_ok(frame[c], kind)]
    assert wrong == [], f"{table} columns with the wrong dtype: {wrong}"


def test_value_sets_and_ids(shop):
    events, orders, truth = shop.events, shop.orders, shop.truth
    assert set(events["event_type"]) == set(EVENT_TYPES)
    assert set(events["channel"]) == set(CHANNELS)
    assert set(orders["category"]) <= set(CATEGORIES)
    assert set(orders["status"]) == {"completed", "cancelled", "returned"}
    assert set(truth["latent_type"]) == set(LATENT_TYPES)
    assert truth["customer_id"].tolist() == shop.customers["customer_id"].tolist()
    assert shop.customers["customer_id"].is_unique
    assert shop.customers["customer_id"].str.fullmatch(r"C\d{6}").all()
    assert events["customer_id"].notna().all()
    assert set(events["customer_id"]) <= set(shop.customers["customer_id"])
    has_product = events["event_type"].isin(PRODUCT_EVENTS)
    assert events.loc[has_product, ["category", "product_id"]].notna().all().all()
    assert events.loc[~has_product, ["category", "product_id"]].isna().all().all()


def test_no_order_or_event_before_signup(shop):
    signup = shop.customers.set_index("customer_id")["signup_time"]
    for frame, time in ((shop.events, "event_time"), (shop.orders, "order_time")):
        known = frame[frame["customer_id"].notna()]
        assert (known[time] >= known["customer_id"].map(signup)).all()
    assert shop.events["event_time"].between("2023-01-01", "2025-01-01", inclusive="left").all()
    assert shop.orders["order_time"].between("2023-01-01", "2025-01-01", inclusive="left").all()


def test_messages_only_reach_consenting_customers(shop):
    events = shop.events.merge(shop.customers, on="customer_id")
    email = events["event_type"].str.startswith("email_") | (events["channel"] == "email")
    sms = (events["event_type"] == "sms_click") | (events["channel"] == "sms")
    assert events.loc[email, "email_consent"].all()
    assert events.loc[sms, "sms_consent"].all()
    assert (events["event_type"] == "sms_click").sum() > 0


def test_dirt_is_there_when_asked_for(shop):
    orders = shop.orders
    order_ids = orders.drop_duplicates("order_id")
    guest_share = order_ids["customer_id"].isna().mean()
    assert 0.015 < guest_share < 0.04
    assert orders.duplicated().sum() >= 5
    assert (orders["unit_price"] == 0).sum() >= 3
    reversed_ = orders["status"] != "completed"
    assert (orders["quantity"] < 0).eq(reversed_).all()
    assert reversed_.mean() > 0.02
    keys = ["order_id", "product_id"]
    originals = orders[~reversed_].drop_duplicates(keys).set_index(keys)
    first = orders[reversed_].join(originals["order_time"], on=keys, rsuffix="_first")
    assert (first["order_time"] > first["order_time_first"]).all()


def test_no_dirt_when_not_asked_for(clean):
    orders = clean.orders
    assert orders["customer_id"].notna().all()
    assert not orders.duplicated().any()
    assert (orders["status"] == "completed").all()
    assert (orders["quantity"] > 0).all()
    assert (orders["unit_price"] > 0).all()


def test_dirt_leaves_everything_else_alone(shop, clean):
    for name in ("events", "customers", "truth"):
        pd.testing.assert_frame_equal(getattr(shop, name), getattr(clean, name))
    keys = ["order_id", "product_id", "quantity", "order_time"]
    dirty = shop.orders[shop.orders["customer_id"].notna() & (shop.orders["status"] == "completed")]
    kept = dirty[keys].drop_duplicates().reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, clean.orders[keys].reset_index(drop=True))


def test_latent_types_differ_in_behaviour(shop):
    orders = _orders_of_customers(shop)
    truth = shop.truth.set_index("customer_id")
    n_orders = orders.groupby("customer_id").size().reindex(truth.index, fill_value=0)
    per_type = n_orders.groupby(truth["latent_type"]).mean()
    assert per_type["loyal_high_value"] > 3 * per_type["one_time"]
    assert per_type["window_shopper"] == 0
    assert per_type["one_time"] <= 1
    lines = shop.orders[shop.orders["status"] == "completed"].dropna(subset=["customer_id"])
    price = lines.groupby(lines["customer_id"].map(truth["latent_type"]))["unit_price"].mean()
    assert price["bargain_hunter"] < 0.8 * price["loyal_high_value"]
    events = shop.events["event_type"].groupby(shop.events["customer_id"].map(truth["latent_type"]))
    sms = events.apply(lambda s: (s == "sms_click").sum()) / truth["latent_type"].value_counts()
    assert sms["bargain_hunter"] > 3 * sms["loyal_high_value"]


def test_past_orders_predict_a_purchase_in_the_next_90_days(shop):
    cutoff = pd.Timestamp("2024-10-01")
    orders = _orders_of_customers(shop)
    customers = shop.customers.loc[shop.customers["signup_time"] < cutoff, "customer_id"]
    past = orders[orders["order_time"] < cutoff].groupby("customer_id").size()
    ahead = orders["order_time"].between(cutoff, cutoff + pd.Timedelta(days=90), inclusive="left")
    bought = customers.isin(orders.loc[ahead, "customer_id"]).to_numpy()
    x = np.log1p(past.reindex(customers, fill_value=0).to_numpy())[:, None]
    score = LogisticRegression().fit(x, bought).predict_proba(x)[:, 1]
    assert 0.1 < bought.mean() < 0.6
    assert roc_auc_score(bought, score) > 0.7


def test_recent_cart_adds_precede_purchases(shop):
    cutoff = pd.Timestamp("2024-06-01")
    events = shop.events
    recent = events["event_time"].between(cutoff - pd.Timedelta(days=7), cutoff, inclusive="left")
    carted = set(events.loc[recent & (events["event_type"] == "add_to_cart"), "customer_id"])
    orders = _orders_of_customers(shop)
    soon = orders["order_time"].between(cutoff, cutoff + pd.Timedelta(days=7), inclusive="left")
    buyers = set(orders.loc[soon, "customer_id"])
    active = shop.customers.loc[shop.customers["signup_time"] < cutoff, "customer_id"]
    with_cart = active.isin(carted)
    rate_with = active[with_cart].isin(buyers).mean()
    rate_without = active[~with_cart].isin(buyers).mean()
    assert rate_with > 3 * rate_without


def test_funnel_narrows_and_every_order_has_a_purchase_event(shop):
    counts = shop.events["event_type"].value_counts()
    assert counts["page_view"] > counts["add_to_cart"]
    assert counts["product_view"] > counts["add_to_cart"] > counts["begin_checkout"]
    assert counts["begin_checkout"] > counts["purchase"]
    orders = _orders_of_customers(shop)
    purchases = shop.events[shop.events["event_type"] == "purchase"]
    matched = orders.merge(
        purchases, left_on=["customer_id", "order_time"], right_on=["customer_id", "event_time"]
    )
    assert len(matched) == len(orders) == len(purchases)
    assert (matched["product_id_x"] == matched["product_id_y"]).all()


def test_season_peaks_in_november_and_december(shop):
    orders = _orders_of_customers(shop)
    in_2024 = orders[orders["order_time"].dt.year == 2024]
    by_month = in_2024["order_time"].dt.month.value_counts()
    assert by_month[[11, 12]].mean() > 1.3 * by_month[[8, 9, 10]].mean()


def test_volumes_per_customer_are_plausible(shop):
    n = len(shop.customers)
    assert 5 <= len(shop.orders) / n <= 15
    assert 50 <= len(shop.events) / n <= 150


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 40), seed=st.integers(0, 2**32 - 1), dirt=st.booleans())
def test_small_shops_keep_the_invariants(n, seed, dirt):
    shop = make_shop(n, seed=seed, start="2024-01-01", end="2024-03-31", dirt=dirt)
    assert len(shop.customers) == len(shop.truth) == n
    signup = shop.customers.set_index("customer_id")["signup_time"]
    assert (shop.events["event_time"] >= shop.events["customer_id"].map(signup)).all()
    # (a one-customer shop may have no events at all: then there is nothing after the window)
    assert (shop.events["event_time"] < pd.Timestamp("2024-04-01")).all()
    assert (shop.orders["order_time"] < pd.Timestamp("2024-04-01")).all()
    assert shop.orders["customer_id"].notna().all() or dirt


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_customers": 0}, ValueError, r"n_customers must be at least 1; got 0"),
        ({"n_customers": 2.5}, TypeError, r"n_customers must be an int; got 2\.5"),
        ({"n_customers": True}, TypeError, r"n_customers must be an int; got True"),
        ({"start": "not a date"}, ValueError, r"start and end must be dates such as"),
        ({"start": "2024-01-01", "end": "2024-01-10"}, ValueError, r"at least 27 days after"),
        ({"end": "2022-01-01"}, ValueError, r"at least 27 days after start"),
        ({"start": "2023-01-01T00:00+01:00"}, ValueError, r"must be naive UTC dates"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(kwargs, error, match):
    args = {"n_customers": 10, **kwargs}
    with pytest.raises(error, match=match):
        make_shop(args.pop("n_customers"), **args)

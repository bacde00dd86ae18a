"""The accounting invariant: for any input, every row read is used, dropped or set aside by a
named rule, per table, and the quality report shows each term (issue 13)."""

from __future__ import annotations

import narwhals.stable.v2 as nw
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segml
from segml.config import DataConfig, OrdersConfig
from segml.engine import collect
from segml.schema import EVENT_TYPES
from tests.conftest import AS_OF

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ids = st.sampled_from(["a", "b", " c ", "17.0", None, ""])
times = st.sampled_from(
    [
        "2024-01-05 10:00",
        "2024-02-29 23:59",
        "2024-03-01 00:00",  # at the cutoff
        "2025-06-01",  # future
        "2024-01-05T10:00:00+02:00",
        None,
        "",
    ]
)
order_rows = st.lists(
    st.tuples(
        ids,
        st.sampled_from(["o1", "o2", "o3", "C9"]),
        times,
        st.sampled_from([-2, 0, 1, 3, None]),
        st.sampled_from([None, -1.0, 0.0, 2.5, 10.0]),
        st.sampled_from(["p1", "p2", "POST", None]),
        st.sampled_from(["completed", "returned", None]),
    ),
    min_size=1,
    max_size=40,
)
event_rows = st.lists(
    st.tuples(ids, times, st.sampled_from([*EVENT_TYPES[:4], "wishlist", " Page_View ", None])),
    min_size=1,
    max_size=30,
)
customer_rows = st.lists(
    st.tuples(
        ids, times, st.sampled_from(["UK", "DE", None]), st.sampled_from(["yes", "no", None])
    ),
    min_size=1,
    max_size=20,
)
CLEAN = ("a", "o0", "2024-01-01", 1, 5.0, "p1", "completed")  # so the cutoff has a past


def _tables(orders: list, events: list, customers: list, *, timed: bool) -> dict:
    cols = [
        "customer_id",
        "order_id",
        "order_time",
        "quantity",
        "unit_price",
        "product_id",
        "status",
    ]
    time_column = "updated_time" if timed else "signup_time"
    return {
        "orders": pd.DataFrame([CLEAN, *orders], columns=cols),
        "events": pd.DataFrame(events, columns=["customer_id", "event_time", "event_type"]),
        "customers": pd.DataFrame(
            customers, columns=["customer_id", time_column, "country", "email_consent"]
        ),
    }


def _rows(lf: nw.LazyFrame | None) -> int:
    return 0 if lf is None else int(collect(lf.select(nw.len())).item())


@SETTINGS
@given(orders=order_rows, events=event_rows, customers=customer_rows, timed=st.booleans())
def test_every_row_is_accounted_for(
    orders: list, events: list, customers: list, timed: bool
) -> None:
    tables = _tables(orders, events, customers, timed=timed)
    config = DataConfig(orders=OrdersConfig(non_product_ids=["POST"], return_order_prefix="C"))
    shop = segml.prepare(tables, config=config)
    quality = shop.quality
    for name, frame in tables.items():  # after validation: prepared rows are all used
        terms = quality.balance(name)
        assert terms["read"] == len(frame), name
        assert terms["read"] == terms["used"] + terms["dropped"] + terms["set_aside"], name
        assert terms["used"] == _rows(shop.tables()[name]) or (name == "customers" and timed)
    assert quality.count("orders", "zero_amount_rows") == _rows(shop.zero_amount_orders)

    cut = shop.check_cutoff(AS_OF)
    for name, lf in shop.tables().items():  # at the cutoff: the later rows are set aside
        terms = quality.balance(name)
        assert terms["read"] == terms["used"] + terms["dropped"] + terms["set_aside"], name
        if name != "customers":
            assert terms["used"] == _rows(lf.filter(nw.col("t") < cut)), name
        for kind in ("used", "dropped", "set_aside"):
            checks = [r for r in quality.rows if r.table == name and r.kind == kind]
            assert sum(r.rows for r in checks) == terms[kind]
            assert all(f"{name}.{r.check}" in str(quality) for r in checks)
    builder = segml.FeatureBuilder(top_k_categories=2).fit(shop, as_of=AS_OF)
    assert builder.quality_ is quality
    # the features count exactly the purchase orders among the rows used
    feats = builder.transform_table(shop, as_of=AS_OF)
    purchases = shop.orders.filter((nw.col("t") < cut) & ~nw.col("is_return"))
    orders = _rows(purchases.select("customer_id", "order_id").unique())
    assert feats.get_column("rfm__frequency").sum() == orders


def test_the_report_states_the_balance() -> None:
    tables = _tables(
        [(None, "o1", "2024-01-02", 1, 2.0, "p1", None)], [], [("a", None, "UK", None)], timed=False
    )
    del tables["events"]
    shop = segml.prepare(tables)
    text = str(shop.quality)
    assert "orders: 2 read = 1 used + 1 dropped + 0 set aside" in text
    assert "customers: 1 read = 1 used + 0 dropped + 0 set aside" in text


def test_customers_without_an_id_are_counted() -> None:
    """They were dropped without a count (duplicate_customer_ids counted the null id as one)."""
    tables = _tables(
        [],
        [],
        [("a", None, "UK", None), (None, None, "DE", None), (None, None, "FR", None)],
        timed=False,
    )
    del tables["events"]
    quality = segml.prepare(tables).quality
    assert quality.count("customers", "guest_rows") == 2
    assert quality.count("customers", "duplicate_customer_ids") == 0

"""Property tests: rows at or after the cutoff never change features; row order never does."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segml
from segml.schema import EVENT_TYPES
from tests.conftest import AS_OF, tiny_customers, tiny_events, tiny_orders

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
customers = st.sampled_from(["a", "b", "c", "d", "new1", "new2"])
later = st.integers(min_value=0, max_value=400 * 24 * 60).map(
    lambda m: AS_OF + dt.timedelta(minutes=m)
)

future_orders = st.lists(
    st.tuples(
        customers,
        st.sampled_from(["o1", "o4", "x1", "x2"]),
        later,
        st.integers(-3, 5),
        st.floats(0.01, 500),
        st.sampled_from(["home", "toys", "new"]),
    ),
    min_size=1,
    max_size=12,
)
future_events = st.lists(
    st.tuples(customers, later, st.sampled_from(EVENT_TYPES), st.sampled_from(["home", "toys"])),
    min_size=1,
    max_size=12,
)


def _features(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return segml.build_features(tables, as_of=AS_OF, top_k_categories=2)


def _base() -> dict[str, pd.DataFrame]:
    return {"orders": tiny_orders(), "events": tiny_events(), "customers": tiny_customers()}


BASELINE = _features(_base())


@SETTINGS
@given(orders=future_orders, events=future_events)
def test_rows_at_or_after_cutoff_change_nothing(orders: list, events: list) -> None:
    tables = _base()
    extra_orders = pd.DataFrame(
        [(c, o, t.isoformat(sep=" "), q, p, cat, "completed") for c, o, t, q, p, cat in orders],
        columns=tables["orders"].columns,
    )
    extra_events = pd.DataFrame(
        [(c, t.isoformat(sep=" "), e, cat, "sx") for c, t, e, cat in events],
        columns=tables["events"].columns,
    )
    tables["orders"] = pd.concat([tables["orders"], extra_orders], ignore_index=True)
    tables["events"] = pd.concat([tables["events"], extra_events], ignore_index=True)
    pd.testing.assert_frame_equal(_features(tables), BASELINE)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1))
def test_row_order_changes_nothing(seed: int) -> None:
    tables = {k: v.sample(frac=1.0, random_state=seed) for k, v in _base().items()}
    pd.testing.assert_frame_equal(_features(tables), BASELINE)


def test_cutoff_is_required() -> None:
    import pytest

    with pytest.raises(TypeError, match="as_of"):
        segml.build_features(_base())  # type: ignore[call-arg]
    with pytest.raises(segml.DataError, match="as_of is required"):
        segml.build_features(_base(), as_of=None)


def test_synthetic_store_truncated_history_gives_same_features() -> None:
    """On the synthetic store: dropping every row at or after the cutoff changes nothing."""
    from segml.datasets import make_shop

    shop = make_shop(400, seed=3)
    tables = {"orders": shop.orders, "events": shop.events, "customers": shop.customers}
    cut = pd.Timestamp("2024-03-01")
    past = {
        "orders": shop.orders[shop.orders["order_time"] < cut],
        "events": shop.events[shop.events["event_time"] < cut],
        "customers": shop.customers,
    }
    builder = segml.FeatureBuilder().fit(tables, as_of=cut)
    full = builder.transform(tables, as_of=cut)
    assert len(full) > 100 and full["intent__abandoned_cart"].sum() > 0
    pd.testing.assert_frame_equal(builder.transform(past, as_of=cut), full)

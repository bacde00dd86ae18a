"""Labels worked out by hand on the tiny shop; cutoffs; leakage: rows at or after a cutoff
change labels but never that cutoff's features."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segml.errors import ConfigError, DataError
from segml.labels import (
    cutoff_grid,
    label_window_end,
    lapse_horizon_days,
    make_labels,
    monthly_cutoffs,
)
from tests.conftest import AS_OF, tiny_customers, tiny_events, tiny_orders


def _labels(tiny: dict[str, pd.DataFrame], target: str, **kw: float) -> dict[str, float]:
    frame = make_labels(tiny, as_of=AS_OF, target=target, horizon_days=10, **kw)  # type: ignore[arg-type]
    return dict(zip(frame["customer_id"], frame["label"], strict=True))


def test_labels_by_hand(tiny: dict[str, pd.DataFrame]) -> None:
    # Known before 2024-03-01: a, b, c (orders), d (events, signed up 02-27); e signs up later.
    # In [03-01, 03-11): b buys 99.0 exactly at the cutoff, d buys 50.0 on 03-05.
    assert _labels(tiny, "purchase") == {"a": 0.0, "b": 1.0, "c": 0.0, "d": 1.0}
    assert _labels(tiny, "value") == {"a": 0.0, "b": 99.0, "c": 0.0, "d": 50.0}
    # Active buyers in the 365 days before: a and b (c's only order is 366 days old).
    assert _labels(tiny, "lapse") == {"a": 1.0, "b": 0.0}
    assert _labels(tiny, "lapse", lookback_days=400) == {"a": 1.0, "b": 0.0, "c": 1.0}


def test_horizon_bounds_the_window(tiny: dict[str, pd.DataFrame]) -> None:
    short = make_labels(tiny, as_of=AS_OF, target="value", horizon_days=4)  # d's 03-05 is out
    assert dict(zip(short["customer_id"], short["label"], strict=True))["d"] == 0.0
    assert label_window_end(AS_OF, 4) == dt.datetime(2024, 3, 5)


def test_monthly_cutoffs_end_their_windows_by_now() -> None:
    cuts = monthly_cutoffs(now="2024-12-15", horizon_days=30, n_cutoffs=3)
    assert cuts == [dt.datetime(2024, 9, 1), dt.datetime(2024, 10, 1), dt.datetime(2024, 11, 1)]
    cuts = monthly_cutoffs(now="2024-12-01", horizon_days=30, n_cutoffs=1)
    assert cuts == [dt.datetime(2024, 11, 1)]  # 2024-11-01 + 30 days = 12-01 <= now
    assert monthly_cutoffs(now="2024-11-30", horizon_days=30, n_cutoffs=1) == [
        dt.datetime(2024, 10, 1)
    ]
    assert all(
        c + dt.timedelta(days=90) <= dt.datetime(2024, 12, 1)
        for c in monthly_cutoffs(now="2024-12-01", horizon_days=90, n_cutoffs=12)
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"target": "churn"},
            ConfigError,
            r"target must be one of \['purchase', 'lapse', 'value', 'next_order'\]",
        ),
        ({"horizon_days": 0}, ConfigError, "horizon_days must be a positive number of days; got 0"),
        ({"lookback_days": -1}, ConfigError, "lookback_days must be a positive"),
        ({"as_of": None}, DataError, "as_of is required"),
    ],
)
def test_bad_arguments(
    tiny: dict[str, pd.DataFrame], kwargs: dict, error: type, match: str
) -> None:
    args = {"as_of": AS_OF, "target": "purchase", "horizon_days": 10} | kwargs
    with pytest.raises(error, match=match):
        make_labels(tiny, **args)


def test_lapse_horizon_from_gaps(tiny: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(DataError, match="only 2 repeat-order gaps before 2024-03-01"):
        lapse_horizon_days(tiny, as_of=AS_OF)
    orders = pd.DataFrame({
        "customer_id": ["x"] * 11 + ["y"] * 11,
        "order_id": [f"o{i}" for i in range(22)],
        "order_time": [dt.datetime(2023, 1, 1) + dt.timedelta(days=10 * i) for i in range(11)]
        + [dt.datetime(2023, 1, 1) + dt.timedelta(days=30 * i) for i in range(11)],
        "revenue": 10.0,
    })  # fmt: skip
    # gaps: ten of 10 days, ten of 30 days; the 0.8 quantile is 30 days -> 35 (whole weeks)
    assert lapse_horizon_days(orders, as_of="2024-06-01") == 35
    assert lapse_horizon_days(orders, as_of="2024-06-01", quantile=0.3) == 14


later = st.integers(min_value=0, max_value=60 * 24).map(lambda m: AS_OF + dt.timedelta(minutes=m))


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(when=later, customer=st.sampled_from(["a", "c", "new"]), price=st.floats(1, 500))
def test_future_rows_change_labels_never_features(
    when: dt.datetime, customer: str, price: float
) -> None:
    """A row dated at or after the cutoff may change labels, never the model inputs."""
    from segml.features import FeatureBuilder
    from segml.models.dataset import CutoffCache, materialize
    from segml.schema import prepare

    def inputs_and_labels(orders: pd.DataFrame):
        tables = {"orders": orders, "events": tiny_events(), "customers": tiny_customers()}
        shop = materialize(prepare(tables))
        builder = FeatureBuilder(top_k_categories=2, categories=["home", "toys"]).fit(
            shop, as_of=AS_OF
        )
        cache = CutoffCache(shop, builder, horizons=[30])
        return cache.features(AS_OF), cache.labelled([AS_OF], target="value", horizon_days=30,
                                                    lookback_days=365)  # fmt: skip

    base_x, base_y = inputs_and_labels(tiny_orders())
    extra = pd.DataFrame([(customer, "zz", when, 1, price, "home", "completed")],
                         columns=tiny_orders().columns)  # fmt: skip
    x, y = inputs_and_labels(pd.concat([tiny_orders(), extra], ignore_index=True))
    assert x.equals(base_x)
    known = customer in set(base_y["customer_id"])
    if known and when < AS_OF + dt.timedelta(days=30):
        got = dict(zip(y["customer_id"], y["label"], strict=True))[customer]
        was = dict(zip(base_y["customer_id"], base_y["label"], strict=True))[customer]
        assert got == pytest.approx(was + price)


def test_semimonthly_cutoffs_are_the_1st_and_16th_ending_by_now() -> None:
    cuts = cutoff_grid(now="2011-12-10", horizon_days=70, n_cutoffs=4, step="semimonthly")
    assert cuts == [dt.datetime(2011, 8, 16), dt.datetime(2011, 9, 1),
                    dt.datetime(2011, 9, 16), dt.datetime(2011, 10, 1)]  # fmt: skip
    assert cutoff_grid(now="2011-12-10", horizon_days=70, n_cutoffs=2) == [
        dt.datetime(2011, 9, 1), dt.datetime(2011, 10, 1)]  # fmt: skip


def _gap_orders() -> pd.DataFrame:
    """10 weekly buyers in Jan-Mar 2024 (120 gaps of 7 days), 100 buyers every 35 days from
    2024-04-01 (gaps of 35 days ending 2024-05-06 and 2024-06-10)."""
    rows = [(f"a{c}", dt.datetime(2024, 1, 1) + dt.timedelta(days=7 * i)) for c in range(10)
            for i in range(13)]  # fmt: skip
    rows += [(f"b{c}", dt.datetime(2024, 4, 1) + dt.timedelta(days=35 * i)) for c in range(100)
             for i in range(3)]  # fmt: skip
    return pd.DataFrame({"customer_id": [r[0] for r in rows],
                         "order_id": [f"o{i}" for i in range(len(rows))],
                         "order_time": [r[1] for r in rows], "revenue": 10.0})  # fmt: skip


def test_backtest_lapse_horizon_uses_only_rows_before_the_backtest_cutoff() -> None:
    from segml.labels import backtest_lapse_horizon

    orders = _gap_orders()
    # at now, the 35-day gaps dominate; the backtest cutoff for 35 days is 2024-05-01, before
    # which only the weekly gaps exist: the horizon must be 7 days, chosen without the test window
    assert lapse_horizon_days(orders, as_of="2024-07-01") == 35
    assert monthly_cutoffs(now="2024-07-01", horizon_days=35, n_cutoffs=1)[0] == dt.datetime(
        2024, 5, 1
    )
    assert lapse_horizon_days(orders, as_of="2024-05-01") == 7
    assert backtest_lapse_horizon(orders, now="2024-07-01") == 7
    # when the cutoff settles, the horizon is the one computed at it
    assert backtest_lapse_horizon(orders, now="2024-04-15") == 7


def test_value_labels_are_exact_sums_whatever_the_row_order() -> None:
    # 60.66 + 72.95 + 54.36 is 187.97000000000003 as a float sum (in any order: the order a
    # streaming engine adds a group's rows in changes from run to run, and reruns differed in
    # score__value's last bit); labels sum exactly, like the features (features._expr.exact_sum).
    rows = [("z", f"o{i}", f"2024-03-0{i + 2} 00:00", 1, p, "home", "completed")
            for i, p in enumerate([60.66, 72.95, 54.36])]  # fmt: skip
    history = ("z", "o0", "2024-01-01 00:00", 1, 1.0, "home", "completed")
    cols = ["customer_id", "order_id", "order_time", "quantity", "unit_price", "category", "status"]
    labels = [
        make_labels({"orders": pd.DataFrame([history, *ordered], columns=cols)}, as_of=AS_OF,
                    target="value", horizon_days=10)["label"].tolist()
        for ordered in (rows, rows[::-1])
    ]  # fmt: skip
    assert labels == [[187.97], [187.97]]

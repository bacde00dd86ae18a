"""Bad input: each case is rejected with a message that names what is wrong and how to fix it."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import segml
from segml.config import DataConfig, OrdersConfig
from segml.errors import DataError
from tests.conftest import AS_OF, tiny_customers, tiny_events, tiny_orders


def _orders(**changes: Any) -> pd.DataFrame:
    frame = tiny_orders()
    for column, value in changes.items():
        if value is None:
            frame = frame.drop(columns=[column])
        else:
            frame[column] = frame[column].astype(object)
            frame.loc[frame.index[0], column] = value
    return frame


def _mapped(**columns: str) -> DataConfig:
    return DataConfig(orders=OrdersConfig(columns=columns))


CASES = [
    pytest.param(
        {"orders": _orders(order_time=None)},
        None,
        r"orders is missing required columns \['order_time'\]; found \[.*\]\. Map them in the "
        r"config under data.orders.columns",
        id="missing-column",
    ),
    pytest.param(
        {"orders": _orders()},
        _mapped(order_time="InvoiceDate"),
        r"missing required columns \[\"order_time \(looked for 'InvoiceDate'\)\"\]",
        id="mapped-column-absent",
    ),
    pytest.param(
        {"orders": _orders(order_time="yesterday")},
        None,
        r"orders.order_time has 1 of 12 rows that are not parseable timestamps, "
        r"e.g. \['yesterday'\]",
        id="unparseable-time",
    ),
    pytest.param(
        {"orders": _orders(quantity="two")},
        None,
        r"orders.quantity has 1 of 12 rows that are not numbers, e.g. \['two'\]",
        id="non-numeric-amount",
    ),
    pytest.param(
        {"orders": _orders(unit_price=None)},
        None,
        "orders needs either a revenue column or both quantity and unit_price",
        id="no-amount",
    ),
    pytest.param(
        {"orders": tiny_orders().iloc[0:0]},
        None,
        r"orders is empty \(0 rows\)",
        id="empty",
    ),
    pytest.param(
        {"orders": tiny_orders(), "events": tiny_events().drop(columns=["event_type"])},
        None,
        r"events is missing required columns \['event_type'\]",
        id="events-missing-column",
    ),
    pytest.param(
        {
            "orders": tiny_orders(),
            "customers": tiny_customers().assign(email_consent=["yes", "maybe", "no", "no", "1"]),
        },
        None,
        r"customers.email_consent has 1 of 5 rows that are not yes/no flags, e.g. \['maybe'\]",
        id="bad-consent-flag",
    ),
    pytest.param(
        {"orders": tiny_orders()},
        _mapped(order_timestamp="ts"),
        r"maps unknown canonical names \['order_timestamp'\]",
        id="unknown-canonical-name",
    ),
    pytest.param({"orders": object()}, None, "orders: cannot read a object", id="unreadable-type"),
    pytest.param(
        {"orders": "/nonexistent/orders.parquet"},
        None,
        "orders: no file at",
        id="missing-file",
    ),
]


@pytest.mark.parametrize(("data", "config", "match"), CASES)
def test_bad_input_is_rejected_with_its_message(data: Any, config: Any, match: str) -> None:
    with pytest.raises(DataError, match=match):
        segml.build_features(data, as_of=AS_OF, config=config)


@pytest.mark.parametrize(
    ("as_of", "match"),
    [
        ("2020-01-01", "no order or event happened before the cutoff 2020-01-01"),
        ("first of march", "as_of 'first of march' is not an ISO date"),
        (None, "as_of is required"),
    ],
)
def test_bad_cutoff(as_of: Any, match: str) -> None:
    with pytest.raises(DataError, match=match):
        segml.build_features({"orders": tiny_orders()}, as_of=as_of)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"windows_days": [0, 30]}, "The 'windows_days' parameter of FeatureBuilder must be"),
        ({"top_k_categories": 0}, "The 'top_k_categories' parameter of FeatureBuilder must be"),
    ],
)
def test_bad_parameters(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        segml.FeatureBuilder(**params).fit({"orders": tiny_orders()}, as_of=AS_OF)


def test_input_frames_are_not_modified() -> None:
    tables = {"orders": tiny_orders(), "events": tiny_events(), "customers": tiny_customers()}
    copies = {k: v.copy() for k, v in tables.items()}
    segml.build_features(tables, as_of=AS_OF)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, copies[name])


def test_mixed_time_zones_are_normalised_to_utc() -> None:
    orders = tiny_orders()
    shifted = orders.copy()
    # the same instants written with +02:00 offsets
    shifted["order_time"] = (
        pd.to_datetime(shifted["order_time"]) + pd.Timedelta(hours=2)
    ).dt.strftime("%Y-%m-%dT%H:%M:%S+02:00")
    mixed = pd.concat([orders.iloc[:6], shifted.iloc[6:]])
    builder = segml.FeatureBuilder().fit(mixed, as_of=AS_OF)
    pd.testing.assert_frame_equal(
        builder.transform(mixed, as_of=AS_OF), segml.build_features(orders, as_of=AS_OF)
    )
    assert builder.quality_.count("orders", "order_time_offsets_to_utc") == 6


def test_tz_aware_pandas_timestamps_are_converted() -> None:
    orders = tiny_orders()
    aware = orders.assign(
        order_time=pd.to_datetime(orders["order_time"])
        .dt.tz_localize("UTC")
        .dt.tz_convert("America/New_York")
    )
    pd.testing.assert_frame_equal(
        segml.build_features(aware, as_of=AS_OF), segml.build_features(orders, as_of=AS_OF)
    )

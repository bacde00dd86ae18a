"""Customer attributes are taken as of the cutoff (issue 12)."""

from __future__ import annotations

import pandas as pd

import segml
from tests.conftest import AS_OF

ORDERS = pd.DataFrame(
    {
        "customer_id": ["a", "b", "c"],
        "order_id": ["o1", "o2", "o3"],
        "order_time": ["2024-01-10", "2024-01-11", "2024-01-12"],
        "revenue": [10.0, 20.0, 30.0],
    }
)


def _features(customers: pd.DataFrame) -> pd.DataFrame:
    tables = {"orders": ORDERS, "customers": customers.sample(frac=1.0, random_state=4)}
    return segml.build_features(tables, as_of=AS_OF).set_index("customer_id")


def test_an_attribute_changed_after_the_cutoff_is_not_seen() -> None:
    history = pd.DataFrame(
        [
            ("a", "2023-12-01", "UK", "yes"),
            ("a", "2024-02-01", "IE", "no"),  # the latest before the cutoff
            ("a", "2024-03-15", "FR", "yes"),  # after the cutoff: never seen at it
            ("b", "2024-05-01", "ZZ", "yes"),  # b's only row is after the cutoff
            ("c", "2024-01-01", "DE", "no"),
            ("c", "2024-01-01", "AT", "yes"),  # same time: the largest value per column
        ],
        columns=["customer_id", "updated_time", "country", "email_consent"],
    )
    got = _features(history)
    assert got.loc["a", "attr__country"] == "IE" and got.loc["a", "attr__email_consent"] == 0
    assert pd.isna(got.loc["b", "attr__country"]) and got.loc["b", "attr__email_consent"] == 0
    assert got.loc["c", "attr__country"] == "DE" and got.loc["c", "attr__email_consent"] == 1


def test_history_after_the_cutoff_changes_nothing() -> None:
    history = pd.DataFrame(
        [("a", "2023-12-01", "UK"), ("b", "2024-01-01", "DE")],
        columns=["customer_id", "updated_time", "country"],
    )
    later = pd.DataFrame(
        [("a", "2024-03-01", "FR"), ("b", "2024-06-01", "PL"), ("c", "2024-03-02", "SE")],
        columns=history.columns,
    )
    pd.testing.assert_frame_equal(_features(history), _features(pd.concat([history, later])))


def test_a_snapshot_without_times_merges_repeated_ids_and_counts_them() -> None:
    snapshot = pd.DataFrame(
        [("a", "UK"), ("a", "FR"), ("b", "DE")], columns=["customer_id", "country"]
    )
    builder = segml.FeatureBuilder().fit({"orders": ORDERS, "customers": snapshot}, as_of=AS_OF)
    assert builder.quality_.count("customers", "duplicate_customer_ids") == 1

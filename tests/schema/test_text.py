"""Text hygiene and id types: dirty text, integer, float and mixed ids give the same features.

Text rules (trim, blanks to null, '123.0' ids, lower-case event types) are applied only where the
validation pass found values that need them, and integer ids stay integers inside segml; these
tests pin down that neither shortcut changes a single output value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import segml
from tests.conftest import AS_OF, tiny_customers, tiny_events, tiny_orders

CODES = {"a": 101, "b": 102, "c": 103, "d": 104, "e": 105}


def _clean() -> dict[str, pd.DataFrame]:
    return {"orders": tiny_orders(), "events": tiny_events(), "customers": tiny_customers()}


def _coded(
    tables: dict[str, pd.DataFrame], as_type: str, ids_of: dict[str, int] = CODES
) -> dict[str, pd.DataFrame]:
    """The same shop with customer (and order, session) ids as integers, floats or digit text."""
    out = {}
    for name, frame in tables.items():
        frame = frame.copy()
        ids = frame["customer_id"].map(ids_of)
        frame["customer_id"] = {
            "int": ids.astype("Int64"),
            "float": ids.astype(float),  # guests become NaN, as pandas reads them from CSV
            "text": ids.map(lambda v: None if pd.isna(v) else str(int(v))),
        }[as_type]
        if name == "orders" and as_type == "int":
            codes = {o: 9000 + i for i, o in enumerate(sorted(frame["order_id"].unique()))}
            frame["order_id"] = frame["order_id"].map(codes)
        if name == "events" and as_type == "int":
            frame["session_id"] = frame["session_id"].str[1:].astype(int)
        out[name] = frame
    return out


def _features(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return segml.build_features(tables, as_of=AS_OF, top_k_categories=2)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    out = _features(_clean())
    out["customer_id"] = out["customer_id"].map(lambda c: str(CODES[c]))
    return out


@pytest.mark.parametrize("as_type", ["int", "float", "text"])
def test_id_types_give_the_same_features(reference: pd.DataFrame, as_type: str) -> None:
    tables = _coded(_clean(), as_type)
    if as_type == "int":
        assert tables["orders"]["order_id"].nunique() == tiny_orders()["order_id"].nunique()
    out = _features(tables)
    assert out["customer_id"].tolist() == ["101", "102", "103", "104"]
    pd.testing.assert_frame_equal(out, reference)


def test_rows_come_in_text_order_of_the_ids() -> None:
    # Integer ids are sorted before the feature joins (which keep that order), as text: 10 < 2.
    tables = _coded(_clean(), "int", {"a": 9, "b": 10, "c": 100, "d": 2, "e": 1000})
    builder = segml.FeatureBuilder(top_k_categories=2).fit(tables, as_of=AS_OF)
    table = builder.transform_table(tables, as_of=AS_OF)
    assert table["customer_id"].to_list() == ["10", "100", "2", "9"]
    assert table.columns == ["customer_id", *builder.feature_names_out_]
    pd.testing.assert_frame_equal(
        builder.transform(tables, as_of=AS_OF), table.to_pandas(), check_dtype=False
    )


def test_mixed_id_types_across_tables(reference: pd.DataFrame) -> None:
    tables = _coded(_clean(), "int")
    tables["events"] = _coded(_clean(), "text")["events"]  # ids as text in one table only
    tables["events"]["customer_id"] = " " + tables["events"]["customer_id"].astype(str) + " "
    pd.testing.assert_frame_equal(_features(tables), reference)


def test_integer_ids_in_labels_and_summary() -> None:
    clean, coded = _clean(), _coded(_clean(), "int")
    for fn, kwargs in [
        (segml.make_labels, {"as_of": "2024-02-01", "target": "purchase", "horizon_days": 30}),
        (segml.rfm_summary, {"observation_period_end": AS_OF}),
    ]:
        ref = fn(clean, **kwargs)
        ref["customer_id"] = ref["customer_id"].map(lambda c: str(CODES[c]))
        pd.testing.assert_frame_equal(fn(coded, **kwargs), ref)


def test_dirty_text_is_cleaned(reference: pd.DataFrame) -> None:
    tables = _coded(_clean(), "text")
    orders, events, customers = tables["orders"], tables["events"], tables["customers"]
    orders["customer_id"] = orders["customer_id"].map(lambda v: v if v is None else f" {v}.0 ")
    orders["category"] = orders["category"].str.upper().str.lower() + "  "
    orders["status"] = orders["status"].str.title()
    events["event_type"] = " " + events["event_type"].str.upper()
    events["category"] = events["category"].map(lambda v: "" if v is None else f"\t{v}")
    customers["country"] = customers["country"] + " "
    builder = segml.FeatureBuilder(top_k_categories=2).fit(tables, as_of=AS_OF)
    out = builder.transform(tables, as_of=AS_OF)
    pd.testing.assert_frame_equal(out, reference)
    quality = builder.quality_.to_dict()
    assert quality["events"]["unknown_event_type_rows"] == 0
    assert quality["orders"]["return_rows"] == 1


def test_unknown_event_types_are_counted_after_cleaning() -> None:
    tables = _clean()
    events = tables["events"]
    events.loc[events.index[:3], "event_type"] = ["  Wishlist_Add", "PAGE_VIEW ", None]
    builder = segml.FeatureBuilder().fit(tables, as_of=AS_OF)
    assert builder.quality_.count("events", "unknown_event_type_rows") == 2  # wishlist, null
    assert np.isfinite(builder.transform(tables, as_of=AS_OF)["rfm__frequency"]).all()

"""Features of the tiny hand-written shop, worked out by hand (see tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

import segml
from tests.conftest import AS_OF


def days(a: str, b: dt.datetime = AS_OF) -> float:
    return (b - dt.datetime.fromisoformat(a)) / dt.timedelta(days=1)


@pytest.fixture
def feats(tiny: dict[str, pd.DataFrame]) -> pd.DataFrame:
    out = segml.build_features(tiny, as_of=AS_OF, top_k_categories=2)
    return out.set_index("customer_id")


def test_one_row_per_known_customer(feats: pd.DataFrame) -> None:
    # d is known through events before the cutoff; e signs up after it; guests are dropped.
    assert sorted(feats.index) == ["a", "b", "c", "d"]


def test_rfm_by_hand(feats: pd.DataFrame) -> None:
    a = feats.loc["a"]
    expected = {
        "rfm__recency_days": days("2024-02-20 10:00"),
        "rfm__frequency": 3,  # o1, o2, o3; the return o3r is not a purchase
        "rfm__monetary_total": 25 + 30 + 15,
        "rfm__monetary_mean": 70 / 3,
        "rfm__monetary_max": 30,
        "rfm__tenure_days": days("2024-01-01 10:00"),
        "rfm__gap_mean_days": 25.0,  # gaps of 30 and 20 days
        "rfm__gap_median_days": 25.0,
        "rfm__gap_std_days": math.sqrt(50.0),
        "rfm__recency_gap_ratio": days("2024-02-20 10:00") / 25.0,
        "rfm__returns": 1,
        "rfm__return_value_ratio": 15 / 70,
        "rfm__orders_7d": 0,
        "rfm__orders_30d": 2,  # o2 at 29.6 days and o3
        "rfm__revenue_30d": 45,
        "rfm__orders_365d": 3,
    }
    for name, value in expected.items():
        assert a[name] == pytest.approx(value), name


def test_rfm_hygiene_by_hand(feats: pd.DataFrame) -> None:
    b, c, d = feats.loc["b"], feats.loc["c"], feats.loc["d"]
    # b's duplicate line counts once; the order at exactly the cutoff is not used.
    assert (b["rfm__frequency"], b["rfm__monetary_total"]) == (1, 100)
    # c's zero-price line is dropped; its only order is 366 days old (2024 is a leap year).
    assert (c["rfm__frequency"], c["rfm__orders_365d"]) == (1, 0)
    assert c["rfm__recency_days"] == pytest.approx(366.0)
    # d never ordered before the cutoff: counts are 0, recency is missing, not 0.
    assert d["rfm__frequency"] == 0 and np.isnan(d["rfm__recency_days"])


def test_affinity_by_hand(feats: pd.DataFrame) -> None:
    # top-2 by spend before the cutoff: home (20+30+100) then toys (5+15); garden (8) is other.
    a, c = feats.loc["a"], feats.loc["c"]
    assert a["affinity__spend_share_home"] == pytest.approx(50 / 70)
    assert a["affinity__spend_share_toys"] == pytest.approx(20 / 70)
    assert a["affinity__spend_share_other"] == pytest.approx(0.0, abs=1e-12)
    p = np.array([50 / 70, 20 / 70])
    assert a["affinity__category_entropy"] == pytest.approx(-(p * np.log2(p)).sum())
    assert c["affinity__spend_share_other"] == pytest.approx(1.0)
    assert feats.loc["b", "affinity__view_share_toys"] == pytest.approx(1.0)


def test_engagement_by_hand(feats: pd.DataFrame) -> None:
    a, b, d = feats.loc["a"], feats.loc["b"], feats.loc["d"]
    assert (a["engagement__email_opens_90d"], a["engagement__email_clicks_90d"]) == (1, 1)
    assert a["engagement__email_click_rate"] == pytest.approx(1.0)
    assert a["engagement__days_since_engagement"] == pytest.approx(days("2024-02-01 01:00"))
    assert a["engagement__sessions_90d"] == 1  # s1; email events are not browsing sessions
    assert a["engagement__active_days_90d"] == 3  # Feb 1, 26, 27
    assert b["engagement__email_click_rate"] == 0.0  # one open, no click
    assert np.isnan(d["engagement__email_click_rate"])  # no open: undefined, not 0
    assert d["engagement__ad_clicks_90d"] == 1 and d["engagement__sessions_90d"] == 2


def test_intent_by_hand(feats: pd.DataFrame) -> None:
    a, b = feats.loc["a"], feats.loc["b"]
    # a viewed and added to cart after the last purchase (Feb 20): an abandoned cart.
    assert a["intent__views_since_purchase"] == 1 and a["intent__abandoned_cart"] == 1
    assert a["intent__cart_adds_7d"] == 1  # the add-to-cart after the cutoff is not counted
    assert a["intent__days_since_cart_add"] == pytest.approx(days("2024-02-27"))
    assert a["intent__days_since_product_view"] == pytest.approx(days("2024-02-26"))
    # b added to cart on Feb 10 but bought on Feb 15: not abandoned.
    assert b["intent__cart_adds_30d"] == 1 and b["intent__abandoned_cart"] == 0


def test_attributes_by_hand(feats: pd.DataFrame) -> None:
    a, d = feats.loc["a"], feats.loc["d"]
    assert (a["attr__country"], a["attr__email_consent"], a["attr__sms_consent"]) == ("UK", 1, 0)
    assert a["attr__signup_tenure_days"] == pytest.approx(days("2023-12-01"))
    assert d["attr__sms_consent"] == 0  # missing consent means no consent


def test_every_column_is_described(feats: pd.DataFrame) -> None:
    for name in feats.columns:
        info = segml.describe(name)
        assert info.family == name.split("__")[0] and info.description


def test_quality_report_counts(tiny: dict[str, pd.DataFrame]) -> None:
    builder = segml.FeatureBuilder().fit(tiny, as_of=AS_OF)
    q = builder.quality_.to_dict()
    assert q["orders"]["guest_rows"] == 1
    assert q["orders"]["duplicate_rows"] == 1
    assert q["orders"]["bad_price_rows"] == 0
    assert q["orders"]["zero_amount_rows"] == 1  # c's o7: set aside, not a purchase
    assert q["orders"]["return_rows"] == 1
    assert q["orders"]["rows_at_or_after_cutoff"] == 2
    assert q["orders"]["rows_used"] == 7  # 12 - guest - duplicate - zero - 2 at/after cutoff
    assert q["events"]["rows_at_or_after_cutoff"] == 1
    assert q["customers"]["rows_at_or_after_cutoff"] == 1
    for table in ("orders", "events", "customers"):
        terms = builder.quality_.balance(table)
        assert terms["read"] == terms["used"] + terms["dropped"] + terms["set_aside"], table
    columns = {"table", "check", "rows", "action", "kind"}
    assert set(builder.quality_.to_frame().columns) == columns


def test_fixed_columns_between_fit_and_transform(tiny: dict[str, pd.DataFrame]) -> None:
    builder = segml.FeatureBuilder(top_k_categories=2).fit(tiny, as_of="2024-02-01")
    later = builder.transform(tiny, as_of=AS_OF)
    assert list(later.columns[1:]) == builder.feature_names_out_
    # spend before Feb 1: home 50, garden 8, toys 5. The learned columns stay fixed at
    # scoring time, even though toys (20) outgrows garden (8) by March.
    assert builder.categories_ == ["home", "garden"]
    assert "affinity__spend_share_garden" in later.columns
    assert "affinity__spend_share_toys" not in later.columns


def test_output_follows_input_type(tiny: dict[str, pd.DataFrame]) -> None:
    import polars as pl

    as_polars = {k: pl.from_pandas(v) for k, v in tiny.items()}
    out = segml.build_features(as_polars, as_of=AS_OF)
    assert isinstance(out, pl.DataFrame)
    ref = segml.build_features(tiny, as_of=AS_OF)
    pd.testing.assert_frame_equal(out.to_pandas(), ref, check_dtype=False)

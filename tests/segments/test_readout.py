"""Campaign readout: treatment against control, worked out by hand on a tiny campaign."""

from __future__ import annotations

import math

import pandas as pd
import polars as pl
import pytest
from scipy import stats

from segml.errors import DataError
from segml.segments import Segmenter, readout
from segml.segments.readout import conversion_lift, revenue_lift
from tests.segments.helpers import RULES, scored_store, store_orders

MEMBERS = pl.DataFrame(
    [
        ("t1", "winback", 1, "treatment", True),
        ("t2", "winback", 1, "treatment", True),
        ("t3", "winback", 1, "treatment", True),
        ("t4", "winback", 1, "treatment", True),
        ("c1", "winback", 1, "control", True),
        ("c2", "winback", 1, "control", True),
        ("c3", "winback", 1, "control", True),
        ("x1", "winback", 1, "treatment", False),  # no consent: not part of the test
        ("n1", "no_segment", None, None, False),
    ],
    schema=["customer_id", "segment", "priority", "group", "reachable"],
    orient="row",
)
ORDERS = pd.DataFrame(
    [
        ("t1", "2024-05-31 23:00", 50.0),  # before the window
        ("t2", "2024-06-03 10:00", 10.0),
        ("t3", "2024-06-10 10:00", 20.0),
        ("t4", "2024-06-05 10:00", 10.0),
        ("t4", "2024-06-20 10:00", 20.0),
        ("c1", "2024-07-01 00:00", 99.0),  # at the end: outside [start, end)
        ("c2", "2024-06-15 10:00", 10.0),
        ("c3", "2024-06-16 10:00", -5.0),  # a return is never a purchase
        ("x1", "2024-06-02 10:00", 1000.0),
        ("n1", "2024-06-02 10:00", 1000.0),
    ],
    columns=["customer_id", "order_time", "revenue"],
).sample(frac=1.0, random_state=5)


def test_readout_by_hand() -> None:
    out = readout(MEMBERS, ORDERS, start="2024-06-01", end="2024-07-01")
    assert isinstance(out, pl.DataFrame) and out.get_column("segment").to_list() == ["winback"]
    row = out.row(0, named=True)
    # treatment t1..t4 spent 0, 10, 20, 30: 3 of 4 converted, mean 15, variance 500/3
    # control c1..c3 spent 0, 10, 0: 1 of 3 converted, mean 10/3, variance 100/3
    assert (row["n_treatment"], row["n_control"]) == (4, 3)
    assert row["conversion_treatment"] == 0.75
    assert row["conversion_control"] == pytest.approx(1 / 3)
    # d = 0.41667; se = sqrt(.75*.25/4 + (1/3)(2/3)/3) = 0.347777; CI d -/+ 1.959964 se
    assert row["conversion_lift"] == pytest.approx(0.416667, abs=1e-6)
    assert row["conversion_lift_low"] == pytest.approx(-0.264960, abs=1e-5)
    assert row["conversion_lift_high"] == pytest.approx(1.098294, abs=1e-5)
    # pooled 4/7: se0 = sqrt(4/7 * 3/7 * (1/4 + 1/3)) = 0.377964, z = 1.10240, p = 0.2703
    assert row["conversion_p_value"] == pytest.approx(0.27029, abs=1e-4)
    assert row["conversion_significant"] is False
    # ratio 2.25; se(log) = sqrt(.25/3 + (2/3)/1) = 0.866025; exp(ln 2.25 -/+ 1.959964 se) - 1
    assert row["conversion_lift_relative"] == pytest.approx(1.25)
    assert row["conversion_lift_relative_low"] == pytest.approx(-0.58786, abs=1e-4)
    assert row["conversion_lift_relative_high"] == pytest.approx(11.2843, abs=1e-3)
    assert row["revenue_per_customer_treatment"] == 15.0
    assert row["revenue_lift"] == pytest.approx(35 / 3)
    welch = stats.ttest_ind([0, 10, 20, 30], [0, 10, 0], equal_var=False)
    assert row["revenue_p_value"] == pytest.approx(welch.pvalue)
    assert row["revenue_lift_relative"] == pytest.approx(3.5)  # 15 / (10/3) - 1


def test_revenue_interval_by_hand() -> None:
    # a = (500/3)/4 = 41.667, b = (100/3)/3 = 11.111, se = sqrt(52.778) = 7.2648
    # Welch df = 52.778^2 / (41.667^2/3 + 11.111^2/2) = 4.3494; t(0.975, 4.3494) = 2.6907
    out = revenue_lift(4, 15.0, 500 / 3, 3, 10 / 3, 100 / 3)
    se = math.sqrt(500 / 12 + 100 / 9)
    t = stats.t.ppf(0.975, 4.349397590361446)
    assert se == pytest.approx(7.2648, abs=1e-4) and t == pytest.approx(2.6907, abs=1e-4)
    assert out["revenue_lift_low"] == pytest.approx(35 / 3 - t * se)
    assert out["revenue_lift_high"] == pytest.approx(35 / 3 + t * se)


def test_conversion_lift_textbook_case() -> None:
    # 120/1000 against 100/1000: lift 2 points, 95% CI (-0.74, 4.74) points, p = 0.153
    out = conversion_lift(1000, 120, 1000, 100)
    assert out["conversion_lift_low"] == pytest.approx(-0.0074115, abs=1e-6)
    assert out["conversion_lift_high"] == pytest.approx(0.0474115, abs=1e-6)
    assert out["conversion_p_value"] == pytest.approx(0.15292, abs=1e-4)
    assert out["conversion_lift_relative_low"] == pytest.approx(-0.065894, abs=1e-5)


def test_everyone_with_a_group_when_not_only_reachable() -> None:
    out = readout(MEMBERS, ORDERS, start="2024-06-01", end="2024-07-01", reachable_only=False)
    assert out.row(0, named=True)["n_treatment"] == 5  # x1 now counts (and bought)


def test_a_segment_without_control_has_no_lift() -> None:
    members = MEMBERS.filter(pl.col("group") != "control")
    row = readout(members, ORDERS, start="2024-06-01", end="2024-07-01").row(0, named=True)
    assert row["n_control"] == 0 and row["conversion_lift"] is None
    assert row["conversion_treatment"] == 0.75 and row["conversion_control"] is None


@pytest.mark.parametrize(
    ("members", "start", "end", "message"),
    [
        (MEMBERS.drop("group"), "2024-06-01", "2024-07-01", r"members is missing columns \['gr"),
        (MEMBERS, "2024-07-01", "2024-06-01", "the campaign window is empty"),
        (MEMBERS, "June", "2024-07-01", "as_of 'June' is not an ISO date"),
    ],
)
def test_bad_readout_input(members: pl.DataFrame, start: str, end: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        readout(members, ORDERS, start=start, end=end)


def test_readout_of_the_synthetic_store_with_canonical_orders() -> None:
    seg = Segmenter(rules=RULES)
    result = seg.fit_segment(scored_store())
    members = result.members
    out = readout(members.to_pandas(), store_orders(), start="2024-06-01", end="2024-07-01")
    assert isinstance(out, pd.DataFrame)
    reported = {s["segment"]: s for s in result.report.segments}
    for row in out.itertuples():
        assert row.n_treatment == reported[row.segment]["reachable_treatment"]
        assert row.n_control == reported[row.segment]["reachable_control"]
    assert out["conversion_treatment"].between(0, 1).all()

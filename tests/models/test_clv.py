"""CLV over months, discounted: closed-form cases worked out by hand, and its invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segml.errors import ConfigError
from segml.models.btyd import expected_value
from segml.models.clv import (
    DAYS_PER_MONTH,
    btyd_clv,
    discount_factors,
    discounted_purchases,
    horizon_ratio,
    model_clv,
    p_alive_information,
)
from segml.models.dataset import btyd_from_params

# 1% a month: (1 + d)^(1/12) = 1.01
MONTHLY_1PCT = 1.01**12 - 1

# b = 1e8: nobody drops out (a/(a+b) = 2e-8), so BG/NBD is the NBD model and a customer with
# x repeat purchases at age T buys at the constant expected rate (r + x) / (alpha + T) a day.
NO_DROPOUT = {
    "bg": {"r": 2.0, "alpha": 10.0, "a": 2.0, "b": 1e8},
    "gg": {"p": 2.0, "q": 3.0, "v": 10.0},
}

# x = 3, t_x = 20, T = 30: rate (2 + 3) / (10 + 30) = 0.125 a day; spend E(M) = p (v + x m) /
# (p x + q - 1) = 2 (10 + 3 * 20) / (6 + 3 - 1) = 17.5
ONE = pd.DataFrame({"frequency": [3.0], "recency": [20.0], "T": [30.0], "monetary_value": [20.0]})


def _models(params: dict) -> tuple:
    return btyd_from_params(params)


def _realistic() -> tuple:
    return _models({"bg": {"r": 0.8, "alpha": 60.0, "a": 0.6, "b": 2.5},
                    "gg": {"p": 2.3, "q": 3.4, "v": 430.0}})  # fmt: skip


CUSTOMERS = pd.DataFrame(
    {
        "frequency": [0.0, 1.0, 4.0, 12.0, 40.0],
        "recency": [0.0, 30.0, 200.0, 300.0, 40.0],
        "T": [10.0, 100.0, 250.0, 310.0, 360.0],
        "monetary_value": [0.0, 25.0, 80.0, 12.5, 300.0],
    }
)


def test_discount_factors_by_hand() -> None:
    assert discount_factors(3, annual_discount_rate=MONTHLY_1PCT) == pytest.approx(
        [1 / 1.01, 1 / 1.01**2, 1 / 1.01**3]
    )
    assert discount_factors(12, annual_discount_rate=0.10)[-1] == pytest.approx(1 / 1.1)
    assert (discount_factors(4, annual_discount_rate=0.0) == 1.0).all()


def test_btyd_clv_of_a_customer_who_never_drops_out_by_hand() -> None:
    bg, gg = _models(NO_DROPOUT)
    per_month = 0.125 * DAYS_PER_MONTH  # 3.8046875 purchases
    annuity = 1 / 1.01 + 1 / 1.01**2 + 1 / 1.01**3
    clv = btyd_clv(bg, gg, ONE, months=3, annual_discount_rate=MONTHLY_1PCT)
    assert clv == pytest.approx([17.5 * per_month * annuity], rel=1e-6)
    undiscounted = btyd_clv(bg, gg, ONE, months=3, annual_discount_rate=0.0)
    assert undiscounted == pytest.approx([17.5 * 3 * per_month], rel=1e-6)


def test_no_discount_is_the_undiscounted_expected_revenue() -> None:
    bg, gg = _realistic()
    for months in (1, 6, 12, 24):
        clv = btyd_clv(bg, gg, CUSTOMERS, months=months, annual_discount_rate=0.0)
        direct = expected_value(bg, gg, CUSTOMERS, t=months * DAYS_PER_MONTH)
        np.testing.assert_allclose(clv, direct, rtol=1e-10)


def test_clv_grows_with_the_horizon_and_falls_with_the_discount_rate() -> None:
    bg, gg = _realistic()
    by_months = np.array(
        [btyd_clv(bg, gg, CUSTOMERS, months=m, annual_discount_rate=0.1) for m in range(1, 25)]
    )
    assert (np.diff(by_months, axis=0) > 0).all()
    by_rate = np.array(
        [btyd_clv(bg, gg, CUSTOMERS, months=12, annual_discount_rate=d) for d in (0, 0.1, 0.5)]
    )
    assert (np.diff(by_rate, axis=0) < 0).all()


def test_discounted_purchases_if_alive_drops_the_p_alive_factor() -> None:
    bg, _ = _realistic()
    kw = {"months": 12, "annual_discount_rate": 0.1}
    alive = discounted_purchases(bg, CUSTOMERS, **kw, if_alive=True)
    plain = discounted_purchases(bg, CUSTOMERS, **kw)
    np.testing.assert_allclose(plain, alive * bg.probability_alive(CUSTOMERS), rtol=1e-12)


def test_horizon_ratio_at_a_constant_pace_by_hand() -> None:
    # 12 months at 10% a year against a 90-day value horizon: sum_k 1.1^(-k/12) * 30.4375 / 90
    constant = sum(1.1 ** (-k / 12) for k in range(1, 13)) * DAYS_PER_MONTH / 90
    assert horizon_ratio(None, ONE, horizon_days=90, months=12) == pytest.approx([constant])
    bg, _ = _models(NO_DROPOUT)  # never drops out: the pace is constant too (3 months: BG/NBD's
    quarter = sum(1.1 ** (-k / 12) for k in range(1, 4)) * DAYS_PER_MONTH / 90  # 2F1 is exact)
    assert horizon_ratio(bg, ONE, horizon_days=90, months=3) == pytest.approx([quarter], 1e-6)
    assert model_clv([200.0], [constant]) == pytest.approx([200.0 * constant])


def test_horizon_ratio_is_defined_where_p_alive_underflows() -> None:
    bg, _ = _realistic()
    # 500 purchases in the first 10 days, silent for 350: P(alive) is 0 in floating point
    gone = pd.DataFrame({"frequency": [500.0], "recency": [10.0], "T": [360.0]})
    assert bg.probability_alive(gone)[0] == 0.0
    ratio = horizon_ratio(bg, gone, horizon_days=90, months=12)
    assert np.isfinite(ratio).all() and ratio[0] > 0
    np.testing.assert_allclose(
        horizon_ratio(bg, CUSTOMERS.iloc[:4], horizon_days=90, months=12, annual_discount_rate=0),
        bg.expected_purchases(CUSTOMERS.iloc[:4], t=12 * DAYS_PER_MONTH)
        / bg.expected_purchases(CUSTOMERS.iloc[:4], t=90),
        rtol=1e-10,
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"months": 0, "annual_discount_rate": 0.1}, r"months must be a whole number >= 1.*got 0"),
        ({"months": 1.5, "annual_discount_rate": 0.1}, r"months .* got 1\.5"),
        ({"months": 12, "annual_discount_rate": -0.1}, r"annual_discount_rate .* got -0\.1"),
        ({"months": 12, "annual_discount_rate": float("inf")}, r"finite number >= 0.*got inf"),
    ],
)
def test_bad_horizons_and_rates_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        discount_factors(**kwargs)


def test_p_alive_information_by_hand() -> None:
    # quartiles of 0, 0.25, 0.5, 0.75, 1 (linear interpolation): 0.25, 0.5, 0.75 -> IQR 0.5
    spread = p_alive_information([0.0, 0.25, 0.5, 0.75, 1.0, np.nan], a=1.0, b=3.0)
    assert spread["informative"] and spread["customers"] == 5
    assert spread["quartiles"] == pytest.approx([0.25, 0.5, 0.75])
    assert spread["dropout_per_purchase"] == 0.25
    # Online Retail: a = 0.0031, b = 7.28, P(alive) 0.9994 .. 1 for three quarters of buyers
    flat = p_alive_information([0.9994, 0.9996, 0.9999, 1.0, 1.0], a=0.0031, b=7.28)
    assert not flat["informative"] and flat["iqr"] == pytest.approx(0.0004)
    assert flat["dropout_per_purchase"] == pytest.approx(0.0031 / 7.2831)
    assert p_alive_information([])["informative"] is False


def test_btyd_lifetime_is_each_function_in_one_pass() -> None:
    from segml.models.clv import btyd_lifetime

    bg, gg = _realistic()
    many = pd.concat([CUSTOMERS] * 3, ignore_index=True)  # repeated (x, T) pairs share one value
    got = btyd_lifetime(bg, gg, many, horizons_days=[30, 365], months=12,
                        annual_discount_rate=0.1, value_horizon_days=90)  # fmt: skip
    np.testing.assert_array_equal(got["p_alive"], bg.probability_alive(many))
    for h in (30, 365):
        np.testing.assert_array_equal(got[f"expected_{h}"], bg.expected_purchases(many, t=h))
    np.testing.assert_allclose(got["clv"], btyd_clv(bg, gg, many), rtol=1e-12)
    np.testing.assert_allclose(got["ratio"], horizon_ratio(bg, many, horizon_days=90), rtol=1e-12)
    assert "clv" not in btyd_lifetime(bg, None, many, horizons_days=[30], months=1,
                                      annual_discount_rate=0.0)  # fmt: skip

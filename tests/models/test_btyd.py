"""Tests for segml.models.btyd against Fader, Hardie & Lee (2005) and Fader & Hardie (2013)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from segml.errors import DataError
from segml.models.btyd import (
    BetaGeoModel,
    GammaGammaModel,
    bgnbd_log_likelihood,
    expected_value,
    gamma_gamma_log_likelihood,
)

pytestmark = pytest.mark.filterwarnings("error")

CDNOW = (
    Path(__file__).parents[1] / "data" / "cdnow" / "cdnow_customers_summary_with_transactions.csv"
)
PAPER_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PAPER_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """The 2357 CDNOW sample customers at week 39, shuffled to prove order independence."""
    data = pd.read_csv(CDNOW).rename(
        columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"}
    )
    return data.sample(frac=1.0, random_state=7).reset_index(drop=True)


@pytest.fixture(scope="module")
def bgnbd(cdnow: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow)


@pytest.fixture(scope="module")
def gg(cdnow: pd.DataFrame) -> GammaGammaModel:
    return GammaGammaModel().fit(cdnow)


def with_params(**params: float) -> BetaGeoModel:
    """A BetaGeoModel carrying given (e.g. published) parameters without fitting."""
    model = BetaGeoModel()
    model.r_, model.alpha_, model.a_, model.b_ = (params[k] for k in ("r", "alpha", "a", "b"))
    return model


CUSTOMER_1 = pd.DataFrame(
    {"frequency": [2], "recency": [30.43], "T": [38.86], "monetary_value": [22.35]}
)


# ------------------------------------------------------------------------- published values


def test_bgnbd_reproduces_fhl_2005_estimates(cdnow: pd.DataFrame, bgnbd: BetaGeoModel) -> None:
    assert len(cdnow) == 2357
    for name, published in PAPER_BGNBD.items():
        assert bgnbd.params_[name] == pytest.approx(published, abs=1e-3), name
        assert getattr(bgnbd, f"{name}_") == bgnbd.params_[name]
    assert bgnbd.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)


def test_gamma_gamma_reproduces_fh_2013_estimates(cdnow: pd.DataFrame, gg: GammaGammaModel) -> None:
    assert (cdnow["frequency"] > 0).sum() == 946
    for name, published in PAPER_GG.items():
        assert gg.params_[name] == pytest.approx(published, abs=1e-2), name


def test_conditional_expectation_of_fhl_customer(bgnbd: BetaGeoModel) -> None:
    # FHL (2005): x=2, t_x=30.43, T=38.86 -> about 1.226 purchases in weeks 40-78.
    assert with_params(**PAPER_BGNBD).expected_purchases(CUSTOMER_1, t=39)[0] == (
        pytest.approx(1.226, abs=5e-4)
    )
    assert bgnbd.expected_purchases(CUSTOMER_1, t=39)[0] == pytest.approx(1.226, abs=5e-4)


def test_expected_purchases_matches_equation_10_directly() -> None:
    r, alpha, a, b = PAPER_BGNBD.values()
    X = pd.DataFrame(
        {
            "frequency": [0, 1, 7, 25],
            "recency": [0, 5.0, 20.0, 38.0],
            "T": [10.0, 30.0, 38.86, 39.0],
        }
    )
    x, t_x, T, t = X["frequency"], X["recency"], X["T"], 52.0
    z = t / (alpha + T + t)
    num = (
        (a + b + x - 1)
        / (a - 1)
        * (
            1
            - ((alpha + T) / (alpha + T + t)) ** (r + x)
            * special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        )
    )
    den = 1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    model = with_params(**PAPER_BGNBD)
    np.testing.assert_allclose(model.expected_purchases(X, t=t), num / den, rtol=1e-9)
    np.testing.assert_allclose(model.probability_alive(X), 1 / den, rtol=1e-12)


def test_unconditional_expectation_matches_equation_9() -> None:
    r, alpha, a, b = PAPER_BGNBD.values()
    t = 78.0
    direct = (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    )
    model = with_params(**PAPER_BGNBD)
    assert model.expected_purchases_unconditional(t) == pytest.approx(direct, rel=1e-10)
    assert model.expected_purchases_unconditional(0) == 0.0


def test_probability_alive_is_a_probability(cdnow: pd.DataFrame, bgnbd: BetaGeoModel) -> None:
    p = bgnbd.probability_alive(cdnow)
    assert p.shape == (len(cdnow),)
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_array_equal(p[cdnow["frequency"].to_numpy() == 0], 1.0)


# ------------------------------------------------------------------------ hand-checked cases


def test_log_likelihood_of_toy_customers_by_hand() -> None:
    # r = alpha = a = b = 1: B(1, 1) = 1, B(1, 1+x) = 1/(1+x), B(2, x) = 1/(x(x+1)).
    X = {"frequency": [0, 1, 2], "recency": [0.0, 1.0, 2.0], "T": [3.0, 3.0, 3.0]}
    by_hand = [
        1 / 4,  # x=0: (alpha/(alpha+T))^r
        1 / 2 * 1 / 4**2 + 1 / 2 * 1 / 2**2,  # x=1: Gamma(2)=1
        1 / 3 * 2 / 4**3 + 1 / 6 * 2 / 3**3,  # x=2: Gamma(3)=2
    ]
    ll = bgnbd_log_likelihood(X, r=1.0, alpha=1.0, a=1.0, b=1.0)
    np.testing.assert_allclose(ll, np.log(by_hand), rtol=1e-12)


def test_log_likelihood_matches_equation_6_with_gamma_functions() -> None:
    r, alpha, a, b = 0.7, 3.0, 1.5, 2.5
    X = {"frequency": [0, 3, 10], "recency": [0.0, 12.5, 30.0], "T": [20.0, 25.0, 36.0]}

    def beta(u: float, v: float) -> float:
        return math.gamma(u) * math.gamma(v) / math.gamma(u + v)

    expected = []
    for x, t_x, T in zip(*X.values(), strict=True):
        nbd = math.gamma(r + x) * alpha**r / math.gamma(r)
        lik = beta(a, b + x) / beta(a, b) * nbd / (alpha + T) ** (r + x)
        if x > 0:
            lik += beta(a + 1, b + x - 1) / beta(a, b) * nbd / (alpha + t_x) ** (r + x)
        expected.append(math.log(lik))
    ll = bgnbd_log_likelihood(X, r=r, alpha=alpha, a=a, b=b)
    np.testing.assert_allclose(ll, expected, rtol=1e-12)


def test_log_likelihood_is_finite_for_heavy_buyers() -> None:
    X = {"frequency": [5000.0], "recency": [38.0], "T": [39.0]}
    assert np.isfinite(bgnbd_log_likelihood(X, **PAPER_BGNBD)).all()
    model = with_params(**PAPER_BGNBD)
    assert np.isfinite(model.expected_purchases(X, t=39)).all()


def test_gamma_gamma_log_likelihood_by_hand() -> None:
    # p = q = v = 1, x = 1: f(m) = 1 / (1 + m)^2; the non-buyer row is skipped.
    X = {"frequency": [1, 0], "monetary_value": [3.0, 0.0]}
    ll = gamma_gamma_log_likelihood(X, p=1.0, q=1.0, v=1.0)
    np.testing.assert_allclose(ll, [math.log(1 / 16)], rtol=1e-12)


def test_conditional_expected_average_value_by_hand(gg: GammaGammaModel) -> None:
    model = GammaGammaModel()
    model.p_, model.q_, model.v_ = PAPER_GG.values()
    p, q, v = PAPER_GG.values()
    X = {"frequency": [0, 2], "monetary_value": [0.0, 22.35]}
    expected = [p * v / (q - 1), p * (v + 2 * 22.35) / (2 * p + q - 1)]
    np.testing.assert_allclose(model.conditional_expected_average_value(X), expected)


def test_expected_value_is_purchases_times_spend(bgnbd: BetaGeoModel, gg: GammaGammaModel) -> None:
    value = expected_value(bgnbd, gg, CUSTOMER_1, t=39)
    purchases = bgnbd.expected_purchases(CUSTOMER_1, t=39)
    spend = gg.conditional_expected_average_value(CUSTOMER_1)
    np.testing.assert_allclose(value, purchases * spend)
    one_period = expected_value(bgnbd, gg, CUSTOMER_1, t=1, discount_rate=0.1)
    np.testing.assert_allclose(one_period, expected_value(bgnbd, gg, CUSTOMER_1, t=1) / 1.1)
    assert expected_value(bgnbd, gg, CUSTOMER_1, t=39, discount_rate=0.01)[0] < value[0]


# --------------------------------------------------------------------------- estimator API


def test_sample_weight_equals_repeated_rows(cdnow: pd.DataFrame, bgnbd: BetaGeoModel) -> None:
    counts = cdnow.groupby(["frequency", "recency", "T"]).size().reset_index(name="n")
    assert len(counts) < len(cdnow)
    weighted = BetaGeoModel().fit(counts, sample_weight=counts["n"])
    for name, value in bgnbd.params_.items():
        assert weighted.params_[name] == pytest.approx(value, rel=1e-4), name
    assert weighted.log_likelihood_ == pytest.approx(bgnbd.log_likelihood_, abs=1e-4)


def test_estimators_follow_sklearn_conventions() -> None:
    model = BetaGeoModel(penalizer=0.1)
    assert clone(model).get_params() == {"penalizer": 0.1, "max_iter": 1000}
    with pytest.raises(NotFittedError):
        model.probability_alive(CUSTOMER_1)
    with pytest.raises(NotFittedError):
        GammaGammaModel().conditional_expected_average_value(CUSTOMER_1)
    mapping = {"frequency": [0, 1, 2, 4], "recency": [0, 3, 5, 9], "T": [10, 10, 12, 12]}
    assert model.fit(mapping) is model


def test_penalizer_shrinks_parameters(cdnow: pd.DataFrame, bgnbd: BetaGeoModel) -> None:
    penalized = BetaGeoModel(penalizer=0.01).fit(cdnow)
    assert penalized.b_ < bgnbd.b_
    assert penalized.log_likelihood_ < bgnbd.log_likelihood_


# ---------------------------------------------------------------------------- bad input


GOOD = {"frequency": [0, 1, 2], "recency": [0.0, 4.0, 9.0], "T": [10.0, 10.0, 12.0]}


def changed(**columns: list) -> dict:
    return {**GOOD, **columns}


BAD_RFM = [
    (
        {"frequency": [0], "recency": [0.0]},
        r"X is missing required columns \['T'\]; found "
        r"\['frequency', 'recency'\]",
    ),
    (
        changed(frequency=[0, -1, 2]),
        r"Column 'frequency' must be >= 0; found 1 row with a "
        r"negative value, e.g. frequency=-1 \(position 1\)",
    ),
    (
        changed(frequency=[0, 1.5, 2.5]),
        r"Column 'frequency' must hold whole numbers; found 2 "
        r"rows with a fractional value, e.g. frequency=1.5",
    ),
    (changed(recency=[0.0, -4.0, 9.0]), r"Column 'recency' must be >= 0; found 1 row"),
    (changed(T=[10.0, -1.0, 12.0]), r"Column 'T' must be >= 0; found 1 row .* e.g. T=-1"),
    (
        changed(recency=[0.0, 11.0, 13.0]),
        r"Column 'recency' must be <= T .*found 2 rows with "
        r"recency > T, e.g. recency=11, T=10 \(position 1\)",
    ),
    (
        changed(recency=[3.0, 4.0, 9.0]),
        r"Column 'recency' must be 0 where frequency is 0; "
        r"found 1 row with frequency 0 and recency > 0, e.g. recency=3",
    ),
    (
        changed(T=[10.0, np.nan, 12.0]),
        r"Column 'T' must hold finite numbers; found 1 row "
        r"with NaN or infinity, e.g. T=nan",
    ),
    (changed(T=["10", "x", "12"]), r"Column 'T' must be numeric"),
    ({"frequency": [], "recency": [], "T": []}, r"X has no rows"),
]


@pytest.mark.parametrize(("X", "message"), BAD_RFM)
def test_bgnbd_rejects_bad_input(X: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BetaGeoModel().fit(X)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"sample_weight": [1, 2]},
            r"sample_weight must have one value per row of X; expected "
            r"3, found 2",
        ),
        ({"sample_weight": [1, -2, 1]}, r"sample_weight must be finite and >= 0; found 1 row"),
        ({"sample_weight": [0, 0, 0]}, r"sample_weight must have a positive sum"),
    ],
)
def test_bgnbd_rejects_bad_weights(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BetaGeoModel().fit(GOOD, **kwargs)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            BetaGeoModel(penalizer=-1),
            r"The 'penalizer' parameter of BetaGeoModel must be a float "
            r"in the range \[0, inf\)\. Got -1 instead\.",
        ),
        (
            GammaGammaModel(max_iter=0),
            r"The 'max_iter' parameter of GammaGammaModel must be an "
            r"int in the range \[1, inf\)\. Got 0 instead\.",
        ),
    ],
)
def test_rejects_bad_constructor_arguments(model: BetaGeoModel, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model.fit({**GOOD, "monetary_value": [0.0, 5.0, 6.0]})


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (
            {"frequency": [0, 0], "monetary_value": [0.0, 0.0]},
            r"GammaGammaModel needs repeat "
            r"buyers \(frequency > 0\) to fit; found none among 2 rows",
        ),
        (
            {"frequency": [0, 2, 1, 1], "monetary_value": [0.0, 0.0, 0.0, 9.0]},
            r"Column 'monetary_value' must be > 0 for repeat buyers to fit Gamma-Gamma; "
            r"found 2 rows with frequency > 0 and monetary_value 0, "
            r"e.g. monetary_value=0 \(position 1\)",
        ),
        (
            {"frequency": [0, 2], "monetary_value": [-1.0, 5.0]},
            r"Column 'monetary_value' must be >= 0; found 1 row with a negative value",
        ),
        ({"frequency": [1, 2]}, r"X is missing required columns \['monetary_value'\]"),
    ],
)
def test_gamma_gamma_rejects_bad_input(X: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GammaGammaModel().fit(X)


def test_prediction_for_a_repeat_buyer_with_free_orders_is_the_shrunk_mean() -> None:
    # rfm_summary counts zero-amount orders as transactions (as lifetimes does), so a repeat
    # buyer can have monetary_value 0: E(M) = p (v + 0) / (p x + q - 1), no error.
    gg = GammaGammaModel()
    gg.p_, gg.q_, gg.v_ = 6.0, 4.0, 15.0
    got = gg.conditional_expected_average_value({"frequency": [2, 0], "monetary_value": [0.0, 0.0]})
    # 6 * 15 / (6 * 2 + 4 - 1) = 90 / 15 = 6; frequency 0: the population mean 6 * 15 / 3 = 30
    assert got.tolist() == pytest.approx([6.0, 30.0])


def test_predictions_reject_bad_horizon_and_types(bgnbd: BetaGeoModel) -> None:
    with pytest.raises(ValueError, match=r"t must be a finite number >= 0.*got -1"):
        bgnbd.expected_purchases(CUSTOMER_1, t=-1)
    # a 2-d array-like is read in column order (scikit-learn's convention); others are refused
    np.testing.assert_array_equal(
        bgnbd.probability_alive([[2, 30.43, 38.86]]), bgnbd.probability_alive(CUSTOMER_1)
    )
    with pytest.raises(DataError, match=r"must hold 3 columns, \['frequency', 'recency', 'T'\]"):
        bgnbd.probability_alive([[2, 30.43]])
    with pytest.raises(DataError, match=r"columns \['frequency', 'recency', 'T'\].*got str"):
        bgnbd.probability_alive("abc")


# ------------------------------------------------------------------------------- recovery


def simulate_bgnbd(
    rng: np.random.Generator, T: np.ndarray, *, r: float, alpha: float, a: float, b: float
) -> pd.DataFrame:
    """Draw frequency/recency from the BG/NBD story [FHL05, section 2] up to each T."""
    n = len(T)
    rate, p_drop = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    x, t_x, now = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        now[active] += rng.exponential(1 / rate[active])
        active &= now <= T
        x[active] += 1
        t_x[active] = now[active]
        active &= rng.random(n) >= p_drop  # drop out right after a repeat purchase
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T})


def test_recovers_simulated_parameters() -> None:
    truth = {"r": 0.5, "alpha": 5.0, "a": 1.2, "b": 3.0}
    rng = np.random.default_rng(0)
    X = simulate_bgnbd(rng, rng.uniform(40, 100, 5000), **truth)
    model = BetaGeoModel().fit(X)
    # Tolerances are about 4 standard errors, from the spread over 20 seeds.
    for name, rel in {"r": 0.1, "alpha": 0.2, "a": 0.4, "b": 0.5}.items():
        assert model.params_[name] == pytest.approx(truth[name], rel=rel), name
    mean_drop = model.a_ / (model.a_ + model.b_)
    assert mean_drop == pytest.approx(truth["a"] / (truth["a"] + truth["b"]), rel=0.1)
    assert model.log_likelihood_ >= bgnbd_log_likelihood(X, **truth).sum()

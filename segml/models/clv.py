"""Customer lifetime value over a horizon in months, discounted, from BG/NBD x Gamma-Gamma and
from the value model; and a check of whether a BG/NBD fit's P(alive) says anything.

Months are ``365.25 / 12`` days (12 months are one year; lifetimes' ``customer_lifetime_value``
uses 30-day months), so a fit in days reads month ``k`` as ``(k-1, k] * 30.4375`` days. The
annual discount rate ``d`` becomes the monthly ``(1 + d)^(1/12) - 1``, and the value of month
``k`` is divided by ``(1 + d)^(k/12)`` (end of the month, as lifetimes does).

- ``btyd_clv``: ``sum_k (E[Y(t_k)] - E[Y(t_(k-1))]) * E(M) / (1 + d)^(k/12)``: BG/NBD expected
  purchases in each month times the Gamma-Gamma expected spend per purchase. With ``d = 0`` the
  sum telescopes to ``E[Y(t_N)] * E(M)``, ``segml.models.btyd.expected_value``.
- ``horizon_ratio`` and ``model_clv``: the value model predicts revenue over its own horizon
  ``H`` (e.g. 90 days), undiscounted. Its CLV keeps the model's revenue and takes from BG/NBD
  only the customer's purchase *timing*: revenue over ``H`` times the ratio of the discounted
  expected purchases over the CLV horizon to the expected purchases over ``H``, per customer.
  P(alive) multiplies both, so it cancels: the ratio uses the purchases of a customer known to
  be alive (``BetaGeoModel.expected_purchases_if_alive``) and stays defined where P(alive)
  underflows to 0. Without a BG/NBD fit the ratio assumes a constant pace
  (``sum_k 30.4375 / (1 + d)^(k/12) / H``).

Both are revenue (order lines' quantity x unit price, net of returns as the data contract
prepares it), not margin: the orders contract has no cost or margin column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from segml.errors import ConfigError
from segml.models.btyd import BetaGeoModel, GammaGammaModel

__all__ = [
    "DAYS_PER_MONTH",
    "alive_purchases",
    "btyd_clv",
    "btyd_lifetime",
    "discount_factors",
    "discounted_purchases",
    "horizon_ratio",
    "model_clv",
    "p_alive_information",
]

FloatArray = NDArray[np.float64]
DAYS_PER_MONTH = 365.25 / 12


def _check(months: Any, rate: Any) -> tuple[int, float]:
    if isinstance(months, bool) or not isinstance(months, (int, np.integer)) or months < 1:
        raise ConfigError(
            f"months must be a whole number >= 1 (the CLV horizon); got {months!r}. "
            "Set e.g. scoring.outputs.clv_months: 12."
        )
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < math.inf:
        raise ConfigError(
            f"annual_discount_rate must be a finite number >= 0 (0.10 for 10% a year); got "
            f"{rate!r}. Set e.g. scoring.outputs.annual_discount_rate: 0.10."
        )
    return int(months), float(rate)


def discount_factors(months: int, *, annual_discount_rate: float) -> FloatArray:
    """``1 / (1 + d)^(k/12)`` for the months ``k = 1..months`` (end-of-month discounting)."""
    months, rate = _check(months, annual_discount_rate)
    return np.asarray((1 + rate) ** (-np.arange(1.0, months + 1) / 12), dtype=np.float64)


def _month_ends(months: int, unit_days: float) -> FloatArray:
    return np.arange(1.0, months + 1) * DAYS_PER_MONTH / unit_days


def alive_purchases(bgnbd: BetaGeoModel, X: Any, *, t: Sequence[float]) -> FloatArray:
    """``expected_purchases_if_alive`` at each horizon of ``t`` (rows) for each row of ``X``
    (columns). It depends on ``frequency`` and ``T`` only, so it is evaluated once per distinct
    pair and broadcast: with ages in whole days at most a few hundred per frequency, and
    the Gauss hypergeometric function is most of the cost."""
    x = np.asarray(X["frequency"], dtype=np.float64)
    age = np.asarray(X["T"], dtype=np.float64)
    pairs, inverse = np.unique(np.stack([x, age], axis=1), axis=0, return_inverse=True)
    distinct = {"frequency": pairs[:, 0], "recency": np.zeros(len(pairs)), "T": pairs[:, 1]}
    values = [bgnbd.expected_purchases_if_alive(distinct, t=float(h)) for h in t]
    return np.asarray(values, dtype=np.float64).reshape(len(values), -1)[:, inverse.ravel()]


def _discounted(alive: FloatArray, factors: FloatArray) -> FloatArray:
    """``sum_k f_k (A_k - A_(k-1))`` from the rows ``A_1..A_K`` of ``alive_purchases``."""
    months = np.diff(alive, axis=0, prepend=np.zeros((1, alive.shape[1])))
    return np.asarray(factors @ months, dtype=np.float64)


def discounted_purchases(
    bgnbd: BetaGeoModel,
    X: Any,
    *,
    months: int,
    annual_discount_rate: float,
    unit_days: float = 1.0,
    if_alive: bool = False,
) -> FloatArray:
    """Per customer, ``sum_k (E[Y(t_k)] - E[Y(t_(k-1))]) / (1 + d)^(k/12)`` over months
    ``k = 1..months``: the BG/NBD expected purchases of each month, discounted.

    ``X``: ``frequency``, ``recency``, ``T`` in the fit's time unit, ``unit_days`` days long
    (1 for segml's daily fits). ``if_alive``: for a customer known to be alive (no P(alive)
    factor), as ``horizon_ratio`` needs.
    """
    factors = discount_factors(months, annual_discount_rate=annual_discount_rate)
    alive = alive_purchases(bgnbd, X, t=_month_ends(len(factors), unit_days).tolist())
    total = _discounted(alive, factors)
    return total if if_alive else total * bgnbd.probability_alive(X)


def btyd_clv(
    bgnbd: BetaGeoModel,
    gamma_gamma: GammaGammaModel,
    X: Any,
    *,
    months: int = 12,
    annual_discount_rate: float = 0.10,
    unit_days: float = 1.0,
) -> FloatArray:
    """Expected discounted revenue over the next ``months``: BG/NBD x Gamma-Gamma, as
    lifetimes' ``customer_lifetime_value`` (module docstring). ``X`` also has
    ``monetary_value`` (mean repeat-purchase revenue)."""
    purchases = discounted_purchases(
        bgnbd, X, months=months, annual_discount_rate=annual_discount_rate, unit_days=unit_days
    )
    return purchases * gamma_gamma.conditional_expected_average_value(X)


def btyd_lifetime(
    bgnbd: BetaGeoModel,
    gamma_gamma: GammaGammaModel | None,
    X: Any,
    *,
    horizons_days: Sequence[float],
    months: int,
    annual_discount_rate: float,
    value_horizon_days: float | None = None,
) -> dict[str, FloatArray]:
    """Everything a scoring run's outputs take from a daily BG/NBD fit, from one
    ``alive_purchases`` pass: ``p_alive``, ``expected_<h>`` per horizon (``expected_purchases``),
    ``clv`` (``btyd_clv``; absent without Gamma-Gamma) and ``ratio`` (``horizon_ratio`` for
    ``value_horizon_days``; absent without it)."""
    factors = discount_factors(months, annual_discount_rate=annual_discount_rate)
    ends = [*_month_ends(len(factors), 1.0), *horizons_days]
    if value_horizon_days is not None:
        ends.append(value_horizon_days)
    alive = alive_purchases(bgnbd, X, t=ends)
    p_alive = bgnbd.probability_alive(X)
    out = {"p_alive": p_alive}
    for i, h in enumerate(horizons_days):
        out[f"expected_{h:g}"] = p_alive * alive[len(factors) + i]
    discounted = _discounted(alive[: len(factors)], factors)
    if gamma_gamma is not None:
        out["clv"] = p_alive * discounted * gamma_gamma.conditional_expected_average_value(X)
    if value_horizon_days is not None:
        out["ratio"] = discounted / alive[-1]
    return out


def horizon_ratio(
    bgnbd: BetaGeoModel | None,
    X: Any,
    *,
    horizon_days: float,
    months: int = 12,
    annual_discount_rate: float = 0.10,
    unit_days: float = 1.0,
) -> FloatArray:
    """Per customer, discounted expected purchases over ``months`` divided by the expected
    purchases over ``horizon_days`` (the value model's horizon): what turns revenue over that
    horizon into CLV. ``bgnbd`` None: the constant-pace ratio, one value for every row of X."""
    if not (isinstance(horizon_days, (int, float)) and 0 < horizon_days < math.inf):
        raise ConfigError(
            f"horizon_days must be a number > 0 (the value model's horizon); got "
            f"{horizon_days!r}. The value model stores it in metadata_['horizon_days']."
        )
    factors = discount_factors(months, annual_discount_rate=annual_discount_rate)
    if bgnbd is None:
        n = len(X["T"]) if X is not None else 1
        return np.full(n, float(factors.sum()) * DAYS_PER_MONTH / horizon_days)
    ends = [*_month_ends(len(factors), unit_days), horizon_days / unit_days]
    alive = alive_purchases(bgnbd, X, t=ends)
    return _discounted(alive[:-1], factors) / alive[-1]


def model_clv(value_scores: Any, ratio: Any) -> FloatArray:
    """The value model's CLV: its revenue over its horizon times ``horizon_ratio``."""
    return np.asarray(value_scores, dtype=np.float64) * np.asarray(ratio, dtype=np.float64)


def p_alive_information(
    p_alive: Any, *, a: float | None = None, b: float | None = None, min_iqr: float = 0.02
) -> dict[str, Any]:
    """Whether P(alive) separates customers: its quartiles and 1st-99th percentile range over
    the customers with a value, and the BG/NBD mean drop-out chance per repeat purchase
    ``a / (a + b)``. ``informative`` is False when the interquartile range is below
    ``min_iqr`` (nearly everyone gets about the same P(alive): on Online Retail BG/NBD fits
    ``a`` close to 0, so almost nobody is ever dropped). Plain numbers, for the run summary."""
    values = np.asarray(p_alive, dtype=np.float64)
    values = values[np.isfinite(values)]
    dropout = None if a is None or b is None else float(a / (a + b))
    if not len(values):
        return {"informative": False, "customers": 0, "dropout_per_purchase": dropout}
    q01, q25, q50, q75, q99 = np.quantile(values, [0.01, 0.25, 0.5, 0.75, 0.99]).tolist()
    return {
        "informative": bool(q75 - q25 >= min_iqr),
        "customers": len(values),
        "quartiles": [q25, q50, q75],
        "iqr": q75 - q25,
        "p01_p99": [q01, q99],
        "share_above_0_95": float((values > 0.95).mean()),
        "dropout_per_purchase": dropout,
        "min_iqr": min_iqr,
    }

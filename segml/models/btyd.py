"""Buy-till-you-die baselines: BG/NBD purchase counts and Gamma-Gamma spend per purchase.

Input is one row per customer in the lifetimes summary layout, all ages in one time unit:
``frequency`` (repeat purchases, i.e. purchases after the first one), ``recency`` (age at the
last repeat purchase, 0 if there is none), ``T`` (age at the cutoff, i.e. time from the first
purchase to the cutoff) and, for Gamma-Gamma, ``monetary_value`` (mean repeat-purchase value).

References
----------
.. [FHL05] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers"
   the Easy Way: An Alternative to the Pareto/NBD Model. Marketing Science 24(2), 275-284.
.. [FHL08] Fader, Hardie and Lee (2008). Computing P(alive) Using the BG/NBD Model.
   http://brucehardie.com/notes/021/
.. [FH13] Fader, P. S. and Hardie, B. G. S. (2013). The Gamma-Gamma Model of Monetary
   Value. http://brucehardie.com/notes/025/
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_array, check_is_fitted

from segml.errors import ConfigError, DataError

FloatArray = NDArray[np.float64]
Columns = dict[str, FloatArray]

_RFM = ("frequency", "recency", "T")
_SPEND = ("frequency", "monetary_value")
_LOG_BOUND = 20.0  # parameters are searched in [exp(-20), exp(20)]
_WHY_NON_NEGATIVE = {
    "frequency": "It counts repeat purchases (purchases after the first one).",
    "recency": "Ages are measured from each customer's first purchase.",
    "T": "Ages are measured from each customer's first purchase.",
    "monetary_value": "Drop customers whose repeat purchases net to a refund.",
}


def _fail_if(mask: NDArray[np.bool_], message: str, **shown: FloatArray) -> None:
    """Raise ``DataError(message)`` with ``{rows}`` and ``{example}`` filled from ``mask``."""
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        n = int(mask.sum())
        example = ", ".join(f"{k}={v[i]:g}" for k, v in shown.items())
        rows = "1 row" if n == 1 else f"{n} rows"
        raise DataError(message.format(rows=rows, example=f"{example} (position {i})"))


def _as_float(values: Any, name: str) -> FloatArray:
    """Convert one column to a finite, non-negative float array."""
    try:
        arr = pd.Series(values).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"Column '{name}' must be numeric; could not convert it to float ({exc}). "
            "Convert it with pd.to_numeric first."
        ) from exc
    col = f"Column '{name}' must"
    fix = "Drop or fill those customers first."
    found = "found {rows} with NaN or infinity, e.g. {example}."
    _fail_if(~np.isfinite(arr), f"{col} hold finite numbers; {found} {fix}", **{name: arr})
    found = "found {rows} with a negative value, e.g. {example}."
    _fail_if(arr < 0, f"{col} be >= 0; {found} {_WHY_NON_NEGATIVE[name]}", **{name: arr})
    return arr


def _extract(X: Any, names: tuple[str, ...]) -> Columns:
    """Return the named columns of a DataFrame or mapping, or the columns of a 2-d array in
    the order of ``names``, as checked float arrays."""
    if hasattr(X, "to_pandas") and hasattr(X, "columns"):  # Polars
        X = X.to_pandas()
    if not isinstance(X, (pd.DataFrame, Mapping)):
        X = _positional(X, names)
    found = [str(c) for c in X]
    missing = [n for n in names if n not in found]
    if missing:
        raise DataError(
            f"X is missing required columns {missing}; found {found}. "
            f"Expected columns {list(names)}; rename or compute them first."
        )
    cols = {name: _as_float(X[name], name) for name in names}
    lengths = sorted({len(v) for v in cols.values()})
    if len(lengths) != 1:
        raise DataError(f"Columns {list(names)} must have equal lengths; found {lengths}.")
    if lengths == [0]:
        raise DataError(f"X has no rows; expected at least one customer with {list(names)}.")
    x = cols["frequency"]
    message = "Column 'frequency' must hold whole numbers; found {rows} with a fractional value"
    _fail_if(x != np.round(x), message + ", e.g. {example}. Pass purchase counts.", frequency=x)
    return cols


def _positional(X: Any, names: tuple[str, ...]) -> dict[str, FloatArray]:
    """A 2-d array's columns named ``names`` in order (scikit-learn passes arrays)."""
    try:
        M = check_array(X, dtype=np.float64, ensure_all_finite=False, ensure_min_samples=0)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"X must be a DataFrame or mapping with columns {list(names)}, or a 2-d numeric "
            f"array with those {len(names)} columns in that order; got {type(X).__name__} "
            f"({exc})."
        ) from exc
    if M.shape[1] != len(names):
        raise DataError(
            f"X has {M.shape[1]} features, but a 2-d array must hold {len(names)} columns, "
            f"{list(names)} in that order; pass a DataFrame with those columns instead."
        )
    return {name: M[:, i] for i, name in enumerate(names)}


def _check_rfm(X: Any) -> Columns:
    """Validate the frequency/recency/T layout described in the module docstring."""
    cols = _extract(X, _RFM)
    x, t_x, T = cols["frequency"], cols["recency"], cols["T"]
    message = (
        "Column 'recency' must be <= T (the last purchase precedes the cutoff); found {rows} "
        "with recency > T, e.g. {example}. Measure both as ages in the same time unit."
    )
    _fail_if(t_x > T, message, recency=t_x, T=T)
    message = (
        "Column 'recency' must be 0 where frequency is 0; found {rows} with frequency 0 and "
        "recency > 0, e.g. {example}. Set recency to 0 for customers without repeat purchases."
    )
    _fail_if((x == 0) & (t_x > 0), message, recency=t_x)
    return cols


def _check_spend(X: Any, *, for_fit: bool) -> Columns:
    """Validate the frequency/monetary_value layout; to fit, values must be > 0 for repeat
    buyers. Predicting for a repeat buyer whose orders were free (monetary_value 0, which
    ``rfm_summary`` gives since zero-amount orders count as transactions, as in lifetimes) is
    defined: E(M) = p v / (p x + q - 1), the population mean shrunk by the free orders."""
    cols = _extract(X, _SPEND)
    x, m = cols["frequency"], cols["monetary_value"]
    if for_fit and not (x > 0).any():
        raise DataError(
            "GammaGammaModel needs repeat buyers (frequency > 0) to fit; found none among "
            f"{len(x)} rows. Fit it on customers with at least one repeat purchase."
        )
    if for_fit:  # the likelihood needs log(m); a prediction is defined for m = 0 (free orders)
        message = (
            "Column 'monetary_value' must be > 0 for repeat buyers to fit Gamma-Gamma; found "
            "{rows} with frequency > 0 and monetary_value 0, e.g. {example}. Fit on customers "
            "whose repeat purchases are not free (rfm_summary counts zero-amount orders)."
        )
        _fail_if((x > 0) & (m == 0), message, monetary_value=m)
    return cols


def _check_weights(sample_weight: ArrayLike | None, n: int) -> FloatArray:
    """Return per-row weights (ones by default) for aggregated customer rows."""
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=float).reshape(-1)
    if w.shape[0] != n:
        raise DataError(
            f"sample_weight must have one value per row of X; expected {n}, found "
            f"{w.shape[0]}. Pass the number of customers each row stands for."
        )
    message = "sample_weight must be finite and >= 0; found {rows} that are not, e.g. {example}."
    _fail_if(~np.isfinite(w) | (w < 0), message + " Pass customer counts.", sample_weight=w)
    if w.sum() <= 0:
        raise DataError("sample_weight must have a positive sum; found all zeros.")
    return w


def _check_horizon(t: Any, name: str = "t") -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float, np.number)) or not 0 <= t < math.inf:
        raise ConfigError(
            f"{name} must be a finite number >= 0, in the time unit of T; got {t!r}. "
            "Pass e.g. t=39 for 39 weeks when T is in weeks."
        )
    return float(t)


def bgnbd_log_likelihood(X: Any, *, r: float, alpha: float, a: float, b: float) -> FloatArray:
    """Per-customer BG/NBD log-likelihood, [FHL05] equation (6).

    ``L = B(a, b+x)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+T)^(r+x))
    + [x > 0] B(a+1, b+x-1)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+t_x)^(r+x))``,
    added in log space (``logaddexp``) so that heavy buyers do not underflow.

    Parameters
    ----------
    X : DataFrame or mapping
        Columns ``frequency`` (x), ``recency`` (t_x) and ``T``.
    r, alpha, a, b : float
        Positive model parameters.

    Returns
    -------
    ndarray
        ``log L`` for each row of ``X``.
    """
    cols = _check_rfm(X)
    return _bgnbd_ll(cols["frequency"], cols["recency"], cols["T"], r, alpha, a, b)


def _bgnbd_ll(
    x: FloatArray, t_x: FloatArray, T: FloatArray, r: float, alpha: float, a: float, b: float
) -> FloatArray:
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
    alive = special.betaln(a, b + x) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    dropped = np.full_like(x, -np.inf)
    xr = x[repeat]
    dropped[repeat] = special.betaln(a + 1, b + xr - 1) - (r + xr) * np.log(alpha + t_x[repeat])
    return common + np.logaddexp(alive, dropped)


def gamma_gamma_log_likelihood(X: Any, *, p: float, q: float, v: float) -> FloatArray:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend ``m_x``, [FH13].

    ``f(m_x | p, q, v, x) = Gamma(px+q) / (Gamma(px) Gamma(q)) * v^q m_x^(px-1) x^(px)
    / (v + m_x x)^(px+q)``, defined for repeat buyers (``x > 0``) only.

    Returns
    -------
    ndarray
        ``log f`` for each row with ``frequency > 0``, in row order.
    """
    cols = _check_spend(X, for_fit=True)
    repeat = cols["frequency"] > 0
    return _gg_ll(cols["frequency"][repeat], cols["monetary_value"][repeat], p, q, v)


def _gg_ll(x: FloatArray, m: FloatArray, p: float, q: float, v: float) -> FloatArray:
    px = p * x
    norm = special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q)
    return (
        norm + q * np.log(v) + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(v + m * x)
    )


class _MaximumLikelihood(BaseEstimator):
    """Shared constructor and fitting for the BTYD estimators (not public).

    The objective is ``-sum(w * ll) / sum(w) + penalizer * sum(params ** 2)``, minimised
    with L-BFGS-B over ``log(params)`` so that every parameter stays positive.
    """

    def __init__(self, *, penalizer: float = 0.0, max_iter: int = 1000) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter

    def _check_params(self) -> None:
        """Validate the constructor arguments in scikit-learn's message format."""
        for key, kind, low in (("penalizer", "a float", 0), ("max_iter", "an int", 1)):
            value = getattr(self, key)
            types = (int, np.integer) if kind == "an int" else (int, float, np.number)
            if (
                isinstance(value, bool)
                or not isinstance(value, types)
                or not low <= value < math.inf
            ):
                raise ConfigError(
                    f"The '{key}' parameter of {type(self).__name__} must be {kind} in the "
                    f"range [{low}, inf). Got {value!r} instead."
                )

    def _maximise(
        self, loglik: Callable[..., FloatArray], weights: FloatArray, names: tuple[str, ...]
    ) -> None:
        """Set ``params_``, one ``<name>_`` attribute per parameter and ``log_likelihood_``."""
        total, pen = weights.sum(), float(self.penalizer)

        def objective(log_params: FloatArray) -> float:
            params = np.exp(log_params)
            value = -np.dot(weights, loglik(*params)) / total + pen * np.sum(params**2)
            return float(value) if np.isfinite(value) else 1e300

        result = optimize.minimize(
            objective,
            np.zeros(len(names)),
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(names),
            options={"maxiter": self.max_iter, "ftol": 1e-14, "gtol": 1e-9},
        )
        if not result.success:
            message = f"{type(self).__name__} did not converge ({result.message}); raise max_iter."
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        params = np.exp(result.x)
        self.params_ = {name: float(value) for name, value in zip(names, params, strict=True)}
        for name, value in self.params_.items():
            setattr(self, f"{name}_", value)
        self.log_likelihood_ = float(np.dot(weights, loglik(*params)))


def _alive_future(
    x: FloatArray, alpha_T: FloatArray, t: float, r: float, a: float, b: float
) -> FloatArray:
    """Expected purchases in the next ``t`` periods of a customer known to be alive.

    This is the numerator of [FHL05] equation (10),
    ``(a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)]``
    with ``z = t/(alpha+T+t)``, rewritten with Euler's transformation
    ``2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)`` into
    ``(a+b+x-1)/(a-1) * [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)]``, whose
    hypergeometric arguments no longer grow with ``x`` (no overflow for heavy buyers).
    With ``x = 0`` and ``T = 0`` it is the unconditional ``E[X(t)]``, [FHL05] equation (9).
    """
    z = t / (alpha_T + t)
    c = a + b + x - 1
    tail = np.exp((a - 1) * np.log1p(-z)) * special.hyp2f1(a + b - 1 - r, a - 1, c, z)
    return c / (a - 1) * (1 - tail)


class BetaGeoModel(_MaximumLikelihood):
    """BG/NBD ("beta-geometric / negative binomial") model of repeat purchases [FHL05].

    While alive, a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)``; right after
    each repeat purchase they drop out with probability ``p ~ Beta(a, b)``.

    Parameters
    ----------
    penalizer : float, default=0.0
        L2 penalty ``penalizer * (r^2 + alpha^2 + a^2 + b^2)`` added to the mean negative
        log-likelihood (the convention of lifetimes' ``penalizer_coef``).
    max_iter : int, default=1000
        Maximum number of L-BFGS-B iterations.

    Attributes
    ----------
    r_, alpha_, a_, b_ : float
        Maximum-likelihood parameters, also in ``params_`` (a dict keyed by name).
    log_likelihood_ : float
        Total weighted, unpenalised log-likelihood at the fitted parameters.
    """

    r_: float
    alpha_: float
    a_: float
    b_: float

    def fit(
        self, X: Any, y: None = None, *, sample_weight: ArrayLike | None = None
    ) -> BetaGeoModel:
        """Fit by maximum likelihood of [FHL05] equation (6).

        ``X`` has columns ``frequency``, ``recency`` and ``T`` (see the module docstring);
        ``sample_weight`` is the number of customers each row stands for (lifetimes'
        ``weights``), for aggregated data. ``y`` is ignored.
        """
        self._check_params()
        cols = _check_rfm(X)
        self.n_features_in_ = len(_RFM)
        w = _check_weights(sample_weight, len(cols["T"]))

        def loglik(r: float, alpha: float, a: float, b: float) -> FloatArray:
            return _bgnbd_ll(cols["frequency"], cols["recency"], cols["T"], r, alpha, a, b)

        self._maximise(loglik, w, ("r", "alpha", "a", "b"))
        return self

    def _log_odds_dropped(self, cols: Columns) -> FloatArray:
        """``log(a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x))`` for ``x > 0``, else ``-inf``."""
        x, t_x, T = cols["frequency"], cols["recency"], cols["T"]
        out = np.full_like(x, -np.inf)
        rep = x > 0
        xr = x[rep]
        ratio = np.log(self.alpha_ + T[rep]) - np.log(self.alpha_ + t_x[rep])
        out[rep] = np.log(self.a_) - np.log(self.b_ + xr - 1) + (self.r_ + xr) * ratio
        return out

    def probability_alive(self, X: Any) -> FloatArray:
        """P(alive at T) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)), [FHL08].

        It is 1 for customers without repeat purchases.
        """
        check_is_fitted(self)
        return special.expit(-self._log_odds_dropped(_check_rfm(X)))

    def expected_purchases(self, X: Any, *, t: float) -> FloatArray:
        """Conditional expected purchases in ``(T, T+t]``, [FHL05] equation (10).

        It is P(alive) times the expected purchases of a live customer (``_alive_future``);
        ``t`` is in the time unit of ``T``.
        """
        check_is_fitted(self)
        t = _check_horizon(t)
        cols = _check_rfm(X)
        alpha_T = self.alpha_ + cols["T"]
        future = _alive_future(cols["frequency"], alpha_T, t, self.r_, self.a_, self.b_)
        return future * special.expit(-self._log_odds_dropped(cols))

    def expected_purchases_if_alive(self, X: Any, *, t: float) -> FloatArray:
        """Expected purchases in ``(T, T+t]`` of a customer known to be alive at ``T``: the
        ``expected_purchases`` before the P(alive) factor. A ratio of two horizons' expected
        purchases equals the ratio of these, even where P(alive) underflows to 0."""
        check_is_fitted(self)
        t = _check_horizon(t)
        cols = _check_rfm(X)
        alpha_T = self.alpha_ + cols["T"]
        return _alive_future(cols["frequency"], alpha_T, t, self.r_, self.a_, self.b_)

    def expected_purchases_unconditional(self, t: float) -> float:
        """E[X(t)], expected repeat purchases of a new customer in ``(0, t]``, [FHL05] eq. (9)."""
        check_is_fitted(self)
        t = _check_horizon(t)
        zero = np.zeros(1)
        return float(_alive_future(zero, self.alpha_ + zero, t, self.r_, self.a_, self.b_)[0])


class GammaGammaModel(_MaximumLikelihood):
    """Gamma-Gamma model of the mean spend per purchase [FH13].

    Each purchase is worth ``Gamma(p, nu)`` with ``nu ~ Gamma(q, v)`` across customers. Spend
    is assumed independent of the purchase process: check that ``frequency`` and
    ``monetary_value`` are only weakly correlated before relying on it.

    Parameters
    ----------
    penalizer : float, default=0.0
        L2 penalty ``penalizer * (p^2 + q^2 + v^2)`` on the mean negative log-likelihood.
    max_iter : int, default=1000
        Maximum number of L-BFGS-B iterations.

    Attributes
    ----------
    p_, q_, v_ : float
        Maximum-likelihood parameters, also in ``params_`` (a dict keyed by name).
    log_likelihood_ : float
        Total weighted, unpenalised log-likelihood of the repeat buyers.
    """

    p_: float
    q_: float
    v_: float

    def fit(
        self, X: Any, y: None = None, *, sample_weight: ArrayLike | None = None
    ) -> GammaGammaModel:
        """Fit by maximum likelihood on the repeat buyers (``frequency > 0``) of ``X``.

        ``X`` has columns ``frequency`` and ``monetary_value``; rows with frequency 0 are
        ignored. ``sample_weight`` counts the customers each row stands for; ``y`` is ignored.
        """
        self._check_params()
        cols = _check_spend(X, for_fit=True)
        self.n_features_in_ = len(_SPEND)
        w = _check_weights(sample_weight, len(cols["frequency"]))
        rep = cols["frequency"] > 0
        x, m = cols["frequency"][rep], cols["monetary_value"][rep]

        def loglik(p: float, q: float, v: float) -> FloatArray:
            return _gg_ll(x, m, p, q, v)

        self._maximise(loglik, w[rep], ("p", "q", "v"))
        return self

    def conditional_expected_average_value(self, X: Any) -> FloatArray:
        """E(M | p, q, v, m_x, x) = p (v + m_x x) / (p x + q - 1), [FH13].

        A weighted mean of the population mean ``p v / (q - 1)`` and the observed mean
        ``m_x``; customers with ``frequency == 0`` get the population mean.
        """
        check_is_fitted(self)
        if self.q_ <= 1:
            raise DataError(
                f"The fitted q_ is {self.q_:g} <= 1, so the expected spend is infinite; "
                "refit with a penalizer or on more repeat buyers."
            )
        cols = _check_spend(X, for_fit=False)
        x, m = cols["frequency"], cols["monetary_value"]
        spent = np.where(x > 0, m * x, 0.0)
        return self.p_ * (self.v_ + spent) / (self.p_ * x + self.q_ - 1)


def expected_value(
    bgnbd: BetaGeoModel, gg: GammaGammaModel, X: Any, *, t: float, discount_rate: float = 0.0
) -> FloatArray:
    """Expected revenue per customer over the next ``t`` periods.

    ``E[revenue] = E[Y(t) | x, t_x, T] * E(M | m_x, x)``: BG/NBD purchases, [FHL05]
    equation (10), times the Gamma-Gamma spend per purchase, assumed independent [FH13].

    Simpler than lifetimes' ``customer_lifetime_value`` on purpose: undiscounted by default,
    no margin, and periods are the model's own time unit (no conversion to months). With
    ``discount_rate > 0``, the purchases expected in period ``k = 1..ceil(t)`` are divided
    by ``(1 + discount_rate)^k``.

    Parameters
    ----------
    bgnbd, gg : fitted BetaGeoModel and GammaGammaModel
    X : DataFrame or mapping
        Columns ``frequency``, ``recency``, ``T`` and ``monetary_value``.
    t : float
        Horizon, in the time unit of ``T``.
    discount_rate : float, default=0.0
        Discount rate per period.

    Returns
    -------
    ndarray
        Expected revenue for each row of ``X``, in the currency of ``monetary_value``.
    """
    check_is_fitted(bgnbd)
    check_is_fitted(gg)
    t = _check_horizon(t)
    rate = _check_horizon(discount_rate, "discount_rate")
    spend = gg.conditional_expected_average_value(X)
    if rate == 0:
        return bgnbd.expected_purchases(X, t=t) * spend
    ends = np.minimum(np.arange(1, math.ceil(t) + 1), t)
    cumulative = [np.zeros(len(spend))] + [bgnbd.expected_purchases(X, t=e) for e in ends]
    per_period = np.diff(np.array(cumulative), axis=0)
    factors = (1 + rate) ** -np.arange(1.0, len(ends) + 1)
    return (factors @ per_period) * spend

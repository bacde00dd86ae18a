"""Time-to-event arithmetic of the ``next_order`` target: the censored label, survival curves,
their quantiles, and the metrics (MAE in days, interval coverage, Harrell's C).

The label is one float per customer, in the convention of XGBoost's ``survival:cox``: ``y >= 0``
is the number of days from the cutoff to the first purchase order inside the window (an observed
event); ``y < 0`` is a customer who did not order inside the window, right-censored at ``-y``
days (the window's length).

A prediction is a matrix with one row per customer and the columns ``PREDICTION_COLUMNS``:
the median days to the next order, the 50% interval (25th and 75th percentiles), the 80%
interval (10th and 90th), and ``rank``, a finite number that orders customers by how soon they
are expected to order (the mean days restricted to the horizon for the model and BG/NBD, the
point prediction for the naive gap). ``inf`` means "not within the modelled horizon"; ``nan``
means the predictor gives no such value (the naive baseline has no interval).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from segml.errors import DataError

__all__ = [
    "COVERAGE",
    "PREDICTION_COLUMNS",
    "QUANTILES",
    "concordance",
    "coverage",
    "curve_quantiles",
    "curve_restricted_mean",
    "mae_days",
    "split_label",
    "timing_metrics",
]

Array = NDArray[np.float64]
PREDICTION_COLUMNS = ("days", "lo50", "hi50", "lo80", "hi80", "rank")
QUANTILES = (0.5, 0.25, 0.75, 0.1, 0.9)  # the first five prediction columns, in order
COVERAGE = {"coverage_50": (1, 2), "coverage_80": (3, 4)}  # metric -> (lo, hi) columns


def split_label(y: Any) -> tuple[Array, NDArray[np.bool_]]:
    """(observed days, event): the days to the order, or the censoring time, and whether the
    customer ordered inside the window."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or np.isnan(y).any():
        raise DataError(
            f"a next-order label is one number per customer (days to the order, or minus the "
            f"window for no order); got shape {y.shape} with {int(np.isnan(y).sum())} NaN."
        )
    return np.abs(y), y >= 0


def _prediction(pred: Any, n: int) -> Array:
    p = np.asarray(pred, dtype=np.float64)
    if p.ndim != 2 or p.shape != (n, len(PREDICTION_COLUMNS)):
        raise DataError(
            f"a next-order prediction has one row per customer and the columns "
            f"{list(PREDICTION_COLUMNS)}; expected shape ({n}, {len(PREDICTION_COLUMNS)}), "
            f"got {p.shape}. Use the predict() of NextOrderModel or of its baselines."
        )
    return p


def _window(time: Array, event: NDArray[np.bool_]) -> float:
    """The window's length: the censoring time (shared by every customer in a backtest)."""
    if (~event).any():
        return float(time[~event].max())
    return float(time.max()) if time.size else float("nan")


def mae_days(y: Any, pred: Any) -> float:
    """Mean absolute error in days of the median, on the customers who ordered in the window.
    A median past the window (or "none within the horizon") counts as the window's end, the
    least it claims; NaN when no customer ordered."""
    time, event = split_label(y)
    p = _prediction(pred, time.size)
    if not event.any():
        return float("nan")
    days = np.minimum(p[event, 0], _window(time, event))
    return float(np.mean(np.abs(days - time[event])))


def coverage(y: Any, pred: Any, *, level: int = 80) -> float:
    """Share of customers whose interval holds the truth, censoring-aware: a customer who ordered
    is covered when ``lo <= days <= hi``; one who did not is covered unless the upper end falls
    inside the window (then the interval said "by then" and was wrong). NaN without intervals."""
    time, event = split_label(y)
    p = _prediction(pred, time.size)
    lo, hi = (p[:, i] for i in COVERAGE[f"coverage_{level}"])
    if time.size == 0 or np.isnan(lo).all():
        return float("nan")
    hit = np.where(event, (lo <= time) & (time <= hi), hi >= time)
    return float(np.mean(hit))


def _after_greater(v: NDArray[np.int64], *, strict: bool) -> NDArray[np.int64]:
    """For each position i, how many positions j > i hold ``v[j] > v[i]`` (``>=`` unless
    ``strict``): a bottom-up merge count, vectorised per level (O(n log^2 n))."""
    n = v.size
    out = np.zeros(n, dtype=np.int64)
    pos = np.arange(n)
    big = int(v.max()) + 2 if n else 1
    width = 1
    while width < n:
        pair = pos // (2 * width)
        left = (pos // width) % 2 == 0
        keys = np.sort(pair[~left] * big + v[~left])
        q = pair[left] * big + v[left]
        end = np.searchsorted(keys, (pair[left] + 1) * big, side="left")
        start = np.searchsorted(keys, q, side="right" if strict else "left")
        out[left] += end - start
        width *= 2
    return out


def concordance(y: Any, pred: Any) -> float:
    """Harrell's C with right censoring, on the ``rank`` column (lower = sooner). A pair is
    comparable when the customer with the shorter observed time ordered; it is concordant when
    that customer has the lower rank; tied ranks count a half. NaN without comparable pairs."""
    time, event = split_label(y)
    r = _prediction(pred, time.size)[:, -1]
    if time.size < 2:
        return float("nan")
    order = np.lexsort((-r, time))  # time ascending, rank descending inside equal times
    t, e, rr = time[order], event[order], r[order]
    v = np.unique(rr, return_inverse=True)[1].astype(np.int64)
    greater = _after_greater(v, strict=True)  # later rows of equal time have rank <= mine
    at_least = _after_greater(v, strict=False)
    # rows of equal (time, rank) are consecutive: the later ones of a run were counted as ">="
    new_run = np.r_[True, (t[1:] != t[:-1]) | (rr[1:] != rr[:-1])]
    starts = np.flatnonzero(new_run)
    run = np.cumsum(new_run) - 1
    ends = np.r_[starts[1:], t.size]
    same_after = ends[run] - np.arange(t.size) - 1
    equal_later = at_least - greater - same_after
    comparable = t.size - np.searchsorted(t, t, side="right")
    den = float(comparable[e].sum())
    if den == 0:
        return float("nan")
    return float((greater[e].sum() + 0.5 * equal_later[e].sum()) / den)


def timing_metrics(y: Any, pred: Any) -> dict[str, float]:
    """The backtest table of ``next_order``: MAE in days (customers who ordered), coverage of the
    50% and 80% intervals, Harrell's C, and the share of customers who ordered."""
    time, event = split_label(y)
    return {
        "concordance": concordance(y, pred),
        "mae_days": mae_days(y, pred),
        "coverage_50": coverage(y, pred, level=50),
        "coverage_80": coverage(y, pred, level=80),
        "ordered_share": float(event.mean()) if time.size else float("nan"),
    }


def curve_quantiles(log_s: Array, knots: Array, qs: Any = QUANTILES) -> Array:
    """Times at which the event CDF reaches each of ``qs``, for survival curves given as
    ``log S`` at ``knots`` (one row per customer, ``knots[0] = 0``), with a constant hazard
    rate between knots; ``inf`` when the curve does not reach ``q`` by the last knot."""
    n, k = log_s.shape
    widths = np.diff(knots)
    out = np.full((n, len(qs)), np.inf)
    for c, q in enumerate(qs):
        target = np.log1p(-q)
        idx = (log_s >= target).sum(axis=1) - 1  # the last knot still at or above the target
        inside = idx < k - 1
        i = np.flatnonzero(inside)
        j = idx[inside]
        drop = log_s[i, j] - log_s[i, j + 1]
        frac = np.divide(log_s[i, j] - target, drop, out=np.zeros(i.size), where=drop > 0)
        out[i, c] = knots[j] + widths[j] * frac
    return out


def curve_restricted_mean(log_s: Array, knots: Array) -> Array:
    """The mean days to the event restricted to the last knot: the area under S, exact for a
    constant hazard rate between knots."""
    s = np.exp(log_s)
    drop = log_s[:, :-1] - log_s[:, 1:]
    widths = np.diff(knots)
    exp_part = np.divide(
        widths * (s[:, :-1] - s[:, 1:]), drop, out=widths * s[:, :-1], where=drop > 1e-12
    )
    return np.asarray(exp_part.sum(axis=1), dtype=np.float64)

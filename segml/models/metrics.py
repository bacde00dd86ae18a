"""Backtest metrics for the classifiers and the value model, and the verdict against baselines.

Classifiers: ROC AUC, PR AUC (average precision), log loss, Brier score, expected calibration
error (10 equal-width bins, weighted by bin size), the reliability table, lift and cumulative gain
by decile, top-decile capture and lift. Value: normalised Gini, Spearman correlation, decile
calibration (mean predicted vs actual per decile), top-decile revenue share, mean absolute error.

Ties. Baselines such as the RFM cell table give thousands of customers the same score, so every
share-of-customers metric is defined by share, with ties handled explicitly: a group of tied
customers counts as if its members were ordered at random, i.e. by its expected value under
random tie-breaking. The cumulative gain curve (``gain_curve``) has a point at every boundary
between tied groups and is linear inside a group; ``gain_at(q)`` reads it at exactly ``q`` of the
customers, so a tied group that straddles the cut contributes its positives in proportion to the
part of it inside. "Top decile" is the top 10% of customers exactly; ``decile_table`` cuts 10
groups of exactly a tenth of the customers each, splitting a tied group that straddles an edge
proportionally (column ``split_ties`` says how much of each group that is). The normalised Gini
is the trapezoid area of the same tie-grouped curve, the average over all tie orderings, so row
order never changes it. ROC AUC counts tied pairs as half, Spearman uses average ranks.

``deciles`` is something else: the customer's decile label written by scoring (1..10, tied
customers share one); it is a label for targeting, not the basis of any metric here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy import stats

from segml import targets
from segml.errors import DataError
from segml.models.survival import concordance, mae_days, timing_metrics

__all__ = [
    "beats",
    "classification_metrics",
    "decile_table",
    "deciles",
    "gain_at",
    "gain_curve",
    "metric_function",
    "metrics_for",
    "reliability_table",
    "value_metrics",
    "verdict_metrics",
]

Array = NDArray[np.float64]
TOP_SHARE = 0.1  # "top decile": exactly this share of the customers


def deciles(score: Array) -> NDArray[np.int64]:
    """Each customer's decile label, 1..10 by descending score rank, 10 = the highest tenth.

    Deterministic and tie-consistent: tied customers share one decile (the one of the top rank of
    their tie), so with heavy ties a label holds more or fewer than a tenth of the customers. Use
    it to label customers; for metrics by share of customers use ``decile_table`` / ``gain_at``.
    """
    score = np.asarray(score, dtype=np.float64)
    if score.size == 0:
        return np.zeros(0, dtype=np.int64)
    ranks = stats.rankdata(score, method="max")  # ties get the top rank of the tie
    return np.clip(np.ceil(ranks / score.size * 10), 1, 10).astype(np.int64)


def _check(y: Array, score: Array, what: str) -> None:
    if y.shape != score.shape or y.ndim != 1:
        raise DataError(
            f"{what} needs one label per score; got labels of shape {y.shape} and scores of "
            f"shape {score.shape}. Pass two 1-d arrays of the same customers."
        )
    bad = ~np.isfinite(score)
    if bad.any():
        raise DataError(
            f"{what} needs finite scores; found {int(bad.sum())} of {score.size} not finite "
            f"(first: {score[bad][0]!r} at row {int(np.flatnonzero(bad)[0])}). Score every "
            "customer before computing metrics."
        )


def _tie_groups(score: Array, *columns: Array) -> tuple[Array, list[Array]]:
    """Per distinct score, highest first: the number of customers and the sum of each column."""
    values, inverse = np.unique(score, return_inverse=True)
    counts = np.bincount(inverse, minlength=values.size).astype(np.float64)[::-1]
    sums = [
        np.bincount(inverse, weights=c, minlength=values.size).astype(np.float64)[::-1]
        for c in columns
    ]
    return counts, sums


def _cumulative(y: Array, score: Array, *more: Array) -> tuple[Array, list[Array]]:
    """Customers and column totals accumulated over the tie groups, from (0, 0): the knots of
    the piecewise-linear expected cumulative curves under random tie-breaking."""
    counts, sums = _tie_groups(score, y, *more)
    knots = np.concatenate([[0.0], np.cumsum(counts)])
    return knots, [np.concatenate([[0.0], np.cumsum(s)]) for s in sums]


def gain_curve(y: Array, score: Array) -> tuple[Array, Array]:
    """The cumulative gain curve, highest score first: share of customers (x) and share of the
    label total (positives, or revenue) captured (y), one point per tie-group boundary from
    (0, 0) to (1, 1). Inside a tied group the curve is linear (expected value under random
    tie-breaking). All NaN when the labels sum to 0."""
    y, score = np.asarray(y, dtype=np.float64), np.asarray(score, dtype=np.float64)
    _check(y, score, "gain_curve")
    if y.size == 0:
        return np.zeros(1), np.full(1, np.nan)
    knots, (cum_y,) = _cumulative(y, score)
    total = cum_y[-1]
    return knots / y.size, (cum_y / total if total else np.full(cum_y.size, np.nan))


def gain_at(y: Array, score: Array, share: float = TOP_SHARE) -> float:
    """Share of the label total captured by the top ``share`` of customers by score; a tied
    group across the cut counts in proportion to its part above the cut. NaN without labels."""
    if not 0 <= share <= 1:
        raise ValueError(f"share must be in [0, 1]; got {share}")
    x, g = gain_curve(y, score)
    return float(np.interp(share, x, g)) if np.isfinite(g).all() else float("nan")


def reliability_table(y: Array, p: Array, bins: int = 10) -> pl.DataFrame:
    """Per equal-width probability bin (``bins`` bins on [0, 1], 1.0 in the last): rows, mean
    predicted, observed rate; empty bins are left out."""
    idx = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    return (
        pl.DataFrame({"bin": idx, "p": p, "y": y})
        .group_by("bin")
        .agg(
            pl.len().alias("n"),
            pl.col("p").mean().alias("predicted"),
            pl.col("y").mean().alias("observed"),
        )
        .sort("bin")
    )


def decile_table(y: Array, score: Array, predicted: Array | None = None) -> pl.DataFrame:
    """Ten groups of exactly a tenth of the customers each, by descending score (decile 10 =
    the top tenth); a tied group across an edge is split proportionally between the groups.

    Columns: ``decile``, ``n`` (customers, N/10), ``share`` (0.1) and ``cum_share`` (where the
    group ends on the share-of-customers axis), ``actual_total`` and ``actual_mean`` (expected
    under random tie-breaking), ``pred_mean`` (of ``predicted``, default the score), ``lift``
    (group mean / overall mean), ``cum_gain`` (share of the label total in this and the higher
    groups) and ``split_ties`` (share of the group's customers from a tied group that an edge
    cuts, 0 when none is). Empty without rows; ``lift`` and ``cum_gain`` null without labels.
    """
    y, score = np.asarray(y, dtype=np.float64), np.asarray(score, dtype=np.float64)
    pred = score if predicted is None else np.asarray(predicted, dtype=np.float64)
    _check(y, score, "decile_table")
    _check(y, pred, "decile_table (predicted)")
    n = y.size
    if n == 0:
        return _decile_frame({k: np.zeros(0) for k in _DECILE_COLUMNS})
    knots, (cum_y, cum_p) = _cumulative(y, score, pred)
    edges = np.arange(11) * n / 10
    size = np.diff(edges)
    actual = np.diff(np.interp(edges, knots, cum_y))
    total, mean = cum_y[-1], cum_y[-1] / n
    return _decile_frame({
        "decile": np.arange(10, 0, -1, dtype=np.float64),
        "n": size,
        "share": size / n,
        "cum_share": edges[1:] / n,
        "actual_total": actual,
        "actual_mean": actual / size,
        "pred_mean": np.diff(np.interp(edges, knots, cum_p)) / size,
        "lift": actual / size / mean if mean else np.full(10, np.nan),
        "cum_gain": np.cumsum(actual) / total if total else np.full(10, np.nan),
        "split_ties": _split_ties(knots, edges) / size,
    })  # fmt: skip


_DECILE_COLUMNS = (
    "decile",
    "n",
    "share",
    "cum_share",
    "actual_total",
    "actual_mean",
    "pred_mean",
    "lift",
    "cum_gain",
    "split_ties",
)


def _decile_frame(columns: dict[str, Array]) -> pl.DataFrame:
    frame = pl.DataFrame({k: columns[k] for k in _DECILE_COLUMNS})
    return frame.with_columns(
        pl.col("decile").cast(pl.Int64), pl.col("lift", "cum_gain").fill_nan(None)
    )


def _split_ties(knots: Array, edges: Array) -> Array:
    """Per group between ``edges``: customers from tied groups (between ``knots``, two or more
    customers) that an interior edge cuts strictly inside."""
    inner = edges[1:-1]
    at = np.searchsorted(knots, inner, side="right") - 1
    hi = knots[np.minimum(at + 1, knots.size - 1)]
    cut = (knots[at] < inner) & (inner < hi) & (hi - knots[at] > 1)  # a tie: 2+ customers
    out = np.zeros(edges.size - 1)
    for g in np.unique(at[cut]):
        lo, hi = knots[g], knots[g + 1]
        out += np.clip(np.minimum(hi, edges[1:]) - np.maximum(lo, edges[:-1]), 0, None)
    return out


def _ece(y: Array, p: Array, bins: int = 10) -> float:
    """Expected calibration error: sum over equal-width bins of (bin rows / rows) x
    |mean predicted - observed rate|."""
    if y.size == 0:
        return float("nan")
    idx = np.minimum((p * bins).astype(int), bins - 1)
    gap = np.bincount(idx, weights=p, minlength=bins) - np.bincount(idx, weights=y, minlength=bins)
    return float(np.sum(np.abs(gap)) / y.size)  # n_b/N * |sum_b(p - y)| / n_b


def _top_lift(y: Array, s: Array) -> float:
    """Mean label of the top tenth of customers (expected, by share) / overall mean."""
    capture = gain_at(y, s, TOP_SHARE)
    return capture / TOP_SHARE if capture == capture else float("nan")


def classification_metrics(y: Array, p: Array) -> dict[str, float]:
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    _check(y, p, "classification_metrics")
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return {
        "roc_auc": _auc(y, p),
        "pr_auc": _ap(y, p),
        "log_loss": _logloss(y, p),
        "brier": _brier(y, p),
        "ece": _ece(y, p),
        "top_decile_lift": _top_lift(y, p),
        "top_decile_capture": gain_at(y, p, TOP_SHARE),
        "largest_tie_share": _largest_tie(p),
        "base_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "rows": float(len(y)),
    }


def _largest_tie(s: Array) -> float:
    """Share of the customers in the largest group of tied scores."""
    return float(_tie_groups(s)[0].max() / s.size) if s.size else float("nan")


def _normalised_gini(y: Array, v: Array) -> float:
    """Gini of ``v`` over Gini of the perfect ordering (by ``y`` itself), each twice the area
    between the tie-grouped gain curve and the diagonal (trapezoid rule: the mean over every
    ordering of tied customers, so independent of row order). NaN when the labels sum to <= 0
    or are all equal."""
    y, v = np.asarray(y, dtype=np.float64), np.asarray(v, dtype=np.float64)
    if y.size == 0 or y.sum() <= 0:
        return float("nan")

    def gini(score: Array) -> float:
        x, g = gain_curve(y, score)
        return float(np.trapezoid(g, x)) - 0.5

    best = gini(y)
    return gini(v) / best if best > 0 else float("nan")


def value_metrics(y: Array, v: Array) -> dict[str, float]:
    y, v = np.asarray(y, dtype=np.float64), np.asarray(v, dtype=np.float64)
    _check(y, v, "value_metrics")
    return {
        "gini": _normalised_gini(y, v),
        "spearman": _spearman(y, v),
        "top_decile_revenue_share": gain_at(y, v, TOP_SHARE) if y.size else float("nan"),
        "mae": float(np.mean(np.abs(y - v))) if y.size else float("nan"),
        "largest_tie_share": _largest_tie(v),
        "mean_actual": float(y.mean()) if y.size else float("nan"),
        "mean_predicted": float(v.mean()) if y.size else float("nan"),
        "rows": float(len(y)),
    }


def verdict_metrics(target: str) -> dict[str, str]:
    """The verdict: a model beats a baseline when it is better on every one of these, the
    target's primary and secondary metrics (name -> "max" or "min")."""
    return {
        m: "max" if metric_function(m)[1] > 0 else "min" for m in targets.get(target).key_metrics
    }


def beats(target: str, model: dict[str, float], other: dict[str, float]) -> bool:
    """True when ``model`` is better than ``other`` on every primary metric of ``target``."""
    out = True
    for name, direction in verdict_metrics(target).items():
        a, b = model.get(name, float("nan")), other.get(name, float("nan"))
        if a != a:
            return False
        if b == b:
            out &= a > b if direction == "max" else a < b
    return bool(out)


def metrics_for(target: str, y: Any, score: Any) -> dict[str, float]:
    """Every metric of the target's task: ``classification_metrics``, ``value_metrics`` or
    (time-to-event) ``segml.models.survival.timing_metrics``."""
    spec = targets.get(target)
    if spec.is_time_to_event:
        return timing_metrics(y, score)
    metrics = classification_metrics if spec.is_classifier else value_metrics
    return metrics(y, score)


def _auc(y: Array, p: Array) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula with average ranks: a tied positive and
    negative pair counts a half. NaN unless both classes are present."""
    pos = y == 1
    n1 = int(pos.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = stats.rankdata(p)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _ap(y: Array, p: Array) -> float:
    """Average precision over the distinct thresholds (a tied group enters at once):
    sum over thresholds of (gain in recall) x precision. NaN unless both classes are present."""
    total = float(y.sum())
    if total == 0 or total == y.size:
        return float("nan")
    counts, (pos,) = _tie_groups(p, y)
    precision = np.cumsum(pos) / np.cumsum(counts)
    return float(np.sum(pos / total * precision))


def _logloss(y: Array, p: Array) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))) if y.size else float("nan")


def _brier(y: Array, p: Array) -> float:
    return float(np.mean((np.clip(p, 0, 1) - y) ** 2)) if y.size else float("nan")


def _spearman(y: Array, v: Array) -> float:
    """Pearson correlation of the average ranks (Spearman's rho with ties); NaN when either
    side is constant."""
    if y.size < 2 or np.std(v) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(stats.rankdata(y), stats.rankdata(v))[0, 1])


# name -> (function of (y, score), +1 when higher is better, -1 when lower is better)
_SCALAR: dict[str, tuple[Any, float]] = {
    "roc_auc": (_auc, 1.0),
    "pr_auc": (_ap, 1.0),
    "log_loss": (_logloss, -1.0),
    "brier": (_brier, -1.0),
    "ece": (lambda y, p: _ece(y, np.clip(p, 0, 1)), -1.0),
    "top_decile_capture": (gain_at, 1.0),
    "top_decile_lift": (_top_lift, 1.0),
    "top_decile_revenue_share": (gain_at, 1.0),
    "gini": (lambda y, v: _normalised_gini(y, v), 1.0),
    "spearman": (_spearman, 1.0),
    "mae": (lambda y, v: float(np.mean(np.abs(y - v))), -1.0),
    # time-to-event (segml.models.survival): a censored label and a prediction matrix
    "concordance": (concordance, 1.0),
    "mae_days": (mae_days, -1.0),
}


def metric_function(name: str) -> tuple[Any, float]:
    """The metric ``name`` as a function of (labels, scores) and its direction (+1 higher is
    better, -1 lower is better); used by the paired comparisons in ``segml.models.compare``."""
    if name not in _SCALAR:
        raise ValueError(f"unknown metric {name!r}; expected one of {sorted(_SCALAR)}")
    return _SCALAR[name]

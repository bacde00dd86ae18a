"""Backtest metrics for the classifiers and the value model, and the verdict against baselines.

Classifiers: ROC AUC, PR AUC (average precision), log loss, Brier score, expected calibration
error (10 equal-width bins, weighted by bin size), the reliability table, lift and cumulative gain
by decile, top-decile capture. Value: normalised Gini, Spearman correlation, decile calibration
(mean predicted vs actual per decile), top-decile revenue share, mean absolute error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy import stats
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

__all__ = [
    "PRIMARY",
    "beats",
    "classification_metrics",
    "decile_table",
    "deciles",
    "metric_function",
    "reliability_table",
    "value_metrics",
]

Array = NDArray[np.float64]
# The verdict: a model beats a baseline when it is better on every one of these.
PRIMARY = {
    "purchase": {"roc_auc": "max", "log_loss": "min"},
    "lapse": {"roc_auc": "max", "log_loss": "min"},
    "value": {"gini": "max", "spearman": "max"},
}


def deciles(score: Array) -> NDArray[np.int64]:
    """1..10 by descending score rank, 10 = the highest tenth (ties share a decile)."""
    score = np.asarray(score, dtype=np.float64)
    if score.size == 0:
        return np.zeros(0, dtype=np.int64)
    ranks = stats.rankdata(score, method="max")  # ties get the top rank of the tie
    return np.clip(np.ceil(ranks / score.size * 10), 1, 10).astype(np.int64)


def reliability_table(y: Array, p: Array, bins: int = 10) -> pl.DataFrame:
    """Per equal-width probability bin: rows, mean predicted, observed rate."""
    idx = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    return (
        pl.DataFrame({"bin": idx, "p": p, "y": y})
        .group_by("bin")
        .agg(pl.len().alias("n"), pl.col("p").mean().alias("predicted"),
             pl.col("y").mean().alias("observed"))
        .sort("bin")
    )  # fmt: skip


def decile_table(y: Array, score: Array, predicted: Array | None = None) -> pl.DataFrame:
    """Per score decile (10 = highest): rows, actual total and mean, lift, cumulative gain."""
    d = deciles(score)
    frame = pl.DataFrame(
        {
            "decile": d,
            "y": np.asarray(y, dtype=np.float64),
            "pred": np.asarray(score if predicted is None else predicted),
        }
    )
    y_arr = frame["y"].to_numpy()
    total, mean = float(y_arr.sum()), float(y_arr.mean()) if y_arr.size else 0.0
    table = (
        frame.group_by("decile")
        .agg(pl.len().alias("n"), pl.col("y").sum().alias("actual_total"),
             pl.col("y").mean().alias("actual_mean"), pl.col("pred").mean().alias("pred_mean"))
        .sort("decile", descending=True)
    )  # fmt: skip
    return table.with_columns(
        (pl.col("actual_mean") / mean if mean else pl.lit(None)).alias("lift"),
        (pl.col("actual_total").cum_sum() / total if total else pl.lit(None)).alias("cum_gain"),
    )


def _ece(y: Array, p: Array) -> float:
    table = reliability_table(y, p)
    weights = table["n"].to_numpy() / len(y)
    gap = table["predicted"].to_numpy() - table["observed"].to_numpy()
    return float(np.sum(weights * np.abs(gap)))


def classification_metrics(y: Array, p: Array) -> dict[str, float]:
    y, p = np.asarray(y, dtype=np.float64), np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    table = decile_table(y, p)
    top = table.filter(pl.col("decile") == 10)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": _ece(y, p),
        "top_decile_lift": float(top["lift"][0]) if top.height and top["lift"][0] else float("nan"),
        "top_decile_capture": float(top["cum_gain"][0])
        if top.height and top["cum_gain"][0]
        else float("nan"),
        "base_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "rows": float(len(y)),
    }


def _normalised_gini(y: Array, v: Array) -> float:
    def gini(order_by: Array) -> float:
        order = np.lexsort((np.arange(len(y)), -order_by))
        cum = np.cumsum(y[order]) / y.sum()
        return float(np.sum(cum - (np.arange(1, len(y) + 1) / len(y))) / len(y))

    return gini(v) / gini(y) if y.sum() > 0 else float("nan")


def value_metrics(y: Array, v: Array) -> dict[str, float]:
    y, v = np.asarray(y, dtype=np.float64), np.asarray(v, dtype=np.float64)
    table = decile_table(y, v)
    top = table.filter(pl.col("decile") == 10)
    return {
        "gini": _normalised_gini(y, v),
        "spearman": float(stats.spearmanr(y, v).statistic) if np.std(v) > 0 else float("nan"),
        "top_decile_revenue_share": float(top["cum_gain"][0]) if top.height else float("nan"),
        "mae": float(np.mean(np.abs(y - v))),
        "mean_actual": float(y.mean()),
        "mean_predicted": float(v.mean()),
        "rows": float(len(y)),
    }


def beats(target: str, model: dict[str, float], other: dict[str, float]) -> bool:
    """True when ``model`` is better than ``other`` on every primary metric of ``target``."""
    out = True
    for name, direction in PRIMARY[target].items():
        a, b = model.get(name, float("nan")), other.get(name, float("nan"))
        if a != a:
            return False
        if b == b:
            out &= a > b if direction == "max" else a < b
    return bool(out)


def metrics_for(target: str, y: Any, score: Any) -> dict[str, float]:
    return (value_metrics if target == "value" else classification_metrics)(y, score)


def _auc(y: Array, p: Array) -> float:
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def _ap(y: Array, p: Array) -> float:
    return float(average_precision_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def _logloss(y: Array, p: Array) -> float:
    return float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]))


def _spearman(y: Array, v: Array) -> float:
    return (
        float(stats.spearmanr(y, v).statistic) if np.std(v) > 0 and np.std(y) > 0 else float("nan")
    )


# name -> (function of (y, score), +1 when higher is better, -1 when lower is better)
_SCALAR: dict[str, tuple[Any, float]] = {
    "roc_auc": (_auc, 1.0),
    "pr_auc": (_ap, 1.0),
    "log_loss": (_logloss, -1.0),
    "brier": (lambda y, p: float(brier_score_loss(y, np.clip(p, 0, 1))), -1.0),
    "gini": (lambda y, v: _normalised_gini(y, v), 1.0),
    "spearman": (_spearman, 1.0),
    "mae": (lambda y, v: float(np.mean(np.abs(y - v))), -1.0),
}


def metric_function(name: str) -> tuple[Any, float]:
    """The metric ``name`` as a function of (labels, scores) and its direction (+1 higher is
    better, -1 lower is better); used by the paired comparisons in ``segml.models.compare``."""
    if name not in _SCALAR:
        raise ValueError(f"unknown metric {name!r}; expected one of {sorted(_SCALAR)}")
    return _SCALAR[name]

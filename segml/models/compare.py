"""Is a model better than another beyond the noise? Paired bootstrap intervals and a verdict.

Two scores of the same customers (a model and a baseline, or a challenger and the champion) are
compared on one metric by resampling the customers with replacement (the same resample for both
scores, so the comparison is paired) and taking the percentile interval of the difference. The
difference is oriented so that a positive value means the first score is better, whatever the
metric's direction. The verdict is "beats" when the whole interval is above zero, "loses" when it
is below, and "ties" otherwise: a difference in the third decimal that the resampling can undo is
a tie, not a win.

Several scoring dates pool by averaging: the pooled difference is the mean of the per-date
differences and its interval comes from averaging the per-date bootstrap draws draw by draw (the
dates are resampled independently). ``pool`` also reports the spread across dates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from segml.models.metrics import metric_function

__all__ = ["Comparison", "paired_bootstrap", "pool", "verdict"]

Array = NDArray[np.float64]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """``model`` vs ``other`` on ``metric``; ``diff`` > 0 means ``model`` is better."""

    metric: str
    model: float
    other: float
    diff: float
    low: float
    high: float
    verdict: str
    rows: int
    draws: Array = dataclasses.field(repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "draws"
        }


def verdict(low: float, high: float) -> str:
    """ "beats" when the interval of the (better-is-positive) difference is above 0, "loses"
    when it is below, "ties" when it contains 0 or is undefined."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "ties"
    if low > 0:
        return "beats"
    if high < 0:
        return "loses"
    return "ties"


def paired_bootstrap(
    y: Any,
    model: Any,
    other: Any,
    *,
    metric: str,
    n_boot: int = 300,
    level: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Compare two scores of the same rows on ``metric`` (a name from
    ``segml.models.metrics.metric_function``: roc_auc, pr_auc, log_loss, brier, gini, spearman,
    mae) with a paired bootstrap of ``n_boot`` resamples and a ``level`` percentile interval."""
    y, a, b = (np.asarray(v, dtype=np.float64) for v in (y, model, other))
    if not (len(y) == len(a) == len(b)):
        raise ValueError(
            f"paired_bootstrap needs one label and two scores per row; got {len(y)} labels, "
            f"{len(a)} and {len(b)} scores"
        )
    fn, sign = metric_function(metric)
    point_a, point_b = fn(y, a), fn(y, b)
    draws = _draws(y, a, b, fn, sign, n_boot=n_boot, seed=seed)
    low, high = _interval(draws, level)
    diff = sign * (point_a - point_b)
    return Comparison(metric, point_a, point_b, diff, low, high, verdict(low, high), len(y), draws)


def _draws(
    y: Array,
    a: Array,
    b: Array,
    fn: Callable[[Array, Array], float],
    sign: float,
    *,
    n_boot: int,
    seed: int,
) -> Array:
    rng = np.random.default_rng(seed)
    out = np.full(n_boot, np.nan)
    n = len(y)
    if n == 0:
        return out
    for i in range(n_boot):
        idx = rng.integers(0, n, n)
        out[i] = sign * (fn(y[idx], a[idx]) - fn(y[idx], b[idx]))
    return out


def _interval(draws: Array, level: float) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    if finite.size < max(10, draws.size // 2):  # most resamples undefined (e.g. one class)
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def pool(comparisons: Sequence[Comparison], *, level: float = 0.95) -> dict[str, Any]:
    """Pool per-date comparisons of one metric: mean difference, its interval from the averaged
    draws, the verdict, and the per-date spread (min and max difference, dates won/tied/lost)."""
    if not comparisons:
        raise ValueError("pool needs at least one comparison")
    metrics = {c.metric for c in comparisons}
    if len(metrics) != 1:
        raise ValueError(f"pool compares one metric at a time; got {sorted(metrics)}")
    width = min(c.draws.size for c in comparisons)
    draws = np.mean([c.draws[:width] for c in comparisons], axis=0)
    low, high = _interval(draws, level)
    diffs = [c.diff for c in comparisons]
    verdicts = [c.verdict for c in comparisons]
    return {
        "metric": comparisons[0].metric,
        "dates": len(comparisons),
        "model": float(np.mean([c.model for c in comparisons])),
        "other": float(np.mean([c.other for c in comparisons])),
        "diff": float(np.mean(diffs)),
        "low": low,
        "high": high,
        "verdict": verdict(low, high),
        "min_diff": float(np.min(diffs)),
        "max_diff": float(np.max(diffs)),
        "dates_beats": verdicts.count("beats"),
        "dates_ties": verdicts.count("ties"),
        "dates_loses": verdicts.count("loses"),
    }

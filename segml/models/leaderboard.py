"""Which of the model and its baselines wins each backtest metric beyond the noise.

For every metric the report shows, the candidate with the best value is compared with each other
candidate by a paired bootstrap over the backtest customers (``segml.models.compare``); it is
the winner only when every interval of the difference is above zero. Otherwise no one wins that
metric: a lead that resampling the customers can undo is not shown as a win. Logged with each
training run as ``tables/winners.json`` and read by the report to bold winners.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from segml import targets
from segml.models.compare import paired_bootstrap
from segml.models.metrics import metric_function

__all__ = ["REPORTED", "WINNERS_ARTIFACT", "metric_winners"]

WINNERS_ARTIFACT = "tables/winners.json"
# the metrics the backtest table shows by default, per task (a target's TargetSpec.metrics)
REPORTED = {
    "classifier": ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_capture"),
    "value": ("gini", "spearman", "top_decile_revenue_share", "mae"),
}


def metric_winners(
    frame: pl.DataFrame,
    *,
    target: str,
    who: Sequence[str] | None = None,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    max_rows: int = 20_000,
) -> dict[str, Any]:
    """Per metric the report shows for ``target`` (its ``TargetSpec.metrics``): ``best`` (best
    value), ``winner`` (``best`` if it beats every other candidate beyond noise, else None) and
    ``versus`` (difference and ``level`` interval against each other candidate, positive =
    ``best`` is better).

    ``frame`` holds ``label`` and ``score__<who>`` per backtest customer (``who``: by default
    "model" and the target's baselines). Above ``max_rows``
    customers the bootstrap runs on a fixed random sample of ``max_rows`` of them (wider
    intervals, so fewer wins, never more)."""
    if frame.height > max_rows:
        frame = frame.sample(max_rows, seed=seed)
    spec = targets.get(target)
    y = frame["label"].to_numpy().astype(np.float64)
    names = ("model", *spec.baselines) if who is None else who
    scores = {w: _score(frame[f"score__{w}"].to_numpy(), spec.is_classifier) for w in names}
    out: dict[str, Any] = {}
    for metric in filter(_comparable, spec.metrics):  # not coverage: no "higher is better"
        out[metric] = _one_metric(y, scores, metric=metric, n_boot=n_boot, level=level, seed=seed)
    return {"rows": frame.height, "n_boot": n_boot, "level": level, "metrics": out}


def _comparable(metric: str) -> bool:
    """Whether ``metric`` has a direction to compare by (``metric_function`` knows it)."""
    try:
        metric_function(metric)
    except ValueError:
        return False
    return True


def _score(values: Any, classifier: bool) -> Any:
    s = np.asarray(values, dtype=np.float64)
    return np.clip(s, 1e-6, 1 - 1e-6) if classifier else s  # as classification_metrics


def _one_metric(
    y: Any, scores: dict[str, Any], *, metric: str, n_boot: int, level: float, seed: int
) -> dict[str, Any]:
    fn, sign = metric_function(metric)
    values = {w: float(fn(y, s)) for w, s in scores.items()}
    finite = {w: v for w, v in values.items() if math.isfinite(v)}
    if not finite:
        return {"best": None, "winner": None, "values": _clean(values), "versus": {}}
    best = max(finite, key=lambda w: sign * finite[w])
    versus = {}
    for other in scores:
        if other == best:
            continue
        c = paired_bootstrap(
            y, scores[best], scores[other], metric=metric, n_boot=n_boot, level=level, seed=seed
        )
        versus[other] = _clean({"diff": c.diff, "low": c.low, "high": c.high}) | {
            "verdict": c.verdict
        }
    wins = bool(versus) and all(v["verdict"] == "beats" for v in versus.values())
    return {
        "best": best,
        "winner": best if wins else None,
        "values": _clean(values),
        "versus": versus,
    }


def _clean(values: dict[str, float]) -> dict[str, float | None]:
    """NaN as None, so the artifact is strict JSON."""
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}

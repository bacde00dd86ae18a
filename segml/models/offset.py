"""Boosting from a baseline: the BG/NBD score as the starting point, and how much of the trees
to keep on top of it.

With ``PropensityModel(baseline="btyd", horizon_days=h)`` the trees learn the *residual* of the
buy-till-you-die model instead of the whole score: LightGBM starts from an ``init_score`` per row
(the offset) and every prediction adds the same offset back before calibration::

    raw = offset + weight * trees          # log-odds (purchase, lapse) or log E[value] (value)
    probability = calibrator(raw)

The offset is read from a model input, so every scoring path computes it the same way:

- ``purchase``: ``logit(btyd__p_purchase_{h}d)``; ``lapse``: ``-logit(btyd__p_purchase_{h}d)``;
- ``value``: ``log(btyd__expected_value_{h}d)``;
- customers the BG/NBD model cannot score (no purchase before the cutoff) get the link of the
  training label mean of such customers.

``weight`` is chosen on the validation rows among ``blend_weights`` (0 = the baseline alone,
recalibrated; 1 = baseline plus all the trees) by the target's ranking metric (ROC AUC, or the
normalised Gini for value), ties going to the smaller weight. So the model never validates worse
than the BG/NBD baseline it starts from: at worst it *is* that baseline, recalibrated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from segml import targets
from segml.errors import ConfigError, DataError
from segml.models.metrics import metric_function

__all__ = ["BASELINES", "choose_weight", "offset_column", "offset_spec", "offset_values"]

Array = NDArray[np.float64]
BASELINES = ("btyd",)
_P_EPS = 1e-4
_VALUE_FLOOR = 1e-2  # currency units: log(0) would be -inf


def offset_column(target: str, horizon_days: Any) -> str:
    """The model input a ``baseline="btyd"`` model starts from."""
    if horizon_days is None or isinstance(horizon_days, bool) or not float(horizon_days) > 0:
        raise ConfigError(
            "PropensityModel(baseline='btyd') needs horizon_days, the label horizon the BG/NBD "
            f"columns were computed for (e.g. horizon_days=90); got {horizon_days!r}."
        )
    return _btyd(target).offset(horizon_days)


def _btyd(target: str) -> targets.BTYDLink:
    link = targets.get(target).btyd
    if link is None:
        raise ConfigError(
            f"target {target!r} has no BG/NBD column to boost from (its TargetSpec has "
            "btyd=None); use PropensityModel(baseline=None) or give the spec a BTYDLink."
        )
    return link


def _link(target: str, v: Array) -> Array:
    link = _btyd(target)
    if link.link == "log":
        return np.log(np.maximum(v, _VALUE_FLOOR))
    p = np.clip(v, _P_EPS, 1 - _P_EPS)
    out = np.log(p / (1 - p))
    return -out if link.flip else out


def _column(frame: pl.DataFrame, name: str) -> Array:
    if name not in frame.columns:
        raise DataError(
            f"the model starts from the BG/NBD column {name!r}, which the input lacks; found "
            f"{len(frame.columns)} columns ({frame.columns[:6]}...). Build the inputs with "
            "segml.model_inputs(..., horizons=[...]) including the model's horizon."
        )
    col = frame[name].cast(pl.Float64, strict=False).fill_nan(None)
    return col.to_numpy().astype(np.float64)


def offset_spec(
    frame: pl.DataFrame, y: Array, *, target: str, horizon_days: Any
) -> dict[str, Any] | None:
    """What ``offset_values`` needs, learnt from the training rows; None when the baseline
    scored nobody (e.g. too few repeat buyers for Gamma-Gamma): the model then boosts from 0."""
    name = offset_column(target, horizon_days)
    v = _column(frame, name)
    missing = np.isnan(v)
    if missing.all():
        return None
    mean = float(y[missing].mean()) if missing.any() else float(y.mean())
    if _btyd(target).link == "log":
        fill = float(np.log(max(mean, _VALUE_FLOOR)))
    else:
        m = min(max(mean, _P_EPS), 1 - _P_EPS)
        fill = float(np.log(m / (1 - m)))  # labels are already the target's (lapse: 1 = lapsed)
    spec = {"column": name, "target": target, "fill": fill}
    spec["center"] = float(offset_values(spec, frame).mean())  # reason codes: base value share
    return spec


def offset_values(spec: dict[str, Any] | None, frame: pl.DataFrame) -> Array:
    """The offset of each row of ``frame`` (zeros without a spec)."""
    if spec is None:
        return np.zeros(frame.height, dtype=np.float64)
    v = _column(frame, spec["column"])
    out = _link(spec["target"], np.nan_to_num(v, nan=0.5))
    return np.where(np.isnan(v), float(spec["fill"]), out)


def choose_weight(
    target: str, y: Array, offset: Array, trees: Array, *, weights: Sequence[float]
) -> tuple[float, dict[str, float]]:
    """The tree weight with the best validation ranking metric, and the metric of each weight
    (keys are the weights as text). Ties (to 1e-9) go to the smaller weight."""
    bad = [w for w in weights if not 0 <= float(w) <= 1]
    if not weights or bad:
        raise ConfigError(
            f"blend_weights must be numbers in [0, 1]; got {list(weights)!r}. Include 0 (the "
            "baseline alone) and 1 (all the trees), e.g. (0, 0.25, 0.5, 0.75, 1)."
        )
    fn, sign = metric_function(targets.get(target).primary_metric)
    scores = {float(w): float(fn(y, offset + float(w) * trees)) for w in sorted(set(weights))}
    finite = {w: s for w, s in scores.items() if np.isfinite(s)}
    if not finite:
        return 1.0, {f"{w:g}": s for w, s in scores.items()}
    best = max(sign * s for s in finite.values())
    chosen = min(w for w, s in finite.items() if sign * s >= best - 1e-9)
    return chosen, {f"{w:g}": s for w, s in scores.items()}

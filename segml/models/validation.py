"""What the validation rows are for: split them off when none are given, and calibrate on them.

Calibrators are stored as plain JSON numbers (``PropensityModel.save``): isotonic as its
thresholds, sigmoid (Platt) as slope and intercept, value as a scale factor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from segml.errors import DataError

_EPS = 1e-5
_TIE_BREAK = 1e-7
_VALID_SHARE = 0.2


def _internal_split(
    frame: pl.DataFrame, y: NDArray[np.float64], *, seed: int
) -> tuple[pl.DataFrame, NDArray[np.float64], pl.DataFrame, NDArray[np.float64], str]:
    """Validation rows split off the training rows: the latest ``cutoff`` when there are two or
    more, else a fifth of the customers (all their rows), else a fifth of the rows."""
    if "cutoff" in frame.columns and frame["cutoff"].n_unique() >= 2:
        latest = frame["cutoff"].max()
        mask = (frame["cutoff"] == latest).to_numpy()
        how = f"latest cutoff ({latest!s})"
    else:
        rng = np.random.default_rng(seed)
        if "customer_id" in frame.columns:
            ids = frame["customer_id"].cast(pl.String)
            unique = ids.unique(maintain_order=True).to_numpy()
            held = set(unique[rng.random(len(unique)) < _VALID_SHARE].tolist())
            mask = ids.is_in(list(held)).to_numpy()
            how = f"{_VALID_SHARE:.0%} of the customers"
        else:
            mask = rng.random(frame.height) < _VALID_SHARE
            how = f"{_VALID_SHARE:.0%} of the rows"
    if mask.all() or not mask.any():
        raise DataError(
            f"cannot split validation rows off {frame.height} training rows ({how}); pass "
            "X_valid/y_valid or more rows."
        )
    return frame.filter(~mask), y[~mask], frame.filter(mask), y[mask], how


def _fit_calibrator(
    method: str, raw: NDArray[np.float64], y: NDArray[np.float64]
) -> dict[str, Any]:
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return {
            "method": "isotonic",
            "x": iso.X_thresholds_.tolist(),
            "y": iso.y_thresholds_.tolist(),
        }
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y)
    return {"method": "sigmoid", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def _apply_calibrator(cal: dict[str, Any], raw: NDArray[np.float64]) -> NDArray[np.float64]:
    if cal["method"] == "scale":
        return np.exp(raw) * float(cal["scale"])
    if cal["method"] == "isotonic":  # flat steps broken by the raw score's order
        p = np.interp(raw, np.asarray(cal["x"]), np.asarray(cal["y"]))
        p = p + _TIE_BREAK * (1.0 / (1.0 + np.exp(-raw)) - 0.5)
    else:
        p = 1.0 / (1.0 + np.exp(-(float(cal["a"]) * raw + float(cal["b"]))))
    return np.clip(p, _EPS, 1 - _EPS)


def _cross_fitted_loss(
    method: str, raw: NDArray[np.float64], y: NDArray[np.float64], seed: int
) -> float:
    """Mean log loss of ``method`` fitted on one validation half, scored on the other."""
    half = np.random.default_rng(seed).permutation(len(raw)) < len(raw) // 2
    losses = []
    for fit_rows in (half, ~half):
        if len(np.unique(y[fit_rows])) < 2:
            return float("inf")
        cal = _fit_calibrator(method, raw[fit_rows], y[fit_rows])
        p = _apply_calibrator(cal, raw[~fit_rows])
        losses.append(log_loss(y[~fit_rows], p, labels=[0, 1]))
    return float(np.mean(losses))

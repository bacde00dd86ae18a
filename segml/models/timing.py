"""The predicted next-order date: a discrete-time hazard model and its two baselines.

``NextOrderModel`` models the days from the cutoff to a customer's next purchase order with the
window as the horizon, customers who do not order inside it being censored, not dropped. The
horizon is cut into bins (edges at the quantiles of the observed order times, so each bin holds
about as many orders); every customer contributes one row per bin it was still waiting at the
start of, labelled 1 in the bin of its order and 0 before (a censored customer: 0 in every bin).
One LightGBM classifier on those stacked rows (customer features plus the bin's start day)
predicts the hazard, the probability of ordering in a bin given no order before it; the
survival curve is their running product, with a constant hazard rate inside each bin. The
median and the 25/75 and 10/90 percentiles are read off it; a customer whose curve does not
reach the percentile within the horizon gets ``inf`` ("no order expected within N days").

Baselines (``TargetSpec.baselines`` of ``next_order``):

- ``btyd_timing``: BG/NBD's conditional timing. For a customer with ``x`` repeat purchases,
  age ``T`` and P(alive) ``pa``, P(at least one purchase within t) =
  ``pa * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x))`` exactly (under BG/NBD a live
  customer's purchase rate is Gamma(r + x, alpha + T) a posteriori, and dropout only happens
  right after a purchase); its q-crossing is closed form,
  ``t = (alpha + T) * ((1 - q / pa) ** (-1 / (r + x)) - 1)``, and never when ``q >= pa``.
- ``gap``: the customer's median gap between orders after the last order, i.e.
  ``max(0, rfm__gap_median_days - rfm__recency_days)``; one-order customers get the median gap
  of the training customers. A point prediction without an interval.

Predictions are matrices with the columns ``segml.models.survival.PREDICTION_COLUMNS``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from segml.errors import ConfigError, DataError, ModelNotFoundError
from segml.io import write_text
from segml.models.propensity import _eval_kwargs, _to_polars, feature_columns
from segml.models.survival import (
    QUANTILES,
    curve_quantiles,
    curve_restricted_mean,
    split_label,
)

__all__ = [
    "BTYDTimingBaseline",
    "GapBaseline",
    "NextOrderModel",
    "make_next_order_model",
    "next_order_columns",
]

Array = NDArray[np.float64]
_BIN = "_bin_start_days"
_FORMAT = "segml-next-order-1"


class NextOrderModel(BaseEstimator):  # type: ignore[misc]
    """Discrete-time hazard model of the days to the next order (see the module docstring).

    Parameters: ``horizon_days`` (the label window), ``n_bins`` (at most this many bins),
    LightGBM's ``n_estimators``, ``learning_rate``, ``num_leaves``, ``min_child_samples``,
    ``subsample``, ``colsample_bytree``, ``reg_lambda``, ``early_stopping_rounds``, ``n_jobs``,
    ``random_state``.
    """

    def __init__(
        self,
        *,
        horizon_days: float = 90.0,
        n_bins: int = 10,
        n_estimators: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 100,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 30,
        n_jobs: int = 2,
        random_state: int = 0,
    ) -> None:
        self.horizon_days = horizon_days
        self.n_bins = n_bins
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _check(self) -> float:
        h = self.horizon_days
        if isinstance(h, bool) or not isinstance(h, int | float) or not h > 0:
            raise ConfigError(f"NextOrderModel's horizon_days must be > 0 days; got {h!r}.")
        if not isinstance(self.n_bins, int) or self.n_bins < 2:
            raise ConfigError(f"NextOrderModel's n_bins must be an int >= 2; got {self.n_bins!r}.")
        return float(h)

    def _edges(self, time: Array, event: NDArray[np.bool_], h: float) -> Array:
        inner = time[event & (time < h)]
        qs = np.linspace(0, 1, self.n_bins + 1)[1:-1]
        cuts = np.round(np.quantile(inner, qs), 1) if inner.size >= self.n_bins else np.zeros(0)
        return np.unique(np.clip(np.r_[0.0, cuts, h], 0.0, h))

    def _matrix(self, frame: pl.DataFrame) -> NDArray[np.float32]:
        cols = []
        for c in self.feature_names_in_:
            col = frame[c] if c in frame.columns else pl.Series(c, [None] * frame.height)
            cols.append(col.cast(pl.Float64, strict=False).fill_nan(None).to_numpy())
        if not cols:
            return np.empty((frame.height, 0), dtype=np.float32)
        return np.column_stack(cols).astype(np.float32)

    def _stack(self, M: NDArray[np.float32], y: Any) -> tuple[NDArray[np.float32], Array]:
        """One row per customer and bin it waited at the start of; 1 in the bin of its order."""
        time, event = split_label(y)
        starts, ends = self.edges_[:-1], np.r_[self.edges_[1:-1], np.inf]
        waited = np.where(  # an order at a bin's start day falls in that bin
            event[:, None], starts[None, :] <= time[:, None], starts[None, :] < time[:, None]
        )
        hit = event[:, None] & waited & (time[:, None] < ends[None, :])
        rows, bins = np.nonzero(waited)
        X = np.column_stack([M[rows], starts[bins].astype(np.float32)])
        return X, hit[rows, bins].astype(np.float64)

    def _lgbm(self) -> lgb.LGBMClassifier:
        return lgb.LGBMClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
            subsample=self.subsample, subsample_freq=1, colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda, n_jobs=self.n_jobs, random_state=self.random_state,
            deterministic=True, force_row_wise=True, verbose=-1,
        )  # fmt: skip

    def fit(self, X: Any, y: Any, *, X_valid: Any = None, y_valid: Any = None) -> NextOrderModel:
        """Fit on feature rows ``X`` and labels ``y`` (``segml.models.survival``'s convention);
        with ``X_valid``/``y_valid``, stop early on their stacked hazard log loss."""
        h = self._check()
        train = _to_polars(X)
        time, event = split_label(y)
        if time.size != train.height or not event.any():
            raise DataError(
                f"next_order: {train.height} feature rows and {time.size} labels, of which "
                f"{int(event.sum())} ordered in the window; need one label per row and some "
                "orders. Use more customers or cutoffs."
            )
        self.feature_names_in_ = [c for c in feature_columns(train.columns) if c != _BIN]
        self.feature_names_in_ = [c for c in self.feature_names_in_ if train.schema[c].is_numeric()]
        self.edges_ = self._edges(time, event, h)
        Xs, ys = self._stack(self._matrix(train), y)
        model, names = self._lgbm(), [*self.feature_names_in_, _BIN]
        kwargs: dict[str, Any] = {}
        if X_valid is not None:
            Xv, yv = self._stack(self._matrix(_to_polars(X_valid)), y_valid)
            stop = lgb.early_stopping(self.early_stopping_rounds, verbose=False)
            kwargs = {**_eval_kwargs(model, Xv, yv), "callbacks": [stop]}
        model.fit(Xs, ys, feature_name=names, **kwargs)
        self.booster_ = model.booster_
        self.best_iteration_ = int(model.best_iteration_ or self.n_estimators)
        self.tree_weight_ = 1.0  # the backtest's plan table reads it; no baseline offset here
        return self

    def log_survival(self, X: Any) -> Array:
        """``log S`` at ``edges_`` (one row per customer, ``S(0) = 1``)."""
        check_is_fitted(self, "booster_")
        M = self._matrix(_to_polars(X))
        k = self.edges_.size - 1
        rows = np.repeat(np.arange(M.shape[0]), k)
        bins = np.tile(self.edges_[:-1], M.shape[0]).astype(np.float32)
        hazard = self.booster_.predict(
            np.column_stack([M[rows], bins]), num_iteration=self.best_iteration_
        )
        log_keep = np.log1p(-np.clip(np.asarray(hazard).reshape(-1, k), 1e-9, 1 - 1e-9))
        return np.column_stack([np.zeros(M.shape[0]), np.cumsum(log_keep, axis=1)])

    def predict(self, X: Any) -> Array:
        """The prediction matrix (``PREDICTION_COLUMNS``): median, 50% and 80% intervals in days
        from the cutoff (``inf``: not within the horizon) and the restricted mean as ``rank``."""
        log_s = self.log_survival(X)
        return np.column_stack(
            [curve_quantiles(log_s, self.edges_), curve_restricted_mean(log_s, self.edges_)]
        )

    def predict_score(self, X: Any) -> Array:
        """What segml judges and promotes on, as for ``PropensityModel.predict_score``: here the
        prediction matrix of ``predict``."""
        return self.predict(X)

    def save(self, path: str | Path) -> Path:
        """Write ``model.txt`` (LightGBM's text) and ``model.json`` (parameters, bin edges,
        inputs, ``metadata_``) into folder ``path``: no pickle (``load`` reads them back)."""
        check_is_fitted(self, "booster_")
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        text = self.booster_.model_to_string(num_iteration=self.best_iteration_)
        write_text(text, folder / "model.txt")
        meta = {
            "format": _FORMAT, "params": self.get_params(), "edges": self.edges_.tolist(),
            "feature_names": list(self.feature_names_in_), "best_iteration": self.best_iteration_,
            "metadata": getattr(self, "metadata_", {}),
        }  # fmt: skip
        write_text(json.dumps(meta, indent=1, default=str), folder / "model.json")
        return folder

    @classmethod
    def load(cls, path: str | Path) -> NextOrderModel:
        """Read a folder written by ``save``; parses text and JSON only, executes nothing."""
        folder = Path(path)
        meta_file = folder / "model.json"
        meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
        if meta.get("format") != _FORMAT or not (folder / "model.txt").is_file():
            raise ModelNotFoundError(
                f"{folder} is not a saved next-order model: expected model.txt and a model.json "
                f"of format {_FORMAT!r}; found {sorted(p.name for p in folder.glob('*'))} "
                f"(format {meta.get('format')!r}). Save one with NextOrderModel.save(path) or "
                "`segml train --target next_order`."
            )
        model = cls(**meta["params"])
        model.booster_ = lgb.Booster(model_str=(folder / "model.txt").read_text(encoding="utf-8"))
        model.edges_ = np.asarray(meta["edges"], dtype=np.float64)
        model.feature_names_in_ = list(meta["feature_names"])
        model.best_iteration_ = int(meta["best_iteration"])
        model.tree_weight_ = 1.0
        model.metadata_ = dict(meta.get("metadata") or {})
        return model


def make_next_order_model(
    *, target: str, horizon_days: float, params: Mapping[str, Any]
) -> NextOrderModel:
    """The ``estimator`` of the ``next_order`` TargetSpec: the run's LightGBM settings that
    ``NextOrderModel`` takes (``n_jobs``, ``random_state``, ``num_leaves``, ...), the rest
    (the propensity models' ``baseline``, ``calibration``, ...) left out."""
    known = set(inspect.signature(NextOrderModel).parameters) - {"horizon_days"}
    return NextOrderModel(
        horizon_days=horizon_days, **{k: v for k, v in params.items() if k in known}
    )


# ------------------------------------------------------------------------------- baselines
_BG = ("btyd__p_alive", "baseline__btyd_timing_scale", "baseline__btyd_timing_shape")


class BTYDTimingBaseline(BaseEstimator):  # type: ignore[misc]
    """BG/NBD's conditional timing (module docstring), read from the per-cutoff BG/NBD columns
    ``btyd__p_alive``, ``baseline__btyd_timing_scale`` (alpha + T) and ``..._shape`` (r + x)."""

    def __init__(self, *, horizon_days: float = 90.0) -> None:
        self.horizon_days = horizon_days

    def fit(self, frame: pl.DataFrame, y: Any) -> BTYDTimingBaseline:
        missing = [c for c in _BG if c not in frame.columns]
        if missing:
            raise DataError(
                f"the BG/NBD timing baseline needs columns {missing}; found "
                f"{[c for c in frame.columns if c.startswith(('btyd__', 'baseline__'))]}. "
                "Build the rows with segml.models.dataset.CutoffCache."
            )
        self.fitted_ = True
        return self

    def predict(self, frame: pl.DataFrame) -> Array:
        check_is_fitted(self, "fitted_")
        pa, s, k = (frame[c].cast(pl.Float64).fill_nan(None).fill_null(0.0).to_numpy() for c in _BG)
        s, k = np.maximum(s, 1e-9), np.maximum(k, 1e-9)
        out = [bgnbd_crossing(pa, s, k, q) for q in QUANTILES]
        return np.column_stack([*out, bgnbd_restricted_mean(pa, s, k, float(self.horizon_days))])


def bgnbd_crossing(pa: Array, s: Array, k: Array, q: float) -> Array:
    """The t with ``pa * (1 - (s / (s + t)) ** k) = q``; ``inf`` when ``q >= pa``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = s * ((1 - q / pa) ** (-1 / k) - 1)
    return np.where(pa > q, t, np.inf)


def bgnbd_restricted_mean(pa: Array, s: Array, k: Array, h: float) -> Array:
    """The integral of ``1 - pa * (1 - (s / (s + t)) ** k)`` over ``[0, h]``."""
    near_one = np.abs(k - 1) < 1e-6
    km1 = np.where(near_one, 1.0, k - 1)
    power = s / km1 * (1 - (s / (s + h)) ** km1)
    integral = np.where(near_one, s * np.log1p(h / s), power)
    return np.asarray(h * (1 - pa) + pa * integral, dtype=np.float64)


class GapBaseline(BaseEstimator):  # type: ignore[misc]
    """Last order + the customer's median gap (module docstring); no interval."""

    def fit(self, frame: pl.DataFrame, y: Any) -> GapBaseline:
        for c in ("rfm__gap_median_days", "rfm__recency_days"):
            if c not in frame.columns:
                raise DataError(f"the gap baseline needs the column {c!r} (the rfm family).")
        gaps = frame["rfm__gap_median_days"].cast(pl.Float64).fill_nan(None).drop_nulls()
        self.gap_ = float(gaps.median()) if gaps.len() else 30.0  # type: ignore[arg-type]
        return self

    def predict(self, frame: pl.DataFrame) -> Array:
        check_is_fitted(self, "gap_")
        gap = frame["rfm__gap_median_days"].cast(pl.Float64).fill_nan(None).fill_null(self.gap_)
        recency = frame["rfm__recency_days"].cast(pl.Float64).fill_null(0.0)
        days = np.maximum(0.0, (gap - recency).to_numpy())
        nan = np.full(days.size, np.nan)
        return np.column_stack([days, nan, nan, nan, nan, days])


# ------------------------------------------------------------------------- scoring columns
DATE_COLUMNS = {"date": 0, "date_50_lo": 1, "date_50_hi": 2, "date_80_lo": 3, "date_80_hi": 4}
EXPECTED, NOT_WITHIN, NO_ORDERS = "expected", "not_within_horizon", "no_orders"


def next_order_columns(
    features: Any, model: Any, *, as_of: Any, name: str = "next_order"
) -> pl.DataFrame:
    """The next-order columns of every customer of ``features`` (rows as of ``as_of``), named
    ``<name>__...`` after the target:

    - ``__days``: the median days from ``as_of`` to the next order (null when none expected);
    - ``__date`` (the median) and ``__date_50_lo`` / ``_50_hi`` / ``_80_lo`` / ``_80_hi``:
      calendar dates, ``as_of`` plus the whole days; an end past the model's horizon is null
      (the upper end of an irregular buyer's 80% interval often is);
    - ``__status``: ``expected``; ``not_within_horizon`` (the median is past the horizon: "no
      order expected within N days", every date null); or ``no_orders`` (no order before
      ``as_of``: nothing to predict from, every date null);
    - ``__horizon_days``: N, the horizon the model was trained on.
    """
    from segml.engine import parse_as_of

    frame = _to_polars(features)
    pred = np.asarray(model.predict(frame), dtype=np.float64)
    horizon = float(model.horizon_days)
    freq = "rfm__frequency"
    buyer = (
        frame[freq].cast(pl.Float64).fill_null(0.0).to_numpy() > 0
        if freq in frame.columns
        else np.ones(frame.height, dtype=bool)
    )
    within = buyer & np.isfinite(pred[:, 0]) & (pred[:, 0] <= horizon)
    status = np.where(~buyer, NO_ORDERS, np.where(within, EXPECTED, NOT_WITHIN))
    day = parse_as_of(as_of).date()
    out = frame.select("customer_id").with_columns(
        pl.Series(f"{name}__days", np.where(within, pred[:, 0], np.nan)).fill_nan(None),
        pl.Series(f"{name}__status", status, dtype=pl.String),
        pl.lit(horizon).alias(f"{name}__horizon_days"),
    )
    for suffix, col in DATE_COLUMNS.items():
        keep = within & np.isfinite(pred[:, col]) & (pred[:, col] <= horizon)
        days = np.where(keep, np.floor(np.nan_to_num(pred[:, col], posinf=0.0)), np.nan)
        offset = pl.Series(days).fill_nan(None).cast(pl.Int64)
        out = out.with_columns(
            (pl.lit(day) + pl.duration(days=pl.lit(offset))).alias(f"{name}__{suffix}")
        )
    return out

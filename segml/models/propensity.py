"""The propensity model: a wrapped LightGBM model, calibrated, saved without pickles.

``PropensityModel`` wraps (does not subclass) ``LGBMClassifier`` for ``purchase``/``lapse`` and
``LGBMRegressor`` with a Tweedie objective for ``value`` (most customers spend nothing in the
horizon; Tweedie models that mass at zero and the spend of buyers in one model whose raw score is
``log E[value]``, so reason codes add up exactly on that scale).

- Early stopping on the time-based validation set (the latest training cutoff).
- Classifiers are calibrated on the validation set: isotonic and sigmoid (Platt) are each
  cross-fitted on two halves of it and the one with the lower log loss is refitted on all of it.
  The value model is rescaled so its mean matches the validation mean.
- ``save``/``load`` write LightGBM's own model text and a JSON file: no pickle, so loading a
  model runs no code stored with it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.utils.validation import check_is_fitted

from segml.errors import ConfigError, DataError, ModelNotFoundError
from segml.labels import TARGETS
from segml.models.treeshap import tree_contributions

__all__ = ["NON_FEATURES", "PropensityModel", "feature_columns"]

FORMAT_VERSION = 1
NON_FEATURES = ("customer_id", "cutoff", "label")
_EPS = 1e-5
_MAX_CATEGORIES = 100


def feature_columns(columns: Sequence[str]) -> list[str]:
    """The model inputs among ``columns``: everything but ids, labels and baseline scores."""
    return [c for c in columns if c not in NON_FEATURES and not c.startswith("baseline__")]


def _to_polars(X: Any) -> pl.DataFrame:
    if isinstance(X, pl.DataFrame):
        return X
    if isinstance(X, pd.DataFrame):
        return pl.from_pandas(X)
    raise DataError(f"expected a pandas or Polars DataFrame of features; got {type(X).__name__}.")


class PropensityModel(BaseEstimator):  # type: ignore[misc]
    """A calibrated LightGBM propensity (``purchase``, ``lapse``) or value (``value``) model.

    Parameters
    ----------
    target : "purchase", "lapse" or "value".
    n_estimators, learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree,
    reg_lambda : LightGBM's parameters (``subsample`` is bagging every iteration).
    tweedie_variance_power : Tweedie power of the value model, in (1, 2).
    early_stopping_rounds : rounds without improvement on the validation set before stopping.
    calibration : "auto" (isotonic or sigmoid, chosen on validation), "isotonic", "sigmoid".
    n_jobs, random_state : threads and seed (runs are deterministic for a given n_jobs).
    """

    def __init__(
        self,
        *,
        target: str = "purchase",
        n_estimators: int = 400,
        learning_rate: float = 0.1,
        num_leaves: int = 15,
        min_child_samples: int = 50,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        tweedie_variance_power: float = 1.3,
        early_stopping_rounds: int = 30,
        calibration: str = "auto",
        n_jobs: int = 2,
        random_state: int = 0,
    ) -> None:
        self.target = target
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.tweedie_variance_power = tweedie_variance_power
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        if self.target not in TARGETS:
            raise ConfigError(
                f"The 'target' parameter of PropensityModel must be one of {list(TARGETS)}. "
                f"Got {self.target!r} instead."
            )
        if self.calibration not in ("auto", "isotonic", "sigmoid"):
            raise ConfigError(
                "The 'calibration' parameter of PropensityModel must be 'auto', 'isotonic' or "
                f"'sigmoid'. Got {self.calibration!r} instead."
            )

    @property
    def is_classifier(self) -> bool:
        return self.target != "value"

    def _lgbm_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "subsample": self.subsample,
            "subsample_freq": 1,
            "colsample_bytree": self.colsample_bytree,
            "reg_lambda": self.reg_lambda,
            "n_jobs": self.n_jobs,
            "random_state": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }
        if not self.is_classifier:
            params |= {
                "objective": "tweedie",
                "tweedie_variance_power": self.tweedie_variance_power,
            }
        return params

    def fit(
        self, X: Any, y: Any, *, X_valid: Any, y_valid: Any, callbacks: Sequence[Any] = ()
    ) -> PropensityModel:
        """Fit on the training cutoffs, stop early and calibrate on the validation cutoffs.

        ``X``/``X_valid`` are feature frames (pandas or Polars); columns named ``customer_id``,
        ``cutoff``, ``label`` or starting with ``baseline__`` are ignored. ``callbacks`` are
        extra LightGBM callbacks (Optuna's pruning uses one).
        """
        self._check_params()
        train = _to_polars(X)
        self.feature_names_in_ = feature_columns(train.columns)
        self.categories_ = {
            c: _top_values(train[c])
            for c in self.feature_names_in_
            if train.schema[c] in (pl.String, pl.Categorical, pl.Utf8)
        }
        Xt, Xv = self._matrix(train), self._matrix(_to_polars(X_valid))
        yt, yv = _labels(y, len(Xt)), _labels(y_valid, len(Xv))
        if self.is_classifier and (len(np.unique(yt)) < 2 or len(np.unique(yv)) < 2):
            raise DataError(
                f"{self.target}: the training and validation labels must hold both classes; "
                f"found training {np.unique(yt).tolist()}, validation {np.unique(yv).tolist()}. "
                "Use more customers or more cutoffs."
            )
        wrapper = (lgb.LGBMClassifier if self.is_classifier else lgb.LGBMRegressor)(
            **self._lgbm_params()
        )
        wrapper.fit(
            Xt,
            yt,
            **_eval_kwargs(wrapper, Xv, yv),
            feature_name=self.feature_names_in_,
            categorical_feature=self._categorical_index() or "auto",
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False), *callbacks],
        )
        self.booster_ = wrapper.booster_
        self.best_iteration_ = int(wrapper.best_iteration_ or wrapper.n_estimators)
        self._calibrate(self._raw(Xv), yv)
        return self

    def refit(self, X: Any, y: Any) -> PropensityModel:
        """Refit the trees on ``X`` (e.g. every cutoff up to the validation one) with the number
        of rounds early stopping chose; the calibrator fitted on validation is kept."""
        check_is_fitted(self, "booster_")
        M, yy = self._matrix(_to_polars(X)), _labels(y, _to_polars(X).height)
        params = self._lgbm_params() | {"n_estimators": self.best_iteration_}
        wrapper = (lgb.LGBMClassifier if self.is_classifier else lgb.LGBMRegressor)(**params)
        wrapper.fit(M, yy, feature_name=self.feature_names_in_,
                    categorical_feature=self._categorical_index() or "auto")  # fmt: skip
        self.booster_ = wrapper.booster_
        self.refit_rows_ = len(yy)
        return self

    def _categorical_index(self) -> list[int]:
        return [i for i, c in enumerate(self.feature_names_in_) if c in self.categories_]

    def _matrix(self, frame: pl.DataFrame) -> NDArray[np.float64]:
        missing = [c for c in self.feature_names_in_ if c not in frame.columns]
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in missing)
        cols = []
        for c in self.feature_names_in_:
            if c in self.categories_:
                codes = {v: float(i) for i, v in enumerate(self.categories_[c])}
                col = (
                    frame[c]
                    .cast(pl.String)
                    .replace_strict(codes, default=None, return_dtype=pl.Float64)
                )
            else:
                col = frame[c].cast(pl.Float64, strict=False)
            cols.append(col.fill_nan(None).to_numpy().astype(np.float64, copy=False))
        return np.column_stack(cols) if cols else np.empty((frame.height, 0))

    def _raw(self, M: NDArray[np.float64]) -> NDArray[np.float64]:
        out = self.booster_.predict(M, num_iteration=self.best_iteration_, raw_score=True)
        return np.asarray(out, dtype=np.float64)

    def _calibrate(self, raw: NDArray[np.float64], y: NDArray[np.float64]) -> None:
        if not self.is_classifier:
            mean_pred = float(np.exp(raw).mean())
            self.value_scale_ = float(y.mean() / mean_pred) if mean_pred > 0 else 1.0
            self.calibrator_: dict[str, Any] = {"method": "scale", "scale": self.value_scale_}
            self.calibration_losses_: dict[str, float] = {}
            return
        methods = ["isotonic", "sigmoid"] if self.calibration == "auto" else [self.calibration]
        self.calibration_losses_ = {m: _cross_fitted_loss(m, raw, y, self.random_state)
                                    for m in methods}  # fmt: skip
        best = min(self.calibration_losses_, key=self.calibration_losses_.__getitem__)
        self.calibrator_ = _fit_calibrator(best, raw, y)

    # --------------------------------------------------------------- predicting
    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """LightGBM's raw score: log-odds (classifiers) or log expected value (value)."""
        check_is_fitted(self, "booster_")
        return self._raw(self._matrix(_to_polars(X)))

    def predict(self, X: Any) -> NDArray[np.float64]:
        """Calibrated probability of the target (classifiers) or expected revenue (value)."""
        return _apply_calibrator(self.calibrator_, self.decision_function(X))

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        if not self.is_classifier:
            raise AttributeError("the value model predicts revenue, not probabilities")
        p = self.predict(X)
        return np.column_stack([1 - p, p])

    def contributions(self, X: Any) -> NDArray[np.float64]:
        """Exact TreeSHAP contributions on the raw scale, one column per feature plus the base
        value: LightGBM's ``pred_contrib``, evaluated once per distinct path pattern of each tree
        (``segml.models.treeshap``), so equal to it at a fraction of the cost."""
        check_is_fitted(self, "booster_")
        M = self._matrix(_to_polars(X))
        return tree_contributions(self.booster_, M, num_iteration=self.best_iteration_)

    # ---------------------------------------------------------------- persisting
    def to_dict(self) -> dict[str, Any]:
        check_is_fitted(self, "booster_")
        return {
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "feature_names": self.feature_names_in_,
            "categories": self.categories_,
            "best_iteration": self.best_iteration_,
            "calibrator": self.calibrator_,
            "calibration_losses": self.calibration_losses_,
            "metadata": getattr(self, "metadata_", {}),
        }

    def save(self, path: str | Path) -> Path:
        """Write ``model.txt`` (LightGBM's text format) and ``model.json`` into folder ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        text = self.booster_.model_to_string(num_iteration=self.best_iteration_)
        (folder / "model.txt").write_text(text, encoding="utf-8")
        payload = json.dumps(self.to_dict(), indent=1, default=_json_default)
        (folder / "model.json").write_text(payload, encoding="utf-8")
        return folder

    @classmethod
    def load(cls, path: str | Path) -> PropensityModel:
        """Read a folder written by ``save``; parses text and JSON only, executes nothing."""
        folder = Path(path)
        if not (folder / "model.json").is_file() or not (folder / "model.txt").is_file():
            raise ModelNotFoundError(
                f"{folder} is not a saved segml model: expected model.json and model.txt in it. "
                "Save one with PropensityModel.save(path) or `segml train`."
            )
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelNotFoundError(
                f"{folder}: model format {meta.get('format_version')!r} is not supported by this "
                f"segml (it reads format {FORMAT_VERSION}); retrain the model."
            )
        model = cls(**meta["params"])
        model.booster_ = lgb.Booster(model_str=(folder / "model.txt").read_text(encoding="utf-8"))
        model.feature_names_in_ = list(meta["feature_names"])
        model.categories_ = {k: list(v) for k, v in meta["categories"].items()}
        model.best_iteration_ = int(meta["best_iteration"])
        model.calibrator_ = meta["calibrator"]
        model.calibration_losses_ = meta.get("calibration_losses", {})
        model.metadata_ = meta.get("metadata", {})
        if model.calibrator_["method"] == "scale":
            model.value_scale_ = float(model.calibrator_["scale"])
        return model


def _eval_kwargs(wrapper: Any, Xv: Any, yv: Any) -> dict[str, Any]:
    """LightGBM >= 4.7 takes ``eval_X``/``eval_y`` and deprecates ``eval_set``."""
    if "eval_X" in inspect.signature(wrapper.fit).parameters:
        return {"eval_X": (Xv,), "eval_y": (yv,)}
    return {"eval_set": [(Xv, yv)]}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _top_values(col: pl.Series) -> list[str]:
    counts = col.cast(pl.String).drop_nulls().value_counts(sort=True)
    return [str(v) for v in counts[:, 0].head(_MAX_CATEGORIES).to_list()]


def _labels(y: Any, n: int) -> NDArray[np.float64]:
    arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y, dtype=np.float64).ravel()
    if arr.shape[0] != n or not np.isfinite(arr).all():
        raise DataError(
            f"labels must be {n} finite numbers, one per feature row; got {arr.shape[0]} values "
            f"with {int((~np.isfinite(arr)).sum())} missing."
        )
    return arr


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
    if cal["method"] == "isotonic":
        p = np.interp(raw, np.asarray(cal["x"]), np.asarray(cal["y"]))
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

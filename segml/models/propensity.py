"""The propensity model: a wrapped LightGBM model, calibrated, saved without pickles.

``PropensityModel`` wraps (does not subclass) ``LGBMClassifier`` for ``purchase``/``lapse`` and
``LGBMRegressor`` with a Tweedie objective for ``value`` (most customers spend nothing in the
horizon; Tweedie models that mass at zero and the spend of buyers in one model whose raw score is
``log E[value]``, so reason codes add up exactly on that scale).

- Early stopping on the time-based validation set (the latest training cutoff). Without one,
  ``fit`` splits its own: the rows of the latest ``cutoff`` (or, with a single cutoff, a fifth
  of the customers) validate, the rest train. When that split leaves a class out of either
  side (small inputs, folds of ``cross_val_score``), a fifth of each class's rows validate.
- With ``baseline="btyd"`` the trees start from the BG/NBD score of the same horizon (LightGBM's
  ``init_score``) and learn its residual; the share of the trees kept is chosen on validation,
  0 meaning the baseline alone (``segml.models.offset``).
- Classifiers are calibrated on the validation set: isotonic and sigmoid (Platt) are each
  cross-fitted on two halves of it and the one with the lower log loss is refitted on all of it.
  Isotonic steps are broken by a 1e-7 share of the raw score's sigmoid, so calibration never
  ties customers the raw score ranks apart.
  The value model is rescaled so its mean matches the validation mean.
- ``save``/``load`` write LightGBM's own model text and a JSON file: no pickle, so loading a
  model runs no code stored with it.
- A scikit-learn estimator (``segml.models.sklearn_compat``): for ``purchase``/``lapse`` a
  binary classifier (``classes_``, ``predict`` gives class labels, ``predict_proba``, ``score``
  is accuracy); for ``value`` a regressor (``predict`` gives the amount, ``score`` is R^2).
  ``predict_score`` is segml's score for every target: the calibrated probability of the
  positive class, or the expected value. Inputs are feature frames (columns by name) or 2-d
  arrays (columns by position).
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
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from segml import targets
from segml.errors import ConfigError, DataError, ModelNotFoundError
from segml.io import write_text
from segml.models.offset import BASELINES, choose_weight, offset_spec, offset_values
from segml.models.sklearn_compat import (
    as_1d,
    as_frame,
    check_classes,
    encode_labels,
    estimator_tags,
    no_y_error,
    score_model,
    stratified_split,
)
from segml.models.treeshap import tree_contributions
from segml.models.validation import (
    _apply_calibrator,
    _cross_fitted_loss,
    _fit_calibrator,
    _internal_split,
)

__all__ = ["NON_FEATURES", "PropensityModel", "feature_columns"]

FORMAT_VERSION = 1
NON_FEATURES = ("customer_id", "cutoff", "label")
_MAX_CATEGORIES = 100


def feature_columns(columns: Sequence[str]) -> list[str]:
    """The model inputs among ``columns``: everything but ids, labels and baseline scores."""
    return [c for c in columns if c not in NON_FEATURES and not c.startswith("baseline__")]


def _to_polars(X: Any, names: Sequence[str] | None = None) -> pl.DataFrame:
    """Polars frames as they are, pandas converted, arrays validated and named ``names`` (the
    fitted columns, by position) or ``x0, x1, ...``."""
    if isinstance(X, pl.DataFrame):
        return X
    if isinstance(X, pd.DataFrame):
        return pl.from_pandas(X)
    return as_frame(X, names=names, owner="PropensityModel")


def _is_classifier(model: PropensityModel) -> bool:
    return model.is_classifier


class PropensityModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A calibrated LightGBM propensity (``purchase``, ``lapse``) or value (``value``) model.

    Parameters
    ----------
    target : a registered target (``segml.targets.names()``: "purchase", "lapse", "value", ...);
        its spec gives the objective (binary or Tweedie, ...) and the calibration.
    n_estimators, learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree,
    reg_lambda : LightGBM's parameters (``subsample`` is bagging every iteration).
    tweedie_variance_power : Tweedie power of the value model, in (1, 2).
    early_stopping_rounds : rounds without improvement on the validation set before stopping.
    calibration : "auto" (isotonic or sigmoid, chosen on validation), "isotonic", "sigmoid".
    baseline : None, or "btyd" to boost from the BG/NBD score of ``horizon_days`` (the input
        needs ``btyd__p_purchase_{h}d``, or ``btyd__expected_value_{h}d`` for value).
    horizon_days : the label horizon, needed with ``baseline``.
    blend_weights : shares of the trees tried on validation on top of the baseline.
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
        baseline: str | None = None,
        horizon_days: float | None = None,
        blend_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
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
        self.baseline = baseline
        self.horizon_days = horizon_days
        self.blend_weights = blend_weights
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        if self.target not in targets.names():
            raise ConfigError(
                "The 'target' parameter of PropensityModel must be one of the registered "
                f"targets {list(targets.names())}. Got {self.target!r} instead."
            )
        if self.calibration not in ("auto", "isotonic", "sigmoid"):
            raise ConfigError(
                "The 'calibration' parameter of PropensityModel must be 'auto', 'isotonic' or "
                f"'sigmoid'. Got {self.calibration!r} instead."
            )
        if self.baseline is not None and self.baseline not in BASELINES:
            raise ConfigError(
                f"The 'baseline' parameter of PropensityModel must be None or one of "
                f"{list(BASELINES)}. Got {self.baseline!r} instead."
            )

    @property
    def is_classifier(self) -> bool:
        return targets.get(self.target).is_classifier

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
        objective = targets.get(self.target).objective
        if objective == "tweedie":
            params |= {
                "objective": "tweedie",
                "tweedie_variance_power": self.tweedie_variance_power,
            }
        elif objective != "binary":  # binary: the LGBMClassifier default
            params["objective"] = objective
        return params

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        X_valid: Any = None,
        y_valid: Any = None,
        callbacks: Sequence[Any] = (),
    ) -> PropensityModel:
        """Fit on the training cutoffs, stop early and calibrate on the validation cutoffs.

        ``X``/``X_valid`` are feature frames (pandas or Polars); columns named ``customer_id``,
        ``cutoff``, ``label`` or starting with ``baseline__`` are ignored. Without ``X_valid``
        the validation rows are split off ``X`` (see ``validation_``). ``callbacks`` are extra
        LightGBM callbacks (Optuna's pruning uses one).
        """
        self._check_params()
        if y is None:
            raise no_y_error("PropensityModel")
        train = _to_polars(X)
        if self.is_classifier:
            seen = y if y_valid is None else np.concatenate([as_1d(y), as_1d(y_valid)])
            self.classes_ = check_classes(seen, owner=f"the {self.target} model")
            y = encode_labels(y, self.classes_)
            y_valid = None if y_valid is None else encode_labels(y_valid, self.classes_)
        else:
            y = as_1d(y)  # warns on a column vector, as scikit-learn's regressors do
        if train.height < 2:
            raise ValueError(
                f"PropensityModel needs at least 2 rows to fit; got n_samples={train.height}."
            )
        if X_valid is None:
            train, y, X_valid, y_valid, self.validation_ = self._split(train, y)
        else:
            self.validation_ = "given"
        self.feature_names_in_ = feature_columns(train.columns)
        self.n_features_in_ = len(self.feature_names_in_)
        self.categories_ = {
            c: _top_values(train[c])
            for c in self.feature_names_in_
            if train.schema[c] in (pl.String, pl.Categorical, pl.Utf8)
        }
        Xt, Xv = self._matrix(train), self._matrix(self._frame(X_valid))
        yt, yv = _labels(y, len(Xt)), _labels(y_valid, len(Xv))
        if self.is_classifier and (len(np.unique(yt)) < 2 or len(np.unique(yv)) < 2):
            raise DataError(
                f"{self.target}: the training and validation labels must hold both classes; "
                f"found training {np.unique(yt).tolist()}, validation {np.unique(yv).tolist()}. "
                "Use more customers or more cutoffs."
            )
        valid = self._frame(X_valid)
        self.offset_ = (
            offset_spec(train, yt, target=self.target, horizon_days=self.horizon_days)
            if self.baseline
            else None
        )
        off_t, off_v = offset_values(self.offset_, train), offset_values(self.offset_, valid)
        wrapper = (lgb.LGBMClassifier if self.is_classifier else lgb.LGBMRegressor)(
            **self._lgbm_params()
        )
        wrapper.fit(
            Xt,
            yt,
            init_score=off_t if self.offset_ else None,
            **_eval_kwargs(wrapper, Xv, yv),
            eval_init_score=[off_v] if self.offset_ else None,
            feature_name=self.feature_names_in_,
            categorical_feature=self._categorical_index() or "auto",
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False), *callbacks],
        )
        self.booster_ = wrapper.booster_
        self.best_iteration_ = int(wrapper.best_iteration_ or wrapper.n_estimators)
        trees = self._trees(Xv)
        self.tree_weight_ = 1.0
        self.blend_scores_: dict[str, float] = {}
        if self.offset_ is not None:
            self.tree_weight_, self.blend_scores_ = choose_weight(
                self.target, yv, off_v, trees, weights=self.blend_weights
            )
        self._calibrate(off_v + self.tree_weight_ * trees, yv)
        return self

    def _split(self, frame: pl.DataFrame, y: Any) -> tuple[Any, ...]:
        """``_internal_split``; for a classifier whose split left a class out of the training
        or validation rows (a small input, e.g. a fold of ``cross_val_score``), a split of the
        rows stratified by label instead (this used to fail)."""
        labels = _labels(y, frame.height)
        out = _internal_split(frame, labels, seed=self.random_state)
        seen = min(len(np.unique(out[1])), len(np.unique(out[3])))
        if self.is_classifier and seen < 2 <= len(set(labels)):
            return stratified_split(frame, labels, seed=self.random_state)
        return out

    def refit(self, X: Any, y: Any) -> PropensityModel:
        """Refit the trees on ``X`` (e.g. every cutoff up to the validation one) with the number
        of rounds early stopping chose; the calibrator fitted on validation is kept."""
        check_is_fitted(self, "booster_")
        y = encode_labels(y, self._classes()) if self.is_classifier else y
        M, yy = self._matrix(self._frame(X)), _labels(y, self._frame(X).height)
        params = self._lgbm_params() | {"n_estimators": self.best_iteration_}
        wrapper = (lgb.LGBMClassifier if self.is_classifier else lgb.LGBMRegressor)(**params)
        offset = offset_values(self._offset_spec(), self._frame(X))
        wrapper.fit(
            M,
            yy,
            init_score=offset if self._offset_spec() else None,
            feature_name=self.feature_names_in_,
            categorical_feature=self._categorical_index() or "auto",
        )
        self.booster_ = wrapper.booster_
        self.refit_rows_ = len(yy)
        return self

    def _frame(self, X: Any) -> pl.DataFrame:
        """``X`` as a Polars frame; an array's columns are the fitted ones, by position."""
        return _to_polars(X, names=getattr(self, "feature_names_in_", None))

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

    def _trees(self, M: NDArray[np.float64]) -> NDArray[np.float64]:
        """The trees' raw score alone (without the baseline offset)."""
        out = self.booster_.predict(M, num_iteration=self.best_iteration_, raw_score=True)
        return np.asarray(out, dtype=np.float64)

    def _offset_spec(self) -> dict[str, Any] | None:
        return getattr(self, "offset_", None)

    def _calibrate(self, raw: NDArray[np.float64], y: NDArray[np.float64]) -> None:
        if targets.get(self.target).calibration == "mean_scale":
            mean_pred = float(np.exp(raw).mean())
            self.value_scale_ = float(y.mean() / mean_pred) if mean_pred > 0 else 1.0
            self.calibrator_: dict[str, Any] = {"method": "scale", "scale": self.value_scale_}
            self.calibration_losses_: dict[str, float] = {}
            return
        methods = ["isotonic", "sigmoid"] if self.calibration == "auto" else [self.calibration]
        self.calibration_losses_ = {
            m: _cross_fitted_loss(m, raw, y, self.random_state) for m in methods
        }
        best = min(self.calibration_losses_, key=self.calibration_losses_.__getitem__)
        self.calibrator_ = _fit_calibrator(best, raw, y)

    # --------------------------------------------------------------- predicting
    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """The raw score: log-odds (classifiers) or log expected value (value); the baseline
        offset (if any) plus ``tree_weight_`` times the trees' raw score."""
        check_is_fitted(self, "booster_")
        frame = self._frame(X)
        trees = self._trees(self._matrix(frame))
        return (
            offset_values(self._offset_spec(), frame) + getattr(self, "tree_weight_", 1.0) * trees
        )

    def predict_score(self, X: Any) -> NDArray[np.float64]:
        """segml's score: the calibrated probability of the target (classifiers; the positive
        class, ``classes_[1]``) or the expected revenue (value)."""
        check_is_fitted(self, "booster_")
        return _apply_calibrator(self.calibrator_, self.decision_function(X))

    def predict(self, X: Any) -> Any:
        """Class labels (classifiers: ``classes_[1]`` where the calibrated probability is above
        0.5) or the expected revenue (value). Scores for ranking: ``predict_score``."""
        score = self.predict_score(X)
        if not self.is_classifier:
            return score
        return np.asarray(self._classes())[(score > 0.5).astype(np.intp)]

    @available_if(_is_classifier)
    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """Columns ``1 - p`` and ``p``, in the order of ``classes_`` (classifiers only: the
        value model predicts amounts, not probabilities)."""
        p = self.predict_score(X)
        return np.column_stack([1 - p, p])

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy (classifiers) or R^2 (value) of ``predict`` on ``X``."""
        return score_model(self, X, y, sample_weight=sample_weight)

    def _classes(self) -> NDArray[Any]:
        return getattr(self, "classes_", np.array([0.0, 1.0]))

    def __sklearn_tags__(self) -> Any:
        return estimator_tags(super().__sklearn_tags__(), classifier=self.is_classifier)

    def contributions(self, X: Any) -> NDArray[np.float64]:
        """Exact TreeSHAP contributions on the raw scale, one column per feature plus the base
        value: LightGBM's ``pred_contrib``, evaluated once per distinct path pattern of each tree
        (``segml.models.treeshap``), so equal to it at a fraction of the cost. With a baseline
        offset the trees' values are scaled by ``tree_weight_`` and the offset, minus its
        training mean (added to the base value), is the contribution of the input it is read
        from; rows still sum to ``decision_function``."""
        check_is_fitted(self, "booster_")
        frame = self._frame(X)
        out = tree_contributions(
            self.booster_, self._matrix(frame), num_iteration=self.best_iteration_
        )
        out *= getattr(self, "tree_weight_", 1.0)
        spec = self._offset_spec()
        if spec is not None:  # the baseline's score, centred, is that input's contribution
            names = self.feature_names_in_
            col = names.index(spec["column"]) if spec["column"] in names else len(names)
            center = float(spec.get("center", 0.0))
            out[:, col] += offset_values(spec, frame) - center
            out[:, -1] += center
        return out

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
            "offset": self._offset_spec(),
            "tree_weight": getattr(self, "tree_weight_", 1.0),
            "blend_scores": getattr(self, "blend_scores_", {}),
            "validation": getattr(self, "validation_", "given"),
            "metadata": getattr(self, "metadata_", {}),
            **({"classes": self._classes().tolist()} if self.is_classifier else {}),
        }

    def save(self, path: str | Path) -> Path:
        """Write ``model.txt`` (LightGBM's text format) and ``model.json`` into folder ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        text = self.booster_.model_to_string(num_iteration=self.best_iteration_)
        write_text(text, folder / "model.txt")
        payload = json.dumps(self.to_dict(), indent=1, default=_json_default)
        write_text(payload, folder / "model.json")
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
        model.n_features_in_ = len(model.feature_names_in_)
        if model.is_classifier:
            model.classes_ = np.asarray(meta.get("classes", [0.0, 1.0]))
        model.categories_ = {k: list(v) for k, v in meta["categories"].items()}
        model.best_iteration_ = int(meta["best_iteration"])
        model.calibrator_ = meta["calibrator"]
        model.calibration_losses_ = meta.get("calibration_losses", {})
        model.metadata_ = meta.get("metadata", {})
        model.offset_ = meta.get("offset")
        model.tree_weight_ = float(meta.get("tree_weight", 1.0))
        model.blend_scores_ = meta.get("blend_scores", {})
        model.validation_ = meta.get("validation", "given")
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

"""What makes segml's models scikit-learn estimators: array inputs, class labels, tags, score.

``PropensityModel`` reads feature frames by column name; scikit-learn's tools (and
``check_estimator``) also pass 2-d arrays, which are validated here with scikit-learn's own
``check_array`` (so empty, 1-d, complex or infinite inputs fail as scikit-learn users expect)
and named by position. Labels of the classifier targets may be any two values (0/1, booleans,
strings); they are encoded to 0/1 with ``classes_``, so 0/1 labels train exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, column_or_1d

__all__ = [
    "as_1d",
    "as_frame",
    "check_classes",
    "encode_labels",
    "estimator_tags",
    "score_model",
    "stratified_split",
]

_VALID_SHARE = 0.2


def as_frame(X: Any, *, names: Sequence[str] | None, owner: str) -> pl.DataFrame:
    """A 2-d array-like as a Polars frame with columns ``names`` (by position) or ``x0, ...``."""
    M = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan", input_name="X")
    if names is not None and M.shape[1] != len(names):
        raise ValueError(
            f"X has {M.shape[1]} features, but {owner} is expecting {len(names)} features as "
            f"input (fitted on columns {list(names)[:5]}...). Pass the same columns as at fit."
        )
    cols = list(names) if names is not None else [f"x{i}" for i in range(M.shape[1])]
    return pl.DataFrame({c: M[:, i] for i, c in enumerate(cols)})


def as_1d(y: Any) -> NDArray[Any]:
    """``y`` as a 1-d array (a column vector warns, as in scikit-learn)."""
    arr = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
    return column_or_1d(arr, warn=True)


def _non_finite_numbers(arr: NDArray[Any]) -> bool:
    return arr.dtype.kind in "fc" and not np.isfinite(arr).all()


def check_classes(y: Any, *, owner: str) -> NDArray[Any]:
    """The sorted distinct labels of a binary target (one class is left to ``fit`` to report;
    missing values are left to the label check, which says how many)."""
    arr = as_1d(y)
    if _non_finite_numbers(arr):
        return np.array([0.0, 1.0])
    check_classification_targets(arr)
    classes = np.unique(arr)
    if len(classes) > 2:
        raise ValueError(
            f"Only binary classification is supported: {owner} needs labels with two values; "
            "found "
            f"{len(classes)} classes, e.g. {classes[:5].tolist()}. Pass 0/1 labels (a "
            "multiclass target needs one model per class)."
        )
    return classes


def encode_labels(y: Any, classes: NDArray[Any]) -> NDArray[np.float64]:
    """0.0/1.0 for ``classes[0]``/``classes[1]`` (0/1 labels map to themselves)."""
    arr = as_1d(y)
    if _non_finite_numbers(arr):
        return arr.astype(np.float64)
    unknown = ~np.isin(arr, classes)
    if unknown.any():
        raise ValueError(
            f"{int(unknown.sum())} labels are not among the classes seen in fit "
            f"{classes.tolist()}, e.g. {arr[unknown][0]!r}."
        )
    return np.searchsorted(classes, arr).astype(np.float64)


def no_y_error(owner: str) -> ValueError:
    return ValueError(
        f"{owner} requires y to be passed, but the target y is None: pass the labels, one per "
        "feature row (segml.build_labels)."
    )


def estimator_tags(tags: Any, *, classifier: bool) -> Any:
    """A binary classifier or a non-negative regressor (Tweedie), inputs with missing values."""
    tags.input_tags.allow_nan = True
    if classifier:
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags(multi_class=False)
        tags.regressor_tags = None
    else:
        tags.estimator_type = "regressor"
        tags.classifier_tags = None
        tags.regressor_tags = RegressorTags()
        tags.target_tags.positive_only = True
    return tags


def score_model(model: Any, X: Any, y: Any, *, sample_weight: Any = None) -> float:
    """Accuracy for a classifier, R^2 for a regressor, of ``model.predict`` on ``X``."""
    metric = accuracy_score if model.is_classifier else r2_score
    return float(metric(as_1d(y), model.predict(X), sample_weight=sample_weight))


def stratified_split(
    frame: pl.DataFrame, y: NDArray[np.float64], *, seed: int
) -> tuple[pl.DataFrame, NDArray[np.float64], pl.DataFrame, NDArray[np.float64], str]:
    """A fifth of each class's rows (at least one, never all) validate; the rest train."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), dtype=bool)
    for value in np.unique(y):
        rows = np.flatnonzero(y == value)
        if len(rows) < 2:
            raise ValueError(
                f"cannot split validation rows off {len(y)} training rows: class {value} has "
                f"{len(rows)} row; pass X_valid/y_valid or more rows of each class."
            )
        take = min(max(1, round(_VALID_SHARE * len(rows))), len(rows) - 1)
        mask[rng.choice(rows, size=take, replace=False)] = True
    how = f"{_VALID_SHARE:.0%} of the rows of each class"
    return frame.filter(pl.Series(~mask)), y[~mask], frame.filter(pl.Series(mask)), y[mask], how

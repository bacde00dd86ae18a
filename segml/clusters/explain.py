"""Which features define each segment: one-vs-rest LightGBM surrogates explained with SHAP.

For each segment a small LightGBM classifier learns "in this segment or not" from the features
the clusterer used (imputed, before scaling, so SHAP values read in the features' own units),
on a random sample. ``fidelity`` is its accuracy on held-out customers: a surrogate that cannot
reproduce the segment explains nothing, so read the importances only when it is high. The
importance of a feature is its mean |SHAP| (log-odds); ``direction`` says whether higher values
push customers into the segment ("+") or out of it ("-").
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from segml.clusters.preprocess import as_pandas
from segml.features import describe

__all__ = ["explain_segments"]


def explain_segments(
    model: Any,
    X: Any,
    *,
    top: int = 5,
    sample: int = 5000,
    n_estimators: int = 60,
    random_state: int = 0,
) -> pd.DataFrame:
    """The ``top`` features per segment: ``cluster__id, cluster__name, rank, feature,
    description, importance, direction, fidelity``."""
    import lightgbm as lgb
    import shap

    frame = as_pandas(X)
    rng = np.random.default_rng(random_state)
    idx = rng.choice(len(frame), min(sample, len(frame)), replace=False)
    part = frame.iloc[idx]
    ids = model.predict(part)
    pre = model.preprocessor_
    values = part[list(pre.feature_names_in_)].to_numpy(np.float64, na_value=np.nan)
    values = pd.DataFrame(
        np.where(np.isnan(values), pre.fill_values_, values), columns=list(pre.feature_names_in_)
    )
    half = len(values) // 2 + len(values) % 2
    rows = []
    for seg in sorted(set(ids.tolist())):
        y = (ids == seg).astype(int)
        if y[:half].min() == y[:half].max():
            continue
        clf = lgb.LGBMClassifier(
            n_estimators=n_estimators,
            num_leaves=15,
            learning_rate=0.1,
            random_state=random_state,
            verbose=-1,
            n_jobs=2,
        )
        clf.fit(values.iloc[:half], y[:half])
        fidelity = (
            float((clf.predict(values.iloc[half:]) == y[half:]).mean())
            if half < len(values)
            else np.nan
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            sv = shap.TreeExplainer(clf).shap_values(
                values.iloc[half:] if half < len(values) else values
            )
        sv = np.asarray(sv[1] if isinstance(sv, list) else sv)
        held = values.iloc[half:] if half < len(values) else values
        importance = np.abs(sv).mean(axis=0)
        order = [j for j in np.argsort(-importance) if importance[j] > 1e-9][:top]
        for rank, j in enumerate(order, start=1):
            corr = np.corrcoef(held.iloc[:, j], sv[:, j])[0, 1] if held.iloc[:, j].std() else 0
            rows.append({
                "cluster__id": int(seg),
                "cluster__name": model.names_.get(int(seg), str(seg)),
                "rank": rank,
                "feature": values.columns[j],
                "description": _describe(values.columns[j]),
                "importance": float(importance[j]),
                "direction": "+" if corr >= 0 else "-",
                "fidelity": fidelity,
            })  # fmt: skip
    return pd.DataFrame(rows)


def _describe(name: str) -> str:
    try:
        return describe(name).description
    except KeyError:
        return ""

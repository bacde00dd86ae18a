"""Explanations: per-customer reason codes from LightGBM's native TreeSHAP, global SHAP summary.

Contributions are exact TreeSHAP values (LightGBM's ``pred_contrib``, the algorithm the shap
package uses, evaluated once per distinct path pattern of each tree: ``segml.models.treeshap``)
on the model's raw scale: log-odds for purchase/lapse, log expected revenue for value. The
calibration after it is monotone, so a positive contribution always raises the score.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import polars as pl

from segml.features import describe
from segml.models.dataset import MODEL_FEATURE_DESCRIPTIONS
from segml.models.propensity import PropensityModel

__all__ = ["describe_feature", "reason_codes", "shap_summary_figure"]


def describe_feature(name: str) -> str:
    """The one-line description of a model input: the feature registry, or the BG/NBD columns."""
    try:
        return describe(name).description
    except KeyError:
        pass
    for template, text in MODEL_FEATURE_DESCRIPTIONS.items():
        pattern = "^" + re.escape(template).replace(r"\{h\}", r"(?P<h>\d+)") + "$"
        match = re.match(pattern, name)
        if match:
            return text.format(**match.groupdict())
    return name


def _value(v: Any) -> Any:
    if isinstance(v, float) and v != v:
        return None
    return round(v, 4) if isinstance(v, float) else v


def reason_codes(model: PropensityModel, X: Any, *, top_k: int = 3) -> list[str]:
    """Per row, a JSON list of the ``top_k`` largest contributions (by absolute size):
    ``{"feature", "value", "contribution", "direction", "description"}``."""
    frame = X if isinstance(X, pl.DataFrame) else pl.from_pandas(X)
    contrib = model.contributions(frame)[:, :-1]
    names = model.feature_names_in_
    k = min(top_k, len(names))
    top = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
    descriptions = [describe_feature(n) for n in names]
    present = set(frame.columns)
    columns = {n: frame[n].to_list() if n in present else [None] * frame.height for n in names}
    out = []
    for i, idx in enumerate(top):
        items = [
            {
                "feature": names[j],
                "value": _value(columns[names[j]][i]),
                "contribution": round(float(contrib[i, j]), 5),
                "direction": "up" if contrib[i, j] > 0 else "down",
                "description": descriptions[j],
            }
            for j in idx
        ]
        out.append(json.dumps(items))
    return out


def shap_summary_figure(model: PropensityModel, X: Any, *, max_rows: int = 2000) -> Any:
    """A shap summary (beeswarm) plot of up to ``max_rows`` rows, as a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    frame = X if isinstance(X, pl.DataFrame) else pl.from_pandas(X)
    frame = frame.head(max_rows)
    contrib = model.contributions(frame)[:, :-1]
    values = model._matrix(frame)
    fig = plt.figure(figsize=(8, 6))
    # an explicit generator: the jitter is reproducible and shap never falls back to NumPy's
    # global RNG (deprecated once anything has called np.random.seed)
    shap.summary_plot(
        contrib,
        values,
        feature_names=model.feature_names_in_,
        show=False,
        max_display=15,
        rng=np.random.default_rng(0),
    )
    return fig

"""A fitted ``CustomerClusterer`` as plain data: JSON numbers and lists, never pickle.

Reading the file builds arrays and sets attributes; no code from the file is executed. The
assignment code is segml's own (``segml.clusters.algorithms``), so what a user must trust is the
installed segml version, not the model file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from segml.clusters.preprocess import CustomerPreprocessor
from segml.errors import DataError

__all__ = ["FORMAT", "clusterer_from_dict", "clusterer_to_dict"]

FORMAT = "segml.clusterer/1"
_PRE = (
    "fill_values_",
    "log_mask_",
    "center_",
    "scale_",
    "weights_",
    "pca_mean_",
    "pca_components_",
)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def clusterer_to_dict(model: Any) -> dict[str, Any]:
    pre = model.preprocessor_
    k_sel = model.k_selection_
    return {
        "format": FORMAT,
        "params": _plain(model.get_params()),
        "preprocessor": {
            "params": _plain(pre.get_params()),
            "feature_names_in_": list(pre.feature_names_in_),
            "dropped_features_": dict(pre.dropped_features_),
            **{name: _plain(getattr(pre, name)) for name in _PRE},
        },
        "state": _plain(model.state_),
        "cluster_ids_": _plain(model.cluster_ids_),
        "n_clusters_": int(model.n_clusters_),
        "names_": {str(k): v for k, v in model.names_.items()},
        "k_selection_": None if k_sel is None else k_sel.to_dict(orient="list"),
        "quality_": _plain(getattr(model, "quality_", None)),
        "profile_": _plain(
            model.profile_.astype(object).where(model.profile_.notna(), None).to_dict(orient="list")
        ),
    }


def clusterer_from_dict(cls: Any, payload: Mapping[str, Any]) -> Any:
    if payload.get("format") != FORMAT:
        raise DataError(
            f"not a segml clusterer file: format {payload.get('format')!r}, expected {FORMAT!r}."
            " Refit with this segml version (segml cluster --config C --as-of DATE)."
        )
    # parameters a newer segml no longer has (e.g. the first pass's n_bootstrap) only shaped
    # the fit; assignment needs none of them
    known = set(cls().get_params())
    params = {k: v for k, v in payload["params"].items() if k in known}
    for key in ("features", "exclude", "k_range"):
        if params.get(key) is not None:
            params[key] = tuple(params[key])
    if params.get("names") is not None:
        params["names"] = {int(k): v for k, v in params["names"].items()}
    model = cls(**params)
    p = payload["preprocessor"]
    pre_params = dict(p["params"])
    for key in ("features", "exclude"):
        if pre_params.get(key) is not None:
            pre_params[key] = tuple(pre_params[key])
    pre = CustomerPreprocessor(**pre_params)
    pre.feature_names_in_ = np.asarray(p["feature_names_in_"], dtype=object)
    pre.n_features_in_ = len(pre.feature_names_in_)
    pre.dropped_features_ = dict(p["dropped_features_"])
    for name in _PRE:
        value = p[name]
        dtype = bool if name == "log_mask_" else np.float64
        setattr(pre, name, None if value is None else np.asarray(value, dtype=dtype))
    model.preprocessor_ = pre
    model.feature_names_in_ = pre.feature_names_in_
    model.n_features_in_ = pre.n_features_in_
    model.dropped_features_ = pre.dropped_features_
    model.state_ = {
        k: v if isinstance(v, str | float) else np.asarray(v, dtype=np.float64)
        for k, v in payload["state"].items()
    }
    model.cluster_ids_ = np.asarray(payload["cluster_ids_"], dtype=np.int64)
    model.n_clusters_ = int(payload["n_clusters_"])
    model.names_ = {int(k): v for k, v in payload["names_"].items()}
    sel = payload.get("k_selection_")
    model.k_selection_ = None if sel is None else pd.DataFrame(sel)
    model.quality_ = payload.get("quality_")
    model.profile_ = pd.DataFrame(payload["profile_"])
    return model

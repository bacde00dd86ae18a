"""What a scoring run feeds its models and its clusterer, the same on both engines.

- ``feature_groups``: the champion models grouped by the feature settings they were trained
  with (stored in each model's ``metadata_``), so models that share settings share one build.
- ``cluster_inputs``: the table the registered clusterer reads, built with the feature settings
  stored with the clusterer (``segml.clusters.job.FEATURES_ARTIFACT``), never today's config.

Both backends (``segml.scores.backend``) call these; neither imports the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from segml.config import FEATURE_DEFAULTS
from segml.features import FeatureBuilder
from segml.models.propensity import PropensityModel
from segml.schema import ShopData

__all__ = ["cluster_inputs", "feature_groups"]

_AFFINITY = "affinity__"
_SHARE = "affinity__spend_share_"
_WINDOWS = ("windows_days", "engagement_window_days", "intent_window_days")


def _spec(model: PropensityModel) -> str:
    meta = model.metadata_
    return json.dumps(
        {"features": meta.get("features", {}), "horizons": meta.get("btyd_horizons", [])},
        sort_keys=True,
        default=list,
    )


def feature_groups(
    models: Mapping[str, PropensityModel],
) -> list[tuple[dict[str, Any], list[str]]]:
    """Targets grouped by the feature settings their models were trained with:
    ``(params, targets)`` with ``params = {"features": FeatureBuilder kwargs, "horizons": [...]}``.
    """
    groups: dict[str, list[str]] = {}
    for target, model in models.items():
        groups.setdefault(_spec(model), []).append(target)
    out = []
    for spec, targets in groups.items():
        params = json.loads(spec)
        features = params["features"]
        features["windows_days"] = tuple(
            features.get("windows_days", FEATURE_DEFAULTS["windows_days"])
        )
        out.append((params, targets))
    return out


def cluster_inputs(
    frame: Any,
    shop: ShopData,
    clusterer: Any,
    *,
    as_of: Any,
    feature_params: Mapping[str, Any],
    frame_params: Mapping[str, Any] | None = None,
) -> tuple[Any, list[str]]:
    """The frame the clusterer reads and its columns (``customer_id`` first).

    ``feature_params``: the clusterer's feature settings. Stored with the clusterer (they hold
    its ``categories``), they are used as they are: ``frame`` (built with ``frame_params``, the
    models' settings) is reused when it has the clusterer's columns built the same way, else the
    features are rebuilt with the clusterer's settings. Without ``categories`` (a clusterer
    registered before its settings were stored) ``frame`` is reused when it has the columns, else
    the affinity categories are read off the clusterer's column names. A rebuilt table is a
    native frame of the shop's engine.
    """
    needed = [str(c) for c in clusterer.preprocessor_.feature_names_in_]
    columns = ["customer_id", *[c for c in needed if c != "customer_id"]]
    stored = "categories" in feature_params
    if set(needed) <= set(frame.columns) and (
        not stored or _built_alike(feature_params, frame_params, needed)
    ):
        return frame, columns
    if stored:
        cats = list(feature_params["categories"])
    else:
        cats = [c[len(_SHARE) :] for c in needed if c.startswith(_SHARE) and c != _SHARE + "other"]
    params = {k: feature_params[k] for k in _WINDOWS if k in feature_params}
    params["windows_days"] = tuple(params.get("windows_days", FEATURE_DEFAULTS["windows_days"]))
    for key in ("families", "family_params"):  # e.g. an opt-in family the clusterer reads
        if feature_params.get(key) is not None:
            params[key] = feature_params[key]
    builder = FeatureBuilder(**params, top_k_categories=max(len(cats), 1), categories=cats).fit(
        shop, as_of=as_of
    )
    return builder.transform_table(shop, as_of=as_of), columns


def _built_alike(
    clusterer: Mapping[str, Any], frame: Mapping[str, Any] | None, needed: list[str]
) -> bool:
    """Whether the frame's columns mean what the clusterer was fitted on: the same windows and,
    when it reads affinity columns, the same category set (``spend_share_other`` is the rest)."""
    if frame is None:
        return False
    if any(_norm(clusterer.get(k)) != _norm(frame.get(k)) for k in _WINDOWS):
        return False
    if (clusterer.get("family_params") or {}) != (frame.get("family_params") or {}):
        return False  # a family's settings change what its columns mean
    if not any(c.startswith(_AFFINITY) for c in needed):
        return True
    return set(clusterer.get("categories") or []) == set(frame.get("categories") or [])


def _norm(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value

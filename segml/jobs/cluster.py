"""``segml cluster``: features as of the cutoff, the config's ``clustering:`` section unpacked
into ``cluster_customers``, and the feature settings stored with the clusterer (scoring builds
the clusterer's inputs from them, not from the config of the day)."""

from __future__ import annotations

from typing import Any

from segml.clusters.job import ClusteringResult, cluster_customers
from segml.config import Config
from segml.engine import parse_as_of
from segml.features import FeatureBuilder
from segml.jobs.common import feature_params, tracking_uri
from segml.progress import step
from segml.schema import ShopData

__all__ = ["cluster_job", "clusterer_params"]

_SKIP = {"explain", "experiment", "registry_name", "names"}


def clusterer_params(cfg: Config) -> dict[str, Any]:
    """The ``clustering:`` section as ``CustomerClusterer`` keyword arguments."""
    c = cfg.clustering
    params = {k: v for k, v in c.model_dump().items() if k not in _SKIP and v is not None}
    params["names"] = dict(c.names) or None
    for key in ("features", "exclude"):
        if key in params:
            params[key] = tuple(params[key])
    return params


def cluster_job(shop: ShopData, cfg: Config, *, as_of: Any) -> ClusteringResult:
    """Fit, log and register the clusterer on the features as of ``as_of``."""
    c = cfg.clustering
    cut = parse_as_of(as_of)
    with step("features"):
        builder = FeatureBuilder(**feature_params(cfg)).fit(shop, as_of=cut)
        features = builder.transform(shop, as_of=cut)
    return cluster_customers(
        features,
        params=clusterer_params(cfg),
        explain=c.explain,
        tracking_uri=tracking_uri(cfg),
        experiment=c.experiment,
        registry_name=c.registry_name,
        as_of=f"{cut:%Y-%m-%d}",
        feature_params={**builder.feature_settings(), "categories": builder.categories_},
    )

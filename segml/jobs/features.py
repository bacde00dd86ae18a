"""``segml features``: one row of features per customer as of the cutoff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from segml.config import Config
from segml.features import FeatureBuilder
from segml.io import write_frame
from segml.jobs.common import feature_params
from segml.schema import ShopData
from segml.scores.backend import backend_for

__all__ = ["build_feature_table", "features_job"]


def build_feature_table(
    shop: ShopData, cfg: Config, *, as_of: Any
) -> tuple[pl.DataFrame, FeatureBuilder]:
    """Features as of the cutoff as a Polars frame (collected from Spark for a Spark shop),
    with the fitted builder."""
    builder = FeatureBuilder(**feature_params(cfg)).fit(shop, as_of=as_of)
    table = builder.transform_table(shop, as_of=as_of)
    return backend_for(shop.kind).feature_table(table), builder


def features_job(
    shop: ShopData, cfg: Config, *, as_of: Any, out: Path
) -> tuple[pl.DataFrame, FeatureBuilder]:
    """``segml features``: the feature table written atomically to ``out`` (.parquet or .csv)."""
    table, builder = build_feature_table(shop, cfg, as_of=as_of)
    write_frame(table, out)
    return table, builder

"""Jobs: the steps the command line chains, each taking plain arguments unpacked from config."""

from __future__ import annotations

import hashlib
from typing import Any

import polars as pl

from segml.config import Config
from segml.engine import is_spark
from segml.features import FeatureBuilder
from segml.schema import ShopData

__all__ = ["build_feature_table", "config_hash"]


def config_hash(cfg: Config) -> str:
    payload = cfg.model_dump_json(exclude={"base_dir"}).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def build_feature_table(
    shop: ShopData, cfg: Config, *, as_of: Any
) -> tuple[pl.DataFrame, FeatureBuilder]:
    """Features as of the cutoff as a Polars frame, with the fitted builder."""
    builder = FeatureBuilder(**cfg.features.builder_params()).fit(shop, as_of=as_of)
    table = builder.transform_table(shop, as_of=as_of)
    if is_spark(table):
        table = pl.DataFrame(pl.from_arrow(table.toArrow()))
    return table, builder

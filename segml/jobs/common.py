"""What every job reads from the config, read once here: the shop, the cutoff, the tracking
store and the config's fingerprint."""

from __future__ import annotations

import hashlib
from typing import Any

from segml.config import Config
from segml.errors import ConfigError
from segml.schema import ShopData

__all__ = ["config_hash", "cutoff", "feature_params", "load_shop", "tracking_uri"]

ENGINES = ("polars", "spark")


def config_hash(cfg: Config) -> str:
    """A fingerprint of the config (without the folder it was read from), for the manifest."""
    payload = cfg.model_dump_json(exclude={"base_dir"}).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def tracking_uri(cfg: Config) -> str:
    """The MLflow store of every job: ``tracking_uri``, else the SQLite store under
    ``output_dir`` (resolved from the config's folder)."""
    from segml.tracking import default_tracking_uri

    return cfg.tracking_uri or default_tracking_uri(cfg.resolve(cfg.output_dir))


def feature_params(cfg: Config) -> dict[str, Any]:
    """The config's ``features:`` section as ``FeatureBuilder`` keyword arguments."""
    return cfg.features.builder_params()


def cutoff(cfg: Config, as_of: str | None) -> str:
    """The job's cutoff: ``as_of`` (``--as-of``), else the config's ``job.as_of``; never a
    default from the data."""
    value = as_of or cfg.job.as_of
    if not value:
        raise ConfigError(
            "no cutoff: pass --as-of DATE (or set job.as_of in the config). segml never "
            "defaults the cutoff to the latest timestamp in the data."
        )
    return value


def load_shop(cfg: Config, *, engine: str | None = None) -> tuple[Config, ShopData]:
    """The config's tables, validated against the data contract, on the config's engine (or
    ``engine``, e.g. ``--engine spark``); returns the config as used and the shop."""
    from segml.datasets import open_tables
    from segml.schema import prepare

    if engine is not None:
        if engine not in ENGINES:
            raise ConfigError(f"--engine must be polars or spark, got {engine!r}.")
        cfg = cfg.model_copy(update={"engine": engine})
    tables = open_tables(cfg.data, engine=cfg.engine, base_dir=cfg.base_dir)
    return cfg, prepare(tables, config=cfg.data)

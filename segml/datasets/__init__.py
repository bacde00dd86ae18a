"""Data sets: two synthetic stores (``make_shop`` and the independently written
``make_second_store``) and the real UCI Online Retail transactions."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from segml.config import Config, DataConfig, resolve_path
from segml.datasets.second_store import make_second_store
from segml.datasets.synthetic import Shop, make_shop
from segml.engine import table_for
from segml.errors import DataError
from segml.schema import TABLES

__all__ = [
    "Shop",
    "load_tables",
    "make_second_store",
    "make_shop",
    "online_retail_path",
    "open_tables",
]


def online_retail_path() -> Path:
    """The shipped copy of UCI Online Retail (CC BY 4.0, Daqing Chen 2015; see data/README.md)."""
    return Path(str(resources.files("segml.datasets") / "data" / "online_retail.csv.gz"))


def load_tables(config: Config) -> dict[str, Any]:
    """The tables a loaded config points at (``open_tables`` with the config's data section,
    engine and folder): a convenience for notebooks; segml's jobs call ``open_tables``."""
    return open_tables(config.data, engine=config.engine, base_dir=config.base_dir)


def open_tables(
    data: DataConfig, *, engine: str = "polars", base_dir: str | Path = "."
) -> dict[str, Any]:
    """The tables ``data`` points at: paths resolved from ``base_dir`` (the config's folder),
    or the synthetic store when ``data.synthetic_customers`` is set. With ``engine="spark"``
    they are opened as Spark DataFrames, so every later step runs on Spark."""
    if data.synthetic_customers:
        shop = make_shop(data.synthetic_customers, seed=data.synthetic_seed)
        tables = {"orders": shop.orders, "events": shop.events, "customers": shop.customers}
        return {k: table_for(engine, v, table=k) for k, v in tables.items()}
    opened = {}
    for name in TABLES:
        table_cfg = getattr(data, name)
        if table_cfg is not None and table_cfg.path:
            opened[name] = table_for(
                engine,
                resolve_path(table_cfg.path, base_dir),
                table=name,
                fmt=table_cfg.format,
                encoding=table_cfg.encoding,
                separator=table_cfg.separator,
            )
    if "orders" not in opened:
        raise DataError(
            "the config names no orders data: set data.orders.path (CSV or Parquet) or "
            "data.synthetic_customers."
        )
    return opened

"""Data sets: two synthetic stores (``make_shop`` and the independently written
``make_second_store``) and the real UCI Online Retail transactions."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from segml.config import Config
from segml.datasets.second_store import make_second_store
from segml.datasets.synthetic import Shop, make_shop
from segml.engine import read_spark_table, spark_session
from segml.errors import DataError
from segml.schema import TABLES

__all__ = ["Shop", "load_tables", "make_second_store", "make_shop", "online_retail_path"]


def online_retail_path() -> Path:
    """The shipped copy of UCI Online Retail (CC BY 4.0, Daqing Chen 2015; see data/README.md)."""
    return Path(str(resources.files("segml.datasets") / "data" / "online_retail.csv.gz"))


def load_tables(config: Config) -> dict[str, Any]:
    """The tables a config points at: paths resolved from the config's folder, or the
    synthetic store when ``data.synthetic_customers`` is set. With ``engine: spark`` they are
    opened as Spark DataFrames, so every later step runs on Spark."""
    d = config.data
    spark = config.engine == "spark"
    if d.synthetic_customers:
        shop = make_shop(d.synthetic_customers, seed=d.synthetic_seed)
        tables = {"orders": shop.orders, "events": shop.events, "customers": shop.customers}
        if spark:
            session = spark_session()
            return {
                k: session.createDataFrame(v.astype(object).where(v.notna(), None))
                for k, v in tables.items()
            }
        return tables
    tables = {}
    for name in TABLES:
        table_cfg = getattr(d, name)
        if table_cfg is not None and table_cfg.path:
            path = config.resolve(table_cfg.path)
            tables[name] = (
                read_spark_table(
                    path,
                    table=name,
                    fmt=table_cfg.format,
                    encoding=table_cfg.encoding,
                    separator=table_cfg.separator,
                )
                if spark
                else path
            )
    if "orders" not in tables:
        raise DataError(
            "the config names no orders data: set data.orders.path (CSV or Parquet) or "
            "data.synthetic_customers."
        )
    return tables

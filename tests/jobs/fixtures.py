"""Fixtures the job tests share: a Spark session in local[2] mode, and a synthetic shop written to
CSV with models (and a clusterer) trained into a temporary MLflow store.

Import the fixture into a test module with ``from tests.jobs.fixtures import spark``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from segml.cli import main
from segml.datasets import make_shop

TABLES = ("orders", "events", "customers")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A local[2] session in UTC whose Python workers run this interpreter (they import segml)."""
    from pyspark.sql import SparkSession

    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("segml-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if saved is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = saved


def shop_config(folder: Path, *lines: str, name: str = "shop.yaml") -> Path:
    """A job config over the shop's CSV files in ``folder``, plus ``lines`` of YAML."""
    path = folder / name
    data = [f"  {t}: {{path: {t}.csv}}" for t in TABLES]
    path.write_text("\n".join(["data:", *data, *lines, "output_dir: runs"]) + "\n")
    return path


def trained_shop(folder: Path, *lines: str, customers: int, seed: int) -> Path:
    """``make_shop(customers, seed)`` as CSV in ``folder``, ``segml train`` and ``segml cluster``
    (as of 2024-10-01) run on it with the config ``shop.yaml`` (``lines`` added to it)."""
    shop = make_shop(customers, seed=seed)
    for name in TABLES:
        getattr(shop, name).to_csv(folder / f"{name}.csv", index=False)
    config = str(shop_config(folder, *lines))
    assert main(["train", "--config", config]) == 0
    assert main(["cluster", "--config", config, "--as-of", "2024-10-01"]) == 0
    return folder

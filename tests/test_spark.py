"""Spark (local[2]) and the default engine give the same features from the same feature code."""

from __future__ import annotations

import pandas as pd
import pytest

import segml
from tests.conftest import AS_OF

pytest.importorskip("pyspark", reason="install the spark extra: pip install 'segml[spark]'")
pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]
pytest_plugins = ["tests.jobs.fixtures"]  # the spark fixture


def _to_spark(spark, tables: dict[str, pd.DataFrame]) -> dict[str, object]:
    return {
        k: spark.createDataFrame(v.astype(object).where(v.notna(), None)) for k, v in tables.items()
    }


def _assert_same(spark_out, local: pd.DataFrame) -> None:
    got = spark_out.toPandas().sort_values("customer_id").reset_index(drop=True)
    assert list(got.columns) == list(local.columns)
    pd.testing.assert_frame_equal(got, local, check_dtype=False, rtol=1e-9, atol=1e-9)


def test_tiny_shop_parity(spark, tiny: dict[str, pd.DataFrame]) -> None:
    local = segml.build_features(tiny, as_of=AS_OF, top_k_categories=2)
    out = segml.build_features(_to_spark(spark, tiny), as_of=AS_OF, top_k_categories=2)
    assert type(out).__module__.startswith("pyspark")
    _assert_same(out, local)


def test_synthetic_store_parity(spark) -> None:
    from segml.datasets import make_shop

    shop = make_shop(300, seed=7)
    tables = {"orders": shop.orders, "events": shop.events, "customers": shop.customers}
    as_of = "2024-06-01"
    local = segml.build_features(tables, as_of=as_of)
    _assert_same(segml.build_features(_to_spark(spark, tables), as_of=as_of), local)
    summary = segml.rfm_summary(tables, observation_period_end="2024-05-31", time_unit="W")
    got = segml.rfm_summary(
        _to_spark(spark, tables), observation_period_end="2024-05-31", time_unit="W"
    )
    pd.testing.assert_frame_equal(
        got.toPandas().sort_values("customer_id").reset_index(drop=True),
        summary.reset_index(drop=True),
        check_dtype=False,
    )


def test_cli_engine_spark_matches_default(spark, tmp_path, tiny) -> None:
    import polars as pl

    from segml.cli import main

    for name, frame in tiny.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    tables = "".join(f"  {n}: {{path: {n}.csv}}\n" for n in tiny)
    outs = {}
    for engine in ("polars", "spark"):
        cfg = tmp_path / f"{engine}.yaml"
        cfg.write_text(f"engine: {engine}\ndata:\n{tables}features: {{top_k_categories: 2}}\n")
        outs[engine] = tmp_path / f"{engine}.parquet"
        argv = [
            "features",
            "--config",
            str(cfg),
            "--as-of",
            "2024-03-01",
            "--out",
            str(outs[engine]),
        ]
        assert main(argv) == 0
    local, remote = (pl.read_parquet(outs[e]).to_pandas() for e in ("polars", "spark"))
    pd.testing.assert_frame_equal(remote, local, check_dtype=False, rtol=1e-9, atol=1e-9)

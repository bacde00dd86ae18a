"""Every supported input form gives the same features: pandas, Polars, DuckDB, CSV(.gz), Parquet
file/folder/glob."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest

import segml
from tests.conftest import AS_OF, tiny_orders


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return segml.build_features(tiny_orders(), as_of=AS_OF)


def _as_pandas(out: object) -> pd.DataFrame:
    if isinstance(out, pl.DataFrame):
        return out.to_pandas()
    if isinstance(out, duckdb.DuckDBPyRelation):
        return out.df()
    assert isinstance(out, pd.DataFrame)
    return out


def _write(kind: str, folder: Path) -> object:
    orders = tiny_orders()
    if kind == "csv.gz":
        path = folder / "orders.csv.gz"
        orders.to_csv(path, index=False, compression="gzip")
        return str(path)
    if kind == "parquet-file":
        path = folder / "orders.parquet"
        orders.to_parquet(path)
        return path
    parts = folder / "orders"
    parts.mkdir()
    orders.iloc[:6].to_parquet(parts / "part-0.parquet")
    orders.iloc[6:].to_parquet(parts / "part-1.parquet")
    return parts if kind == "parquet-folder" else str(parts / "part-*.parquet")


@pytest.mark.parametrize("kind", ["csv.gz", "parquet-file", "parquet-folder", "parquet-glob"])
def test_files(kind: str, tmp_path: Path, reference: pd.DataFrame) -> None:
    out = segml.build_features(_write(kind, tmp_path), as_of=AS_OF)
    pd.testing.assert_frame_equal(_as_pandas(out), reference, check_dtype=False)


def test_duckdb_relation(reference: pd.DataFrame) -> None:
    con = duckdb.connect()
    orders = tiny_orders()  # noqa: F841 - read by DuckDB's replacement scan
    relation = con.sql("select * from orders")
    out = segml.build_features(relation, as_of=AS_OF)
    assert isinstance(out, duckdb.DuckDBPyRelation)
    pd.testing.assert_frame_equal(_as_pandas(out), reference, check_dtype=False)


def test_polars_lazy(reference: pd.DataFrame) -> None:
    out = segml.build_features(pl.from_pandas(tiny_orders()).lazy(), as_of=AS_OF)
    pd.testing.assert_frame_equal(_as_pandas(out), reference, check_dtype=False)

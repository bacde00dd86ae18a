"""Putting columns beside a table without copying it (``segml.engine.attach`` and
``contiguous``), and the helpers that keep engine branches out of the code above the engine."""

from __future__ import annotations

from pathlib import Path

import narwhals.stable.v2 as nw
import pandas as pd
import polars as pl
import pytest

from segml.config import Config, DataConfig, OrdersConfig, data_section
from segml.datasets import load_tables, open_tables
from segml.engine import (
    attach,
    collect,
    compute,
    contiguous,
    deliver,
    for_engine,
    in_memory,
    in_order,
    on_driver,
    require_local,
    stage,
    table_for,
    to_polars,
)
from segml.errors import DataError


def _chunked() -> pl.DataFrame:
    parts = [
        pl.DataFrame({"customer_id": ids, "x": [1.0] * len(ids)}) for ids in (["a", "c"], ["d"])
    ]
    return pl.concat(parts, rechunk=False)


def test_attach_lines_extra_up_with_the_table_rows() -> None:
    table = _chunked()
    extra = pl.DataFrame({"customer_id": ["d", "b", "a"], "y": [4, 2, 1]})  # no c, b unknown
    out = attach(table, extra)
    assert out.to_dict(as_series=False) == {
        "customer_id": ["a", "c", "d"], "x": [1.0, 1.0, 1.0], "y": [1, None, 4],
    }  # fmt: skip
    assert out.n_chunks("all") == [1, 1, 1]  # one piece each: nothing re-chunks later
    assert out.equals(table.join(extra, on="customer_id", how="left", maintain_order="left"))


def test_attach_puts_matching_rows_side_by_side() -> None:
    table = contiguous(_chunked())
    extra = pl.DataFrame({"customer_id": ["a", "c", "d"], "y": [1, 3, 4]})
    out = attach(table, extra)
    assert out["y"].to_list() == [1, 3, 4]
    assert out["x"].equals(table["x"])


def test_attach_refuses_repeated_ids() -> None:
    extra = pl.DataFrame({"customer_id": ["a", "a"], "y": [1, 2]})
    with pytest.raises(pl.exceptions.ComputeError):
        attach(_chunked(), extra)


def test_contiguous_copies_into_one_piece() -> None:
    table = _chunked()
    expected = table.clone()
    out = contiguous(table)
    assert out.n_chunks("all") == [1, 1] and out.equals(expected)


# The engine helpers the rest of segml calls instead of branching on the engine (the Spark side
# of each is exercised by tests/test_spark.py and tests/test_spark_scoring.py).


class _SparkLike:
    """Stands in for a Spark DataFrame: ``is_spark`` looks only at the type's module."""


_SparkLike.__module__ = "pyspark.sql.classic.dataframe"


def _lazy(**columns: list[object]) -> nw.LazyFrame[pl.LazyFrame]:
    return nw.from_native(pl.LazyFrame(columns))


def test_deliver_hands_a_plan_back_in_the_callers_kind() -> None:
    plan = _lazy(customer_id=["b", "a"], x=[2.0, 1.0])
    assert isinstance(deliver(plan, "polars"), pl.DataFrame)
    as_pandas = deliver(plan, "pandas")
    assert isinstance(as_pandas, pd.DataFrame)
    assert as_pandas["customer_id"].tolist() == ["b", "a"]  # computed, not reordered


def test_compute_and_in_order_on_polars() -> None:
    plan = in_order(_lazy(customer_id=["b", "a", "c"], x=[2, 1, 3]), "customer_id")
    out = compute(plan, order_by="customer_id")
    assert isinstance(out, pl.DataFrame)
    assert out["customer_id"].to_list() == ["a", "b", "c"]
    assert out.n_chunks("all") == [1, 1]


def test_in_memory_and_on_driver_keep_the_rows() -> None:
    plan = _lazy(customer_id=["a", "b"], x=[1, 2]).filter(nw.col("x") > 1)
    kept = in_memory(plan)
    assert isinstance(kept.to_native(), pl.LazyFrame)
    assert kept.to_native().collect().to_dict(as_series=False) == {"customer_id": ["b"], "x": [2]}
    assert on_driver(plan) is plan.to_native()  # a Polars plan stays lazy, uncollected


def test_to_polars_converts_a_local_table_without_reordering() -> None:
    frame = pl.DataFrame({"customer_id": ["b", "a"]})
    assert to_polars(frame, order_by="customer_id") is frame  # only Spark loses row order
    assert to_polars(frame.to_pandas()).equals(frame)


def test_stage_computes_small_queries_in_the_staging_read() -> None:
    lf = _lazy(customer_id=["a", "b", "c"], x=[1, 0, 3])
    staged, (count,), (zero,) = stage(
        lf.filter(nw.col("x") > 0), [lf.select(n=nw.len())], small=[lf.filter(nw.col("x") == 0)]
    )
    assert collect(staged)["customer_id"].to_list() == ["a", "c"]
    assert count["n"].to_list() == [3]
    assert isinstance(zero.to_native(), pl.LazyFrame)
    assert collect(zero)["customer_id"].to_list() == ["b"]


def test_for_engine_picks_the_spark_step_only_for_spark() -> None:
    def local(x: int) -> str:
        return f"polars {x}"

    def spark(x: int) -> str:
        return f"spark {x}"

    assert for_engine("spark", polars=local, spark=spark)(1) == "spark 1"
    for kind in ("polars", "pandas", "duckdb", "path"):
        assert for_engine(kind, polars=local, spark=spark)(2) == "polars 2"


def test_require_local_refuses_spark_with_the_message_given() -> None:
    require_local(pl.DataFrame({"a": [1]}), why="unused")
    with pytest.raises(DataError, match="takes a Polars frame"):
        require_local(_SparkLike(), why="score_customers takes a Polars frame")


def test_table_for_polars_leaves_the_source_to_prepare(tmp_path: Path) -> None:
    frame = pd.DataFrame({"customer_id": ["a"]})
    assert table_for("polars", frame, table="orders") is frame
    assert table_for("polars", tmp_path / "o.csv", table="orders") == tmp_path / "o.csv"


def test_data_section_is_the_one_conversion() -> None:
    data = DataConfig(orders=OrdersConfig(separator=";"))
    assert data_section(data) is data
    assert data_section(Config(data=data)) is data
    assert data_section(None) == DataConfig()


def test_open_tables_resolves_paths_from_the_config_folder(tmp_path: Path) -> None:
    data = DataConfig(orders=OrdersConfig(path="orders.csv"))
    assert open_tables(data, base_dir=tmp_path) == {"orders": tmp_path / "orders.csv"}
    absolute = DataConfig(orders=OrdersConfig(path=str(tmp_path / "x.parquet")))
    assert open_tables(absolute, base_dir="/elsewhere") == {"orders": tmp_path / "x.parquet"}
    config = Config(data=data, base_dir=str(tmp_path))
    assert load_tables(config) == open_tables(data, base_dir=tmp_path)
    with pytest.raises(DataError, match=r"set data.orders.path"):
        open_tables(DataConfig())

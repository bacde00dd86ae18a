"""The engine backend of a scoring run, chosen once per job: Polars (default) or Spark.

A job asks ``backend_for(kind)`` once (``kind``: the shop's engine, ``ShopData.kind``) and
hands every engine-specific step to the object it gets:

========================  ==========================================  ===========================
step                      ``PolarsBackend``                           ``SparkBackend``
========================  ==========================================  ===========================
features table            the Polars frame                            collected to the driver
score                     ``score_customers`` in chunks               ``mapInPandas`` on executors
clusters                  ``clusterer.assign`` in chunks              ``mapInPandas``
explain (reason codes)    ``score_customers(reasons_for=mask)``       ``mapInPandas`` for the ids
drift sample              the whole frame                             <= 200,000 rows, seeded
rows, keep, release       ``height``; nothing to cache                ``count``; persist/unpersist
driver table (segments)   the whole frame                             only the columns read
attach driver columns     ``attach`` (no copy)                        a broadcast-free join
write                     one Parquet file                            part files in customer order
========================  ==========================================  ===========================

Both give the same values (``tests/test_spark_scoring.py``). The Spark side is
``segml.scores.spark.SparkBackend``; no other module outside ``segml.engine`` branches on the
engine (``pyproject.toml``'s import contracts keep pyspark inside these two).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from segml import targets as target_registry
from segml.engine import attach
from segml.errors import DataError
from segml.io import write_frame
from segml.models.propensity import PropensityModel
from segml.models.scoring import model_inputs, score_customers
from segml.models.timing import next_order_columns
from segml.progress import step, track
from segml.schema import ShopData
from segml.scores.inputs import cluster_inputs, feature_groups
from segml.scores.spark import SparkBackend

__all__ = ["PolarsBackend", "ScoringBackend", "backend_for", "time_to_event"]

ColumnPicker = Callable[[Mapping[str, Any]], list[str]]


class ScoringBackend(Protocol):
    """What a scoring job asks of an engine (see the module docstring for each step)."""

    name: str

    def feature_table(self, table: Any) -> pl.DataFrame: ...

    def score(
        self,
        shop: ShopData,
        models: Mapping[str, PropensityModel],
        *,
        as_of: Any,
        chunk_size: int,
        reasons_top_k: int,
        reasons_for: Any,
    ) -> Any: ...

    def assign_clusters(
        self,
        frame: Any,
        shop: ShopData,
        clusterer: Any,
        *,
        as_of: Any,
        feature_params: Mapping[str, Any],
        frame_params: Mapping[str, Any] | None,
        chunk_size: int,
    ) -> Any: ...

    def explain(
        self,
        frame: Any,
        models: Mapping[str, PropensityModel],
        *,
        customer_ids: pl.Series,
        top_k: int,
        chunk_size: int,
    ) -> Any: ...

    def drift_rows(self, frame: Any, columns: set[str]) -> pl.DataFrame: ...

    def rows(self, frame: Any) -> int: ...

    def keep(self, frame: Any) -> Any: ...

    def release(self, frame: Any) -> None: ...

    def driver_table(self, frame: Any, pick: ColumnPicker) -> pl.DataFrame: ...

    def attach_columns(self, frame: Any, table: pl.DataFrame) -> Any: ...

    def write_scores(self, frame: Any, path: Path) -> None: ...


def time_to_event(models: Mapping[str, Any]) -> set[str]:
    """The targets of ``models`` that are time-to-event (columns of their own, no score,
    decile or reason codes)."""
    return {t for t in models if target_registry.get(t).is_time_to_event}


def backend_for(kind: str) -> ScoringBackend:
    """The backend for a shop of engine ``kind`` (``ShopData.kind``): the one place a job's
    engine is chosen."""
    if kind == "spark":
        return SparkBackend()
    return PolarsBackend()


class PolarsBackend:
    """Everything in this process, on Polars (pandas only for the columns a step converts)."""

    name = "polars"

    def feature_table(self, table: Any) -> pl.DataFrame:
        return table  # type: ignore[no-any-return]

    def score(
        self,
        shop: ShopData,
        models: Mapping[str, PropensityModel],
        *,
        as_of: Any,
        chunk_size: int = 250_000,
        reasons_top_k: int = 3,
        reasons_for: Any = None,
    ) -> pl.DataFrame:
        """Model inputs (features + BG/NBD columns) joined with every score column (for a
        time-to-event target the ``segml.models.timing.next_order_columns``); models trained
        with the same feature settings share one feature build."""
        frame: pl.DataFrame | None = None
        timed = time_to_event(models)
        for params, targets in feature_groups(models):
            with step("features"):
                inputs = model_inputs(
                    shop,
                    as_of=as_of,
                    feature_params=params["features"],
                    horizons=params["horizons"],
                )
            timing = [t for t in targets if t in timed]
            scores = score_customers(
                inputs,
                {t: models[t] for t in targets if t not in timed},
                chunk_size=chunk_size,
                reasons_top_k=reasons_top_k,
                reasons_for=reasons_for,
            )
            part = attach(inputs, scores)
            for t in timing:  # <target>__days, __date, intervals, __status (no score column)
                part = attach(part, next_order_columns(inputs, models[t], as_of=as_of, name=t))
            if frame is None:
                frame = part
                continue
            fresh = [c for c in part.columns if c not in frame.columns]
            frame = frame.join(
                part.select("customer_id", *fresh), on="customer_id", how="full", coalesce=True
            )
        if frame is None:
            raise DataError("no models to score with.")
        return frame if frame["customer_id"].is_sorted() else frame.sort("customer_id")

    def assign_clusters(
        self,
        frame: pl.DataFrame,
        shop: ShopData,
        clusterer: Any,
        *,
        as_of: Any,
        feature_params: Mapping[str, Any],
        frame_params: Mapping[str, Any] | None = None,
        chunk_size: int = 250_000,
    ) -> pl.DataFrame:
        """Join ``cluster__id``/``cluster__name`` from ``clusterer``, assigned ``chunk_size``
        customers at a time (only the clusterer's columns are converted to pandas)."""
        inputs, columns = cluster_inputs(
            frame,
            shop,
            clusterer,
            as_of=as_of,
            feature_params=feature_params,
            frame_params=frame_params,
        )
        table = inputs if isinstance(inputs, pl.DataFrame) else pl.from_pandas(inputs)
        table = table.select(columns)
        parts = [
            pl.from_pandas(clusterer.assign(table.slice(start, chunk_size).to_pandas()))
            for start in track(  # one (empty) chunk for none
                range(0, max(table.height, 1), chunk_size), "clusters", unit="chunks"
            )
        ]
        assigned = pl.concat(parts).with_columns(pl.col("cluster__id").cast(pl.Int32))
        return attach(frame, assigned)

    def explain(
        self,
        frame: pl.DataFrame,
        models: Mapping[str, PropensityModel],
        *,
        customer_ids: pl.Series,
        top_k: int,
        chunk_size: int = 250_000,
    ) -> pl.DataFrame:
        """``frame`` with ``reasons__<target>`` for ``customer_ids`` only (null for the rest)."""
        reasons = score_customers(
            frame,
            {t: m for t, m in models.items() if t not in time_to_event(models)},
            chunk_size=chunk_size,
            reasons_top_k=top_k,
            reasons_for=frame["customer_id"].is_in(customer_ids).to_numpy(),
        )
        cols = [c for c in reasons.columns if c.startswith("reasons__")]
        return attach(frame.drop(cols), reasons.select("customer_id", *cols))

    def drift_rows(self, frame: pl.DataFrame, columns: set[str]) -> pl.DataFrame:
        return frame

    def rows(self, frame: pl.DataFrame) -> int:
        return frame.height

    def keep(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame

    def release(self, frame: pl.DataFrame) -> None:
        return None

    def driver_table(self, frame: pl.DataFrame, pick: ColumnPicker) -> pl.DataFrame:
        return frame

    def attach_columns(self, frame: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
        """``table``'s columns (one row per ``customer_id``, computed on the driver) beside
        ``frame``'s, in ``frame``'s row order."""
        return attach(frame, table)

    def write_scores(self, frame: pl.DataFrame, path: Path) -> None:
        write_frame(frame, path)

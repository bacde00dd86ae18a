"""Opening tables on Spark: the session segml uses, CSV and Parquet readers, and the tables of
a job whose config chooses ``engine: spark`` (re-exported by ``segml.engine``)."""

from __future__ import annotations

import glob as globlib
import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from segml.errors import DataError
from segml.io import guess_format
from segml.io.csv_files import POLARS_ENCODINGS

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["read_spark_table", "spark_session", "spark_unavailable", "table_for"]


def table_for(
    engine: str,
    source: str | Path | pd.DataFrame,
    *,
    table: str,
    fmt: str | None = None,
    encoding: str = "utf8",
    separator: str = ",",
) -> str | Path | pd.DataFrame | DataFrame:
    """A table ``source`` (a path, or a pandas DataFrame) opened for the chosen ``engine``: as
    it is for Polars (``segml.schema.prepare`` reads it); a Spark DataFrame for Spark, files
    through ``read_spark_table``, pandas with nulls for missing values."""
    if engine != "spark":
        return source
    if isinstance(source, str | Path):
        return read_spark_table(
            source, table=table, fmt=fmt, encoding=encoding, separator=separator
        )
    return spark_session().createDataFrame(source.astype(object).where(source.notna(), None))


def spark_session() -> SparkSession:
    """The active Spark session, or a new local one (UTC, so naive timestamps mean UTC).

    A session segml creates gets ``spark.driver.memory`` from ``SEGML_SPARK_DRIVER_MEMORY``
    (default ``4g``; Spark's own 1g runs out converting a few hundred thousand pandas rows).
    Its Python workers run this interpreter unless ``PYSPARK_PYTHON`` is set. Both only take
    effect when no Spark JVM runs yet; an active session is used as it is.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:
        raise DataError(
            "engine: spark needs pyspark; install it with pip install 'segml[spark]'."
        ) from err
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = (
        SparkSession.builder.appName("segml")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", os.environ.get("SEGML_SPARK_DRIVER_MEMORY", "4g"))
    )
    # PySpark starts its Python workers with PYSPARK_PYTHON: this interpreter, which has segml
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return builder.getOrCreate()


def read_spark_table(
    path: str | Path,
    *,
    table: str,
    fmt: str | None = None,
    encoding: str = "utf8",
    separator: str = ",",
) -> DataFrame:
    """Open a CSV or Parquet file, folder or glob as a Spark DataFrame (all CSV columns text)."""
    text = str(path)
    is_remote = "://" in text
    if not is_remote and not globlib.glob(text):
        raise DataError(f"{table}: no file at {text!r}. Check data.{table}.path in the config.")
    fmt = fmt or ("parquet" if is_remote or Path(text).is_dir() else guess_format(Path(text)))
    reader = spark_session().read
    if fmt == "parquet":
        return reader.parquet(text)
    encoding = "utf-8" if encoding in POLARS_ENCODINGS else encoding
    options: dict[str, str | bool] = {
        "header": True,
        "inferSchema": False,
        "encoding": encoding,
        "sep": separator,
    }
    return reader.options(**options).csv(text)


def spark_unavailable() -> str | None:
    """Why Spark cannot run here (no pyspark, no Java runtime), or None when it can."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'segml[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (apt-get install -y default-jre-headless)"
    return None

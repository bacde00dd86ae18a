"""The execution layer: every table becomes a Narwhals lazy frame on one of two engines.

Feature code is written once against Narwhals. By default it runs on Polars' lazy, out-of-core
engine (pandas, Polars, DuckDB and file inputs all land there); a Spark DataFrame keeps running on
Spark. The few operations Narwhals does not express the same way on both engines (parsing
timestamps into epoch days, lenient number parsing) are dispatched here, and only here; so is
every other choice that depends on the engine (handing a result back in the caller's frame kind,
collecting a per-customer table to the driver, picking a Spark-specific step: ``for_engine``), so
that the code above reads the same for both.

Timestamps are carried internally as float64 *epoch days* (UTC): both engines compute them as the
same integer microseconds divided by the same constant, so results agree to the bit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeAlias, TypeVar

import narwhals.stable.v2 as nw
import polars as pl

from segml.engine.spark import read_spark_table, spark_session, spark_unavailable, table_for
from segml.errors import DataError
from segml.io import scratch_path

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame as SparkFrame

__all__ = [
    "AsOf",
    "Backend",
    "as_of_days",
    "attach",
    "backend_of",
    "collect",
    "compute",
    "contiguous",
    "deliver",
    "for_engine",
    "frame_kind",
    "in_memory",
    "in_order",
    "is_spark",
    "left_join_in_order",
    "materialise",
    "on_driver",
    "parse_as_of",
    "parse_float",
    "parse_time_days",
    "read_spark_table",
    "require_local",
    "spark_session",
    "spark_unavailable",
    "stage",
    "table_for",
    "to_lazy",
    "to_native",
    "to_polars",
]

Backend = Literal["polars", "spark"]
AsOf: TypeAlias = str | dt.date
"""A cutoff as the Python API takes it: an ISO date text, a date or a datetime (pandas
Timestamps are datetimes); ``parse_as_of`` checks it."""
P = ParamSpec("P")
R = TypeVar("R")
US_PER_DAY = 86_400_000_000
_EPOCH = dt.datetime(1970, 1, 1)


def parse_as_of(value: Any) -> dt.datetime:
    """A cutoff as a naive UTC datetime; a date means midnight UTC at its start."""
    if value is None:
        raise DataError(
            "as_of is required: pass the cutoff date explicitly, e.g. as_of='2011-09-01'."
        )
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as err:
            raise DataError(f"as_of {value!r} is not an ISO date; use e.g. '2011-09-01'.") from err
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise DataError(f"as_of must be a date or datetime, got {type(value).__name__} {value!r}.")
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def as_of_days(value: AsOf) -> float:
    """The cutoff in epoch days, computed exactly like the data's timestamps."""
    ts = parse_as_of(value)
    micros = (ts - _EPOCH) // dt.timedelta(microseconds=1)
    return micros / US_PER_DAY


def is_spark(obj: object) -> bool:
    return type(obj).__module__.startswith("pyspark.sql")


def frame_kind(obj: object) -> str:
    """What kind of table the caller gave: pandas, polars, duckdb, spark or path."""
    module = type(obj).__module__
    for kind in ("pandas", "polars", "duckdb"):
        if module.startswith(kind):
            return kind
    if is_spark(obj):
        return "spark"
    if isinstance(obj, nw.DataFrame | nw.LazyFrame):
        return frame_kind(obj.to_native())
    return "path"


def to_lazy(obj: Any, *, table: str) -> nw.LazyFrame[Any]:
    """Wrap an in-memory table as a Narwhals lazy frame on Polars (or Spark for Spark input)."""
    if isinstance(obj, nw.DataFrame | nw.LazyFrame):
        obj = obj.to_native()
    kind = frame_kind(obj)
    if kind == "spark":
        return nw.from_native(obj)
    if kind == "pandas":
        return nw.from_native(_pandas_to_polars(obj, table=table).lazy())
    if kind == "duckdb":
        return nw.from_native(obj.pl().lazy())
    if isinstance(obj, pl.DataFrame):
        return nw.from_native(obj.lazy())
    if isinstance(obj, pl.LazyFrame):
        return nw.from_native(obj)
    raise DataError(
        f"{table}: cannot read a {type(obj).__name__}; pass a pandas or Polars DataFrame, a DuckDB "
        "relation, a Spark DataFrame, or a path to CSV/Parquet."
    )


def _pandas_to_polars(frame: pd.DataFrame, *, table: str) -> pl.DataFrame:
    import pandas as pd

    frame = frame.copy(deep=False)
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            frame[name] = col.dt.tz_convert("UTC").dt.tz_localize(None)
        elif col.dtype == object and not col.map(_is_text_or_null).all():
            # mixed Python objects (numbers and text, datetimes with different zones): as text,
            # so the schema step parses them and reports the values it cannot read.
            frame[name] = col.map(_as_text)
    try:
        return pl.from_pandas(frame)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as err:
        raise DataError(f"{table}: could not convert the pandas DataFrame: {err}") from err


def _is_text_or_null(value: object) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, float) and value != value)


def _as_text(value: Any) -> str | None:
    if _is_text_or_null(value):
        return None if isinstance(value, float) else value
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


def backend_of(lf: nw.LazyFrame[Any]) -> Backend:
    return "spark" if is_spark(lf.to_native()) else "polars"


def for_engine(kind: str, *, polars: Callable[P, R], spark: Callable[P, R]) -> Callable[P, R]:
    """The implementation of a step for a frame ``kind`` (``frame_kind``, ``ShopData.kind``):
    ``spark`` for Spark, ``polars`` for everything else. For the few steps Spark needs written
    its own way (both take the same arguments); the caller does not branch on the engine."""
    return spark if kind == "spark" else polars


def parse_time_days(lf: nw.LazyFrame[Any], column: str, out: str) -> nw.LazyFrame[Any]:
    """Add ``out``: ``column`` as float epoch days in UTC (null where it cannot be parsed)."""
    native = lf.to_native()
    if is_spark(native):
        return nw.from_native(_spark_time_days(native, column, out))
    dtype = native.collect_schema()[column]
    expr = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    elif dtype == pl.Date:
        expr = expr.cast(pl.Datetime("us"))
    elif dtype in (pl.String, pl.Categorical):
        expr = _polars_parse_text_time(expr.cast(pl.String))
    else:
        expr = pl.lit(None, dtype=pl.Datetime("us"))
    days = expr.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64) / US_PER_DAY
    return nw.from_native(native.with_columns(days.alias(out)))


def _polars_parse_text_time(text: pl.Expr) -> pl.Expr:
    """ISO-like text with or without an offset; offsets are converted to UTC."""
    iso = (
        text.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{1,2}-\d{1,2})[ T]", "${1}T")
        .str.replace(r"Z$", "+00:00")
    )
    aware = [
        iso.str.to_datetime(fmt, strict=False, time_zone="UTC").dt.replace_time_zone(None)
        for fmt in ("%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%dT%H:%M%:z")
    ]
    naive = [
        iso.str.to_datetime(fmt, strict=False, time_unit="us")
        for fmt in ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d", "%m/%d/%Y %H:%M")
    ]
    return pl.coalesce([e.dt.cast_time_unit("us") for e in aware] + naive)


def _spark_time_days(native: SparkFrame, column: str, out: str) -> SparkFrame:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    dtype = native.schema[column].dataType
    col = F.col(column)
    if isinstance(dtype, T.StringType):
        col = F.try_to_timestamp(F.trim(col))
    elif isinstance(dtype, T.DateType):
        col = col.cast("timestamp")
    elif not isinstance(dtype, T.TimestampType | T.TimestampNTZType):
        col = F.lit(None).cast("timestamp")
    if isinstance(dtype, T.TimestampNTZType):
        col = F.to_utc_timestamp(col.cast("timestamp"), "UTC")
    days = F.unix_micros(col.cast("timestamp")).cast("double") / float(US_PER_DAY)
    return native.withColumn(out, days)


def parse_float(lf: nw.LazyFrame[Any], column: str, out: str) -> nw.LazyFrame[Any]:
    """Add ``out``: ``column`` as float64, null where the text is not a number."""
    native = lf.to_native()
    if is_spark(native):
        from pyspark.sql import functions as F

        return nw.from_native(
            native.withColumn(out, F.expr(f"try_cast(trim(cast(`{column}` as string)) as double)"))
        )
    dtype = native.collect_schema()[column]
    expr = pl.col(column)
    if dtype in (pl.String, pl.Categorical):
        expr = expr.cast(pl.String).str.strip_chars()
    return nw.from_native(native.with_columns(expr.cast(pl.Float64, strict=False).alias(out)))


def collect(lf: nw.LazyFrame[Any] | nw.DataFrame[Any]) -> pl.DataFrame:
    """Run a query and return a Polars DataFrame (Polars' streaming engine for local data)."""
    if isinstance(lf, nw.DataFrame):
        return lf.to_polars()
    native = lf.to_native()
    if is_spark(native):
        return pl.from_arrow(native.toArrow())  # type: ignore[return-value]
    return native.collect(engine="streaming")


def left_join_in_order(
    left: nw.LazyFrame[Any], right: nw.LazyFrame[Any], *, on: str
) -> nw.LazyFrame[Any]:
    """A left join whose rows come in ``left``'s order (Polars keeps it only when asked; a
    Spark DataFrame has no row order to keep)."""
    native, other = left.to_native(), right.to_native()
    if is_spark(native):
        return left.join(right, on=on, how="left")
    return nw.from_native(native.join(other, on=on, how="left", maintain_order="left"))


def contiguous(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame``'s columns each in one piece, copied one column at a time (when a copy is
    needed, ``frame`` is left empty).

    A streaming query's result comes in many pieces. Polars re-chunks a whole table whose
    columns are cut differently the first time an operation needs them aligned (a select, a
    slice), which is a hidden copy of the whole table (5M customers: +2.7 GB); here the table
    is copied once, holding at most one column twice.
    """
    if frame.n_chunks() == 1:
        return frame
    return pl.DataFrame([frame.drop_in_place(name).rechunk() for name in list(frame.columns)])


def attach(frame: pl.DataFrame, extra: pl.DataFrame, *, on: str = "customer_id") -> pl.DataFrame:
    """``frame`` left-joined with ``extra`` (at most one row per ``on`` value), in ``frame``'s
    row order, without copying ``frame``'s columns.

    A join would copy every column of ``frame`` (the scored table: ~3 GB at 5M customers).
    Instead ``extra`` is lined up with ``frame``'s ids (a join of the id column alone, skipped
    when the ids already match row for row) and its columns are put beside ``frame``'s, cut
    into the same pieces so that no later operation re-chunks the whole table (see
    ``contiguous``).
    """
    if not extra[on].equals(frame[on]):
        extra = frame.select(on).join(
            extra, on=on, how="left", validate="m:1", maintain_order="left"
        )
    if frame.n_chunks() != 1:
        frame = frame.rechunk()
    return frame.hstack(extra.drop(on).rechunk())


def materialise(frames: list[nw.LazyFrame[Any]]) -> list[nw.LazyFrame[Any]]:
    """Compute several queries at once and return them as lazy frames over the results.

    On Polars, one streaming ``collect_all``, for small results (per-customer aggregates, value
    counts) that later steps read. Common-subplan sharing stays off: it would hold a shared scan
    of a big table in memory (50M events: 3.9 GB instead of 1.6 GB). Spark plans stay lazy:
    Spark optimises and distributes the whole plan itself.
    """
    natives = [f.to_native() for f in frames]
    if not natives or any(is_spark(n) for n in natives):
        return frames
    flags = pl.QueryOptFlags(comm_subplan_elim=False)
    done = pl.collect_all(natives, engine="streaming", optimizations=flags)
    return [nw.from_native(df.lazy()) for df in done]


def stage(
    lf: nw.LazyFrame[Any],
    queries: list[nw.LazyFrame[Any]],
    *,
    small: Sequence[nw.LazyFrame[Any]] = (),
) -> tuple[nw.LazyFrame[Any], list[pl.DataFrame], list[nw.LazyFrame[Any]]]:
    """Compute ``lf`` once, with ``queries`` over the same inputs in the same read.

    On Polars ``lf`` is streamed to an Arrow IPC file in the scratch folder and read back
    lazily, so later queries start from the computed table (out of core, without repeating
    its work); the queries' results are returned, and ``small`` (further queries with small
    results) as lazy frames over their results. Spark keeps ``lf`` and ``small`` lazy.
    """
    native = lf.to_native()
    if is_spark(native):
        return lf, [collect(q) for q in queries], list(small)
    path = scratch_path(".arrow")
    sink = native.sink_ipc(path, lazy=True)
    natives = [q.to_native() for q in [*queries, *small]]
    done = pl.collect_all([sink, *natives], engine="streaming")[1:]
    kept = [nw.from_native(df.lazy()) for df in done[len(queries) :]]
    return nw.from_native(pl.scan_ipc(path)), list(done[: len(queries)]), kept


def to_native(result: Any, lf: nw.LazyFrame[Any] | None, kind: str) -> Any:
    """Hand a result (a Polars DataFrame, or a Spark DataFrame that stays as it is) back in the
    caller's own frame type."""
    if kind == "spark" and lf is not None:
        return lf.to_native()
    if is_spark(result):
        return result
    if kind == "polars":
        return result
    if kind == "duckdb":
        import duckdb

        return duckdb.from_arrow(result.to_arrow())
    return result.to_pandas()


def deliver(plan: nw.LazyFrame[Any], kind: str) -> Any:
    """A lazy plan handed to the caller in the frame ``kind`` it gave (``ShopData.kind``): a
    Spark plan stays a lazy Spark DataFrame; any other is computed and converted."""
    if kind == "spark":
        return plan.to_native()
    return to_native(collect(plan), plan, kind)


def compute(plan: nw.LazyFrame[Any], *, order_by: str) -> Any:
    """A query's result on its own engine: a Polars DataFrame computed now, each column in one
    piece (the plan must already come in ``order_by`` order, see ``in_order``), or a lazy Spark
    DataFrame sorted by ``order_by``."""
    if is_spark(plan.to_native()):
        return plan.sort(order_by).to_native()
    return contiguous(collect(plan))


def in_order(plan: nw.LazyFrame[Any], by: str) -> nw.LazyFrame[Any]:
    """``plan`` sorted by ``by`` on an engine whose joins keep row order (Polars, with
    ``left_join_in_order``); a Spark plan as it is (no row order to keep: ``compute`` sorts
    its result)."""
    return plan if is_spark(plan.to_native()) else plan.sort(by)


def in_memory(lf: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """``lf`` computed now, as a lazy frame over the result, so later queries do not repeat
    its reads; a Spark plan as it is (Spark distributes the whole plan itself)."""
    return lf if is_spark(lf.to_native()) else nw.from_native(collect(lf).lazy())


def to_polars(
    native: pl.DataFrame | pd.DataFrame | SparkFrame, *, order_by: str | None = None
) -> pl.DataFrame:
    """A table that fits on the driver (one row per customer) as a Polars DataFrame: a Spark
    DataFrame collected through Arrow and, as Spark keeps no row order, sorted by ``order_by``
    when given; a pandas one converted; a Polars one as it is."""
    if isinstance(native, pl.DataFrame):
        return native
    if is_spark(native):
        frame = pl.DataFrame(pl.from_arrow(native.toArrow()))
        return frame if order_by is None else frame.sort(order_by)
    return pl.from_pandas(native)


def on_driver(lf: nw.LazyFrame[Any]) -> pl.LazyFrame:
    """``lf`` as a Polars lazy frame in this process; a Spark plan is collected first (for
    tables of one row per customer, which fit on the driver)."""
    native = lf.to_native()
    return to_polars(native).lazy() if is_spark(native) else native


def require_local(obj: object, *, why: str) -> None:
    """Refuse a Spark DataFrame (``DataError(why)``) where a step runs in this process only."""
    if is_spark(obj):
        raise DataError(why)

"""Checks of column types, timestamps and amounts, run in the validation read.

Validation refuses exactly what later steps cannot handle: columns of the wrong type (a boolean
revenue is not 1.0), amounts that are NaN or infinite, amounts beyond what segml sums exactly,
and timestamps that cannot be parsed. Each check is a scalar aggregation over the parsed
columns, so it shares the one read that validates a table.
"""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from segml.engine import collect
from segml.errors import DataError, example_values
from segml.schema.contract import TableSpec

__all__ = [
    "MAX_AMOUNT",
    "MAX_TOTAL",
    "amount_checks",
    "check_amounts",
    "check_types",
    "count_if",
    "number_checks",
    "raise_examples",
    "raise_number_problems",
]

MAX_AMOUNT = 1e15
"""The largest amount (revenue, unit price, quantity) of one row segml accepts."""
MAX_TOTAL = 9e18
"""The largest sum of absolute revenue of a table: money is summed as Int64 whole units."""

_TEXT_TYPES = (nw.String, nw.Categorical, nw.Enum, nw.Unknown)


def count_if(condition: nw.Expr) -> nw.Expr:
    """Number of rows where ``condition`` holds (as a sum of 0/1, valid on every engine)."""
    return nw.when(condition).then(1).otherwise(0).sum()


def _is_text(dtype: Any) -> bool:
    return any(dtype == t for t in _TEXT_TYPES)


def check_types(spec: TableSpec, schema: Any, times: list[str], numbers: list[str]) -> None:
    """Refuse time and amount columns whose type cannot hold what they must (named)."""
    for c in numbers:
        dtype = schema[c]
        if not (dtype.is_numeric() or _is_text(dtype)):
            raise DataError(
                f"{spec.name}.{c} is of type {dtype}; expected numbers (integers, floats or "
                f"decimals, or text holding them). Convert the column, or map "
                f"data.{spec.name}.columns.{c} to the right column."
            )
    for c in times:
        dtype = schema[c]
        if not (dtype == nw.Datetime or dtype == nw.Date or _is_text(dtype)):
            raise DataError(
                f"{spec.name}.{c} is of type {dtype}; expected datetimes, dates or ISO text such "
                f"as '2024-01-31 10:00'. Convert the column, or map "
                f"data.{spec.name}.columns.{c} to the right column."
            )


def number_checks(column: str, parsed: nw.Expr) -> dict[str, nw.Expr]:
    """Rows whose amount is NaN/infinite, and rows beyond ``MAX_AMOUNT`` (scalar counts)."""
    present = ~parsed.is_null()
    nonfinite = present & ~parsed.is_finite()
    return {
        f"{column}__nonfinite": nonfinite.cast(nw.Int64).sum(),
        f"{column}__range": (parsed.is_finite() & (parsed.abs() > MAX_AMOUNT))
        .fill_null(False)
        .cast(nw.Int64)
        .sum(),
    }


def raise_number_problems(
    lf: nw.LazyFrame[Any], spec: TableSpec, column: str, parsed: str, counts: dict[str, Any]
) -> None:
    """Raise for the first failed ``number_checks`` of ``column``, with examples."""
    n = counts["n"]
    value = nw.col(parsed)
    if counts.get(f"{column}__nonfinite"):
        raise_examples(
            lf,
            column,
            ~value.is_null() & ~value.is_finite(),
            f"{spec.name}.{column} has {counts[f'{column}__nonfinite']:,} of {n:,} rows that are "
            "NaN or infinite",
            "Amounts must be finite numbers: fix or drop those rows (leave a missing amount "
            "empty; segml counts and drops it).",
        )
    if counts.get(f"{column}__range"):
        raise_examples(
            lf,
            column,
            value.is_finite() & (value.abs() > MAX_AMOUNT),
            f"{spec.name}.{column} has {counts[f'{column}__range']:,} of {n:,} rows beyond "
            "1e15 in absolute value, the largest amount segml accepts",
            "Such values are almost always corrupt (a unit or decimal-separator mix-up): fix "
            "or drop those rows.",
        )


def raise_examples(lf: nw.LazyFrame[Any], column: str, bad: nw.Expr, what: str, fix: str) -> None:
    """Raise ``what``, e.g. three examples of ``column`` where ``bad`` holds, then ``fix``."""
    examples = collect(lf.filter(bad).select(nw.col(column).cast(nw.String)).head(3))
    values = examples.get_column(column).to_list()
    raise DataError(f"{what}, e.g. {example_values(values)}. {fix}")


def _revenue(names: list[str]) -> nw.Expr:
    if "revenue" in names:
        return nw.col("revenue__num")
    return nw.col("quantity__num") * nw.col("unit_price__num")


def amount_checks(names: list[str]) -> dict[str, nw.Expr]:
    """Orders: the sum of absolute revenue and, when revenue is quantity x unit_price, the rows
    where that product is beyond ``MAX_AMOUNT`` (scalar counts for the validation read)."""
    revenue = _revenue(names)
    out = {"amount__total": revenue.abs().sum().cast(nw.Float64)}
    if "revenue" not in names:
        out["revenue__range"] = count_if((revenue.abs() > MAX_AMOUNT).fill_null(False))
    return out


def check_amounts(lf: nw.LazyFrame[Any], names: list[str], counts: dict[str, Any]) -> None:
    """Raise when ``amount_checks`` found revenue segml cannot sum exactly."""
    revenue = (nw.col("quantity") * nw.col("unit_price")).abs()
    if counts.get("revenue__range"):
        raise_examples(
            lf.with_columns(revenue=nw.col("quantity") * nw.col("unit_price")),
            "revenue",
            revenue > MAX_AMOUNT,
            f"orders has {counts['revenue__range']:,} of {counts['n']:,} rows whose quantity x "
            f"unit_price is beyond 1e15 in absolute value, the largest amount segml accepts",
            "Fix or drop those rows (check orders.quantity and orders.unit_price).",
        )
    total = counts.get("amount__total") or 0.0
    if total >= MAX_TOTAL:
        column = "revenue" if "revenue" in names else "unit_price"
        top = (
            lf.select(nw.col(column), _abs=nw.col(column).abs())
            .sort("_abs", descending=True)
            .head(3)
            .select(nw.col(column).cast(nw.String))
        )
        values = collect(top).get_column(column).to_list()
        raise DataError(
            f"orders: the revenue adds up to {total:.3g} in absolute value, more than segml sums "
            f"exactly ({MAX_TOTAL:.1e}: Int64 whole currency units); the largest orders.{column} "
            f"values are {example_values(values)}. Check them for corrupt values, or express "
            "the amounts in a larger currency unit."
        )

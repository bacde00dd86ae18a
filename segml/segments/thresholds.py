"""Thresholds conditions refer to as ``@name``: fixed numbers, or quantiles derived from the data
(and always reported with how they were derived, so a reader can check them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from segml.errors import ConfigError, DataError
from segml.segments.compile import compile_condition, compile_value
from segml.segments.rules import Threshold
from segml.segments.syntax import ConditionError

__all__ = ["ThresholdValue", "derive_thresholds", "threshold_exprs"]


@dataclass(frozen=True)
class ThresholdValue:
    name: str
    value: float
    rule: str  # how it was derived, in words
    customers: int | None = None  # how many values the quantile was taken over

    def __str__(self) -> str:
        over = f", over {self.customers:,} customers" if self.customers is not None else ""
        return f"@{self.name} = {self.value:.6g} ({self.rule}{over})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rule(t: Threshold) -> str:
    where = f" where {t.where}" if t.where else ""
    return f"{t.quantile:g} quantile of {t.of}{where}"


def _plan(
    name: str, t: Threshold, schema: Mapping[str, pl.DataType], as_of: dt.datetime | None
) -> tuple[pl.Expr, pl.Expr]:
    assert t.of is not None and t.quantile is not None  # guaranteed by Threshold's validator
    of = compile_value(t.of, schema=schema, params=None, as_of=as_of)
    if of.kind != "number":
        raise ConditionError(f"of: must be a number, but {t.of!r} is {of.kind}")
    values = of.expr
    if t.where:
        where = compile_condition(t.where, schema=schema, params=None, as_of=as_of)
        values = values.filter(where.expr)
    return (
        values.quantile(t.quantile, interpolation="linear").alias(f"q_{name}"),
        values.count().alias(f"n_{name}"),
    )


def threshold_exprs(
    thresholds: Mapping[str, Threshold],
    schema: Mapping[str, pl.DataType],
    *,
    source: str = "rules",
    as_of: dt.datetime | None = None,
) -> list[pl.Expr]:
    """The aggregations that derive the data-driven thresholds (``q_<name>``, the quantile, and
    ``n_<name>``, how many values it was taken over); every threshold that does not fit
    ``schema`` is reported in one ConfigError."""
    exprs: list[pl.Expr] = []
    errors: list[str] = []
    for name, t in thresholds.items():
        if t.value is not None:
            continue
        try:
            exprs.extend(_plan(name, t, schema, as_of))
        except ConditionError as err:
            errors.append(f"  thresholds.{name}: {err}")
    if errors:
        raise ConfigError(
            f"{source}: {len(errors)} threshold(s) do not fit the data:\n" + "\n".join(errors)
        )
    return exprs


def derive_thresholds(
    frame: pl.LazyFrame,
    thresholds: Mapping[str, Threshold],
    *,
    source: str = "rules",
    as_of: dt.datetime | None = None,
) -> dict[str, ThresholdValue]:
    """Every threshold's value: fixed ones as given, derived ones from ``frame`` in one pass
    (``as_of``: the run's as-of date, for ``days_since`` in ``of:`` and ``where:``)."""
    exprs = threshold_exprs(thresholds, frame.collect_schema(), source=source, as_of=as_of)
    row = frame.select(exprs).collect().row(0, named=True) if exprs else {}
    out = {
        name: ThresholdValue(name, float(t.value), "fixed")
        for name, t in thresholds.items()
        if t.value is not None
    }
    derived = {name: t for name, t in thresholds.items() if t.value is None}
    for name, t in derived.items():
        n, value = row[f"n_{name}"], row[f"q_{name}"]
        if not n or value is None:
            where = f" where {t.where}" if t.where else ""
            raise DataError(
                f"threshold @{name}: no customer has a value of {t.of}{where}, so its "
                f"{t.quantile:g} quantile is undefined. Check the data, or give the threshold "
                "a fixed value: instead."
            )
        out[name] = ThresholdValue(name, float(value), _rule(t), int(n))
    return {name: out[name] for name in thresholds}

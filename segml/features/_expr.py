"""Small expression helpers shared by the feature families (engine-neutral Narwhals)."""

from __future__ import annotations

import re

import narwhals.stable.v2 as nw

__all__ = [
    "MONEY",
    "combine_parts",
    "count_if",
    "exact_parts",
    "exact_sum",
    "fixed",
    "safe_div",
    "slug",
]

MONEY = 1_000_000  # money is summed in exact micro-units


def safe_div(num: nw.Expr, den: nw.Expr) -> nw.Expr:
    """``num / den``, null where the denominator is zero or null (no inf, no ANSI error)."""
    return nw.when(den > 0).then(num / den).otherwise(None)


def fixed(expr: nw.Expr, scale: int) -> nw.Expr:
    """``expr`` as whole multiples of 1/scale (Int64)."""
    return (expr * scale).round(0).cast(nw.Int64)


def count_if(condition: nw.Expr) -> nw.Expr:
    """Number of rows where ``condition`` holds (as a sum of 0/1, valid on every engine)."""
    return nw.when(condition).then(1).otherwise(0).sum()


def exact_parts(expr: nw.Expr, scale: int = MONEY) -> tuple[nw.Expr, nw.Expr]:
    """``expr`` as whole units and whole multiples of 1/scale of the rest (both Int64).

    Summed separately, the parts cannot overflow where one Int64 of multiples of 1/scale
    would (two orders of 5e12 are 1e19 micro-units): the units fit any table whose amounts add
    up to less than 9.2e18 (schema validation refuses larger ones), the rest is below ``scale``
    per row.
    """
    units = expr.floor()
    return units.cast(nw.Int64), ((expr - units) * scale).round(0).cast(nw.Int64)


def combine_parts(units: nw.Expr, rest: nw.Expr, scale: int = MONEY) -> nw.Expr:
    """The value of summed ``exact_parts``: exact below 2**53 multiples of 1/scale."""
    return (units.cast(nw.Float64) * scale + rest.cast(nw.Float64)) / scale


def exact_sum(expr: nw.Expr, scale: int = MONEY) -> nw.Expr:
    """A sum that does not depend on the order rows are added in, and does not overflow.

    Floating-point addition is not associative, and a parallel or streaming engine adds a
    group's rows in a different order on every run, so plain sums differ in the last bits from
    run to run. Summing whole multiples of 1/scale as integers is exact, so reruns are
    byte-identical and Spark agrees with Polars. Money uses micro-units (cents are exact); the
    whole units and the micro-units are summed apart (``exact_parts``), so large amounts do not
    wrap around.
    """
    units, rest = exact_parts(expr, scale)
    return combine_parts(units.sum(), rest.sum(), scale)


def slug(value: str) -> str:
    """A column-safe name for a category: lower case, non-alphanumerics to underscores."""
    out = re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")
    return out or "blank"

"""Small expression helpers shared by the feature families (engine-neutral Narwhals)."""

from __future__ import annotations

import re

import narwhals.stable.v2 as nw

__all__ = ["MONEY", "count_if", "exact_sum", "fixed", "safe_div", "slug"]

MONEY = 1_000_000  # money is summed in exact micro-units


def safe_div(num: nw.Expr, den: nw.Expr) -> nw.Expr:
    """``num / den``, null where the denominator is zero or null (no inf, no ANSI error)."""
    return nw.when(den > 0).then(num / den).otherwise(None)


def count_if(condition: nw.Expr) -> nw.Expr:
    """Number of rows where ``condition`` holds (as a sum of 0/1, valid on every engine)."""
    return nw.when(condition).then(1).otherwise(0).sum()


def fixed(expr: nw.Expr, scale: int) -> nw.Expr:
    """``expr`` as whole multiples of 1/scale (Int64)."""
    return (expr * scale).round(0).cast(nw.Int64)


def exact_sum(expr: nw.Expr, scale: int = MONEY) -> nw.Expr:
    """A sum that does not depend on the order rows are added in.

    Floating-point addition is not associative, and a parallel or streaming engine adds a
    group's rows in a different order on every run, so plain sums differ in the last bits from
    run to run. Summing whole multiples of 1/scale as integers is exact, so reruns are
    byte-identical and Spark agrees with Polars. Money uses micro-units (cents are exact).
    """
    return fixed(expr, scale).sum() / scale


def slug(value: str) -> str:
    """A column-safe name for a category: lower case, non-alphanumerics to underscores."""
    out = re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")
    return out or "blank"

"""Small expression helpers shared by the feature families (engine-neutral Narwhals)."""

from __future__ import annotations

import re

import narwhals.stable.v2 as nw

__all__ = ["count_if", "safe_div", "slug"]


def safe_div(num: nw.Expr, den: nw.Expr) -> nw.Expr:
    """``num / den``, null where the denominator is zero or null (no inf, no ANSI error)."""
    return nw.when(den > 0).then(num / den).otherwise(None)


def count_if(condition: nw.Expr) -> nw.Expr:
    """Number of rows where ``condition`` holds (as a sum of 0/1, valid on every engine)."""
    return nw.when(condition).then(1).otherwise(0).sum()


def slug(value: str) -> str:
    """A column-safe name for a category: lower case, non-alphanumerics to underscores."""
    out = re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")
    return out or "blank"

"""The named helpers conditions may call: a closed whitelist, each with its signature, its type
rule and its vectorised Polars implementation.

A call is checked twice before anything runs: the parser refuses a name that is not here and a
wrong number of arguments; the type checker (``compile.py``) refuses arguments of the wrong kind.
Each helper then becomes one Polars expression over whole columns, like the rest of the language;
no user text is ever evaluated. Missing values stay missing (``coalesce``, ``min`` and ``max``
skip them, as in SQL's ``COALESCE``/``LEAST``/``GREATEST`` in PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

__all__ = ["HELPERS", "Helper", "Kind", "allowed_helpers", "days_since"]

Kind = Literal["number", "text", "bool", "date"]
_DAY_US = 86_400_000_000  # microseconds per day


@dataclass(frozen=True)
class Helper:
    """One helper: ``params`` name its arguments, ``kinds`` give each one's kind (None: any
    kind, the same for all such arguments); ``variadic``: more arguments like the last one may
    follow; ``result``: its kind (None: the arguments' kind)."""

    name: str
    params: tuple[str, ...]
    kinds: tuple[Kind | None, ...]
    result: Kind | None
    build: Callable[[Sequence[pl.Expr], dt.datetime | None], pl.Expr]
    description: str
    variadic: bool = False
    needs_as_of: bool = False
    hint: str = ""  # added to a wrong-kind message

    @property
    def signature(self) -> str:
        """E.g. ``min(a: number, b: number, ...)``."""
        args = [f"{p}: {k or 'any'}" for p, k in zip(self.params, self.kinds, strict=True)]
        return f"{self.name}({', '.join(args + (['...'] if self.variadic else []))})"

    def arity(self) -> str:
        """How many arguments it takes, in words."""
        n = len(self.params)
        if self.variadic:
            return f"{n} or more arguments"
        return f"{n} argument{'s' if n != 1 else ''}"

    def accepts(self, count: int) -> bool:
        return count == len(self.params) or (self.variadic and count > len(self.params))

    def kind_of(self, i: int) -> Kind | None:
        """The kind argument ``i`` must have (None: any, the same as the other such ones)."""
        return self.kinds[min(i, len(self.kinds) - 1)]

    def argument(self, i: int) -> str:
        """Argument ``i`` in words: ``argument 1 (when)``, ``argument 3``."""
        return f"argument {i + 1}" + (f" ({self.params[i]})" if i < len(self.params) else "")


def days_since(expr: pl.Expr, as_of: dt.datetime) -> pl.Expr:
    """Days from a naive UTC timestamp to ``as_of``, with fractions (negative after it)."""
    return (pl.lit(as_of, dtype=pl.Datetime("us")) - expr).dt.total_microseconds() / _DAY_US


def _days_since(args: Sequence[pl.Expr], as_of: dt.datetime | None) -> pl.Expr:
    assert as_of is not None  # the type checker refuses days_since without an as-of date
    return days_since(args[0], as_of)


def _log1p(args: Sequence[pl.Expr], _: dt.datetime | None) -> pl.Expr:
    x = args[0]
    return pl.when(x > -1).then(x.log1p())  # log(1 + x) is undefined at x <= -1: missing


_ALL = [
    Helper(
        "days_since",
        ("when",),
        ("date",),
        "number",
        _days_since,
        "days from a date or timestamp column to the run's as-of date (fractions of a day "
        "count; negative for later dates)",
        needs_as_of=True,
        hint="days_since needs a date or timestamp column. A number column that already counts "
        "days, such as segml's rfm__recency_days (days to the scoring cutoff), needs no helper: "
        "compare it directly (rfm__recency_days > 30); text dates must be parsed into a date "
        "column before segmenting",
    ),
    Helper(
        "coalesce",
        ("a", "b"),
        (None, None),
        None,
        lambda args, _: pl.coalesce(args),
        "the first argument that is not missing",
        variadic=True,
    ),
    Helper("abs", ("x",), ("number",), "number", lambda a, _: a[0].abs(), "absolute value"),
    Helper(
        "min",
        ("a", "b"),
        ("number", "number"),
        "number",
        lambda args, _: pl.min_horizontal(args),
        "the smallest argument, skipping missing ones",
        variadic=True,
    ),
    Helper(
        "max",
        ("a", "b"),
        ("number", "number"),
        "number",
        lambda args, _: pl.max_horizontal(args),
        "the largest argument, skipping missing ones",
        variadic=True,
    ),
    Helper("log1p", ("x",), ("number",), "number", _log1p, "log(1 + x); missing for x <= -1"),
    Helper(
        "lower",
        ("s",),
        ("text",),
        "text",
        lambda a, _: a[0].str.to_lowercase(),
        "the text in lower case",
    ),
    Helper(
        "contains",
        ("s", "part"),
        ("text", "text"),
        "bool",
        lambda a, _: a[0].str.contains(a[1], literal=True),
        "true where s contains part (plain text, case-sensitive; not a pattern)",
    ),
]
HELPERS: dict[str, Helper] = {h.name: h for h in _ALL}


def allowed_helpers() -> str:
    """The helpers' names for error messages: ``abs, coalesce, ...``."""
    return ", ".join(sorted(HELPERS))

"""Type-check a parsed condition against a frame's schema and compile it to a Polars expression.

Every value has one of four kinds: ``number`` (any integer, float or decimal column), ``text``
(string, categorical, enum), ``bool`` or ``date`` (date and timestamp columns, read as naive UTC
timestamps). Comparisons need the same kind on both sides (order comparisons and arithmetic need
numbers; a date enters arithmetic and comparisons as ``days_since(x)``), ``and``/``or``/``not``
need true/false, helpers need the kinds their signature names (``functions.py``), and a whole
condition must be true/false. Missing values follow SQL's three-valued logic (Polars' Kleene
logic): a comparison with a missing value is unknown, ``not unknown`` is unknown, and a condition
that ends up unknown does not match. NaN counts as missing, and ``x / 0`` is missing.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import polars as pl

from segml.segments.functions import HELPERS, Kind
from segml.segments.language import parse_condition
from segml.segments.syntax import (
    Arith,
    Between,
    Call,
    Compare,
    ConditionError,
    Const,
    In,
    IsNull,
    Logic,
    Name,
    Neg,
    Node,
    Not,
    Param,
    pointer,
)

__all__ = ["Compiled", "Kind", "column_kinds", "compile_condition", "compile_value"]

_COMPARE: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _kind_of(dtype: pl.DataType) -> Kind | None:
    if dtype.is_numeric():
        return "number"
    if dtype == pl.Boolean:
        return "bool"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        return "text"
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return "date"
    return None


def _as_utc(column: str, dtype: pl.DataType) -> pl.Expr:
    """A date or timestamp column as naive UTC microseconds (a date: midnight at its start)."""
    expr = pl.col(column)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return expr.cast(pl.Datetime("us"))


def column_kinds(schema: Mapping[str, pl.DataType]) -> dict[str, Kind | None]:
    """The kind of every column (None for types conditions cannot use, e.g. durations, lists)."""
    return {name: _kind_of(dtype) for name, dtype in schema.items()}


@dataclass(frozen=True)
class Compiled:
    """A checked condition: its Polars expression, kind, and the columns and thresholds it reads."""

    expr: pl.Expr
    kind: Kind
    columns: frozenset[str]
    params: frozenset[str]


class _Compiler:
    def __init__(
        self,
        source: str,
        schema: Mapping[str, pl.DataType],
        params: Mapping[str, float] | None,
        as_of: dt.datetime | None,
    ) -> None:
        self.source = source
        self.schema = schema
        self.kinds = column_kinds(schema)
        self.params = params
        self.as_of = as_of
        self.columns: set[str] = set()
        self.used: set[str] = set()

    def fail(self, node: Node, message: str) -> ConditionError:
        return ConditionError(f"{message}{pointer(self.source, node.start)}")

    def text(self, node: Node) -> str:
        return self.source[node.start : node.end]

    def described(self, node: Node, kind: Kind) -> str:
        return f"{self.text(node)} ({kind})"

    def visit(self, node: Node) -> tuple[pl.Expr, Kind]:
        method: Callable[[Node], tuple[pl.Expr, Kind]] = getattr(
            self, f"visit_{type(node).__name__.lower()}"
        )
        return method(node)

    def visit_name(self, node: Name) -> tuple[pl.Expr, Kind]:
        if node.name not in self.kinds:
            raise self.fail(node, _unknown_column(node.name, list(self.kinds)))
        kind = self.kinds[node.name]
        dtype = self.schema[node.name]
        if kind is None:
            raise self.fail(
                node,
                f"column {node.name!r} has type {dtype}, which conditions cannot use; they "
                "compare numbers, text, true/false and dates (as days_since(x))",
            )
        self.columns.add(node.name)
        expr = pl.col(node.name)
        if kind == "date":
            expr = _as_utc(node.name, dtype)
        elif dtype.is_float():
            expr = expr.fill_nan(None)
        elif kind == "text" and dtype != pl.String:
            expr = expr.cast(pl.String)
        return expr, kind

    def visit_param(self, node: Param) -> tuple[pl.Expr, Kind]:
        if self.params is None:
            raise self.fail(node, f"@{node.name}: a threshold cannot refer to a threshold")
        if node.name not in self.params:
            known = sorted(self.params)
            close = difflib.get_close_matches(node.name, known, n=3, cutoff=0.6)
            hint = f"did you mean {', '.join('@' + c for c in close)}? " if close else ""
            raise self.fail(
                node,
                f"unknown threshold @{node.name}; {hint}defined thresholds: "
                f"{['@' + k for k in known] or 'none'} (under thresholds: in the rule set)",
            )
        self.used.add(node.name)
        return pl.lit(float(self.params[node.name])), "number"

    def visit_const(self, node: Const) -> tuple[pl.Expr, Kind]:
        if isinstance(node.value, bool):
            return pl.lit(node.value), "bool"
        if isinstance(node.value, str):
            return pl.lit(node.value, dtype=pl.String), "text"
        return pl.lit(node.value), "number"

    def visit_neg(self, node: Neg) -> tuple[pl.Expr, Kind]:
        expr = self.number(node.operand, "'-'")
        return -expr, "number"

    def visit_arith(self, node: Arith) -> tuple[pl.Expr, Kind]:
        left, right = self.number(node.left, repr(node.op)), self.number(node.right, repr(node.op))
        if node.op == "+":
            return left + right, "number"
        if node.op == "-":
            return left - right, "number"
        if node.op == "*":
            return left * right, "number"
        return pl.when(right != 0).then(left / right), "number"

    def visit_compare(self, node: Compare) -> tuple[pl.Expr, Kind]:
        (left, lk), (right, rk) = self.visit(node.left), self.visit(node.right)
        for side, kind in ((node.left, lk), (node.right, rk)):
            if kind == "date":
                raise self.fail(side, self.dates_as_days(side, repr(node.op)))
        if lk != rk:
            raise self.fail(
                node,
                f"cannot compare {self.described(node.left, lk)} with "
                f"{self.described(node.right, rk)} using {node.op!r}; both sides must be "
                "numbers, both text or both true/false",
            )
        if node.op not in ("==", "!=") and lk != "number":
            raise self.fail(
                node,
                f"{node.op!r} orders numbers, but {self.described(node.left, lk)} is not a "
                "number; use == or != (or in (...)) for text and true/false",
            )
        return _COMPARE[node.op](left, right), "bool"

    def visit_in(self, node: In) -> tuple[pl.Expr, Kind]:
        expr, kind = self.visit(node.operand)
        if kind == "date":
            raise self.fail(node.operand, self.dates_as_days(node.operand, "in (...)"))
        for value in node.values:
            _, vk = self.visit_const(value)
            if vk != kind:
                raise self.fail(
                    value,
                    f"the list for {self.described(node.operand, kind)} holds "
                    f"{self.described(value, vk)}; every value must be {kind}",
                )
        values = [v.value for v in node.values]
        if kind == "number":  # compare as floats: an int column with 1.5 in the list is fine
            expr, values = expr.cast(pl.Float64), [float(v) for v in values]
        member = expr.is_in(pl.lit(pl.Series(values)).implode())
        return (~member if node.negated else member), "bool"

    def visit_between(self, node: Between) -> tuple[pl.Expr, Kind]:
        what = "between"
        expr = self.number(node.operand, what)
        low, high = self.number(node.low, what), self.number(node.high, what)
        inside = (expr >= low) & (expr <= high)
        return (~inside if node.negated else inside), "bool"

    def visit_isnull(self, node: IsNull) -> tuple[pl.Expr, Kind]:
        expr, _ = self.visit(node.operand)
        return (expr.is_not_null() if node.negated else expr.is_null()), "bool"

    def visit_not(self, node: Not) -> tuple[pl.Expr, Kind]:
        return ~self.boolean(node.operand, "not"), "bool"

    def visit_logic(self, node: Logic) -> tuple[pl.Expr, Kind]:
        left, right = self.boolean(node.left, node.op), self.boolean(node.right, node.op)
        return (left & right if node.op == "and" else left | right), "bool"

    def visit_call(self, node: Call) -> tuple[pl.Expr, Kind]:
        helper = HELPERS[node.name]  # the parser only builds calls of known helpers
        args = [self.visit(arg) for arg in node.args]
        # the kind the signature's "any kind" arguments share: the first such argument's
        same = next((k for i, (_, k) in enumerate(args) if helper.kind_of(i) is None), None)
        for i, (arg, (_, kind)) in enumerate(zip(node.args, args, strict=True)):
            wanted = helper.kind_of(i) or same
            if kind != wanted:
                hint = "; they must all be of one kind" if helper.kind_of(i) is None else ""
                if kind == "date" and not helper.needs_as_of:
                    hint += f"; write days_since({self.text(arg)})"
                raise self.fail(
                    arg,
                    f"{helper.name}() needs {wanted} for its {helper.argument(i)}, but "
                    f"{self.described(arg, kind)} is {kind}{hint}. Signature: "
                    f"{helper.signature}{'. ' + helper.hint if helper.hint else ''}",
                )
        if helper.needs_as_of and self.as_of is None:
            raise self.fail(
                node,
                f"{self.text(node)} needs the run's as-of date, and none was given: pass as_of= "
                "to Segmenter or export_segments (the scoring cutoff, e.g. as_of='2024-06-01'); "
                "segml never takes it from the clock or the data",
            )
        result = helper.result or same
        assert result is not None  # a helper without a result kind has "any kind" arguments
        return helper.build([expr for expr, _ in args], self.as_of), result

    def dates_as_days(self, node: Node, what: str) -> str:
        return (
            f"{self.described(node, 'date')} is a date, which {what} cannot use; conditions use "
            f"dates as days: write days_since({self.text(node)}) (days to the run's as-of date)"
        )

    def number(self, node: Node, what: str) -> pl.Expr:
        expr, kind = self.visit(node)
        if kind == "date":
            raise self.fail(node, self.dates_as_days(node, what))
        if kind != "number":
            raise self.fail(
                node, f"{what} needs numbers, but {self.described(node, kind)} is not a number"
            )
        return expr

    def boolean(self, node: Node, what: str) -> pl.Expr:
        expr, kind = self.visit(node)
        if kind != "bool":
            raise self.fail(
                node,
                f"{what} needs true/false on each side, but {self.described(node, kind)} is "
                f"not; write a comparison such as {self.text(node)} > 0",
            )
        return expr


def _unknown_column(name: str, columns: list[str]) -> str:
    extended = sorted(c for c in columns if c.startswith(name))  # a truncated name first
    close = list(dict.fromkeys(extended + difflib.get_close_matches(name, columns, cutoff=0.6)))
    close = close[:3]
    if close:
        return f"unknown column {name!r}; did you mean {' or '.join(repr(c) for c in close)}?"
    families = sorted({c.split("__", 1)[0] + "__*" for c in columns if "__" in c})
    return (
        f"unknown column {name!r}; no column has a similar name. The data has {len(columns)} "
        f"columns ({', '.join(families)}); see segml.describe(name) for feature columns"
    )


def compile_value(
    source: str,
    *,
    schema: Mapping[str, pl.DataType],
    params: Mapping[str, float] | None,
    as_of: dt.datetime | None = None,
) -> Compiled:
    """Parse and check an expression of any kind (a threshold's ``of``, a baseline).
    ``as_of``: the run's as-of date (naive UTC), for ``days_since``."""
    node = parse_condition(source)
    compiler = _Compiler(source, schema, params, as_of)
    expr, kind = compiler.visit(node)
    return Compiled(expr, kind, frozenset(compiler.columns), frozenset(compiler.used))


def compile_condition(
    source: str,
    *,
    schema: Mapping[str, pl.DataType],
    params: Mapping[str, float] | None,
    as_of: dt.datetime | None = None,
) -> Compiled:
    """Parse and check a condition; its expression is true exactly where the condition holds
    (unknown, because of missing values, counts as false). ``params`` holds the thresholds'
    values; None where thresholds may not be used (inside a threshold's own definition).
    ``as_of``: the run's as-of date (naive UTC) that ``days_since`` counts to."""
    compiled = compile_value(source, schema=schema, params=params, as_of=as_of)
    if compiled.kind != "bool":
        raise ConditionError(
            f"the condition must be true or false for each customer, but {source.strip()!r} "
            f"is {compiled.kind}; write a comparison such as {source.strip()} == 1"
            f"{pointer(source, 0)}"
        )
    return Compiled(compiled.expr.fill_null(False), "bool", compiled.columns, compiled.params)

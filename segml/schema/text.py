"""Text hygiene, applied only where the data needs it.

Text columns are trimmed, empty strings become null, ids written as floats ('123.0') become
'123', and event types are lower-cased. Every rule is checked during the validation read and
applied to the prepared table only when some value needs it, so clean data pays for one check
instead of a rewrite in every later query:

- label columns (event type, category, status, channel, country, ...) are checked on their
  distinct values, counted by a group_by that shares the validation scan;
- id columns are checked with column expressions; an integer id column stays an integer (a
  faster key), ``customer_id`` only when it is an integer in every table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import narwhals.stable.v2 as nw

__all__ = ["ID_COLUMNS", "TextPlan", "as_text", "integer_ids"]

ID_COLUMNS = ("customer_id", "order_id", "product_id", "session_id")
_FLOAT_ID = r"^(\d+)\.0+$"


def integer_ids(schemas: list[Any], names: list[str]) -> bool:
    """Whether ``customer_id`` is an integer column in every table (then it stays one)."""
    dtypes = [schema.get(name) for schema, name in zip(schemas, names, strict=True)]
    return all(d is not None and d.is_integer() for d in dtypes)


class TextPlan:
    """Which text rules one table needs: ``checks``/``queries`` in the validation pass,
    ``learn`` from their results, then ``apply`` to the prepared table."""

    def __init__(self, schema: Any, columns: list[str], *, int_ids: bool) -> None:
        self.dtypes = {c: schema[c] for c in columns}
        kept = [
            c
            for c in columns
            if c in ID_COLUMNS and schema[c].is_integer() and (c != "customer_id" or int_ids)
        ]
        self.ids = [c for c in columns if c in ID_COLUMNS and c not in kept]
        self.labels = [c for c in columns if c not in ID_COLUMNS]
        self.needs: dict[str, set[str]] = {c: set() for c in self.ids + self.labels}
        self.values: dict[str, dict[Any, int]] = {}

    @staticmethod
    def rules(column: str) -> tuple[str, ...]:
        extra = {"customer_id": ("float_id",), "event_type": ("lower",)}
        return ("strip", *extra.get(column, ()))

    def checks(self) -> dict[str, nw.Expr]:
        """Id columns: how many values each rule would change (scalar aggregations)."""
        out: dict[str, nw.Expr] = {}
        for c in self.ids:
            raw = self._raw(c)
            stripped = raw.str.strip_chars()
            tests = {
                "strip": (stripped != raw) | (raw == ""),
                "float_id": stripped.str.contains(_FLOAT_ID),
            }
            for rule in self.rules(c):
                out[f"{c}__{rule}"] = tests[rule].fill_null(False).cast(nw.Int64).sum()
        return out

    def queries(self, lf: nw.LazyFrame[Any]) -> list[nw.LazyFrame[Any]]:
        """Label columns: one value-count query each (run together with the checks)."""
        return [
            lf.select(self._raw(c).alias(c)).group_by(c).agg(nw.len().alias("n"))
            for c in self.labels
        ]

    def learn(self, counts: dict[str, Any], value_counts: list[Any]) -> None:
        """Record which rules are needed, from the checks and the value counts."""
        for c in self.ids:
            self.needs[c] = {r for r in self.rules(c) if counts.get(f"{c}__{r}")}
        for c, frame in zip(self.labels, value_counts, strict=True):
            keys, counts_ = frame.get_column(c).to_list(), frame.get_column("n").to_list()
            values = dict(zip(keys, counts_, strict=True))
            self.values[c] = values
            text = [v for v in values if v is not None]
            needs = set()
            if any(v != v.strip() or v == "" for v in text):
                needs.add("strip")
            if "lower" in self.rules(c) and any(v.strip() != v.strip().lower() for v in text):
                needs.add("lower")
            self.needs[c] = needs

    def count(self, column: str, test: Callable[[str | None], bool]) -> int:
        """Rows of a label column whose cleaned value passes ``test`` (after ``learn``)."""
        return sum(n for v, n in self.values[column].items() if test(_clean_value(column, v)))

    def clean(self, column: str, *, rules: set[str] | None = None) -> nw.Expr:
        """``column`` with ``rules`` applied (all of its rules when None)."""
        if column not in self.needs:
            return nw.col(column)
        todo = set(self.rules(column)) if rules is None else rules
        s = self._raw(column)
        if "strip" in todo:
            s = s.str.strip_chars()
            s = nw.when(s == "").then(None).otherwise(s)
        if "float_id" in todo:
            s = s.str.replace_all(_FLOAT_ID, "$1")
        if "lower" in todo:
            s = s.str.to_lowercase()
        return s.alias(column)

    def apply(self, lf: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        exprs = [
            self.clean(c, rules=rules)
            for c, rules in self.needs.items()
            if rules or self.dtypes[c] != nw.String
        ]
        return lf.with_columns(*exprs) if exprs else lf

    def _raw(self, column: str) -> nw.Expr:
        return as_text(column, self.dtypes[column])


def as_text(column: str, dtype: Any) -> nw.Expr:
    """``column`` as a string expression (a cast only when its ``dtype`` is not already text)."""
    col = nw.col(column)
    return col if dtype == nw.String else col.cast(nw.String)


def _clean_value(column: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    out = value.strip()
    return out.lower() if "lower" in TextPlan.rules(column) else out

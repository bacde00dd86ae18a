"""What one segmentation produced, as one value: who is in which segment, the report, and the
values that qualified them. ``Segmenter.segment`` returns it; exports read it (segment once,
export many) and nothing mutates it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from segml.segments.report import SegmentReport
from segml.segments.rules import RuleSet

__all__ = ["SegmentResult", "split_values", "value_columns"]


@dataclass(frozen=True)
class SegmentResult:
    """One segmentation of a customer table.

    Attributes
    ----------
    members : one row per customer (per matching segment in membership mode), in
        ``customer_id`` order: ``customer_id``, ``segment``, ``priority``, ``primary``,
        ``group`` (treatment/control/null: the control-group flag), ``eligible__<channel>``,
        ``reachable``.
    report : SegmentReport: thresholds, counts, control groups, power, overlaps, notes (and the
        changes against a previous run after ``segml.segments.transitions.with_changes``).
    rule_set : the validated RuleSet that produced it.
    qualifying : per segment, the columns its condition read plus the score columns present:
        what its audiences carry.
    values : ``customer_id``, ``_row`` (its row number), every qualifying column and the
        carried ones (``Segmenter.segment(carry=...)``), one row per customer of the input
        table (None when there are none).
    as_of : the as-of date ``days_since`` counted to (None when not given).
    transitions : from -> to segment since the previous run (after ``with_changes``).
    """

    members: pl.DataFrame
    report: SegmentReport
    rule_set: RuleSet
    qualifying: dict[str, list[str]]
    values: pl.DataFrame | None = None
    as_of: dt.datetime | None = None
    transitions: pl.DataFrame | None = None


def value_columns(
    qualifying: dict[str, list[str]],
    carry: Sequence[str] = (),
    schema: Mapping[str, Any] | None = None,
) -> list[str]:
    """The columns any segment's audiences carry (``customer_id`` aside), and those of
    ``carry`` that ``schema`` has, sorted."""
    carried = {c for c in carry if schema is not None and c in schema}
    return sorted(({c for cols in qualifying.values() for c in cols} | carried) - {"customer_id"})


def split_values(base: pl.DataFrame, wanted: list[str]) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """``base`` without the ``_v__<column>`` values, and the values as ``_row``,
    ``customer_id`` and each column (None when no column qualified anyone)."""
    if not wanted:
        return base, None
    values = base.select("customer_id", *[pl.col(f"_v__{c}").alias(c) for c in wanted])
    return base.drop([f"_v__{c}" for c in wanted]), values.with_row_index("_row")

"""Change over time: where customers moved since the previous run, and how segment sizes
changed, flagged when a change is beyond the rule set's ``changes:`` threshold.

Customers are compared by their primary segment (the one segment every customer has in both
modes). A customer only in the previous run moved to ``(gone)``; one only in this run came from
``(new)``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import polars as pl

from segml.errors import DataError
from segml.io import resolve_published
from segml.segments.result import SegmentResult
from segml.segments.rules import ChangeSettings
from segml.segments.segmenter import open_customer_table

__all__ = ["GONE", "NEW", "read_previous", "segment_changes", "with_changes"]

NEW, GONE = "(new)", "(gone)"


def read_previous(previous: Any) -> tuple[pl.DataFrame, str]:
    """The primary segment per customer of a previous run: a run folder (its members.parquet),
    a members file, or a members frame; and a name for it."""
    name = str(previous) if isinstance(previous, str | Path) else "previous members"
    if isinstance(previous, str | Path) and resolve_published(previous).is_dir():
        previous = resolve_published(previous) / "members.parquet"  # the live version's file
        if not previous.is_file():
            raise DataError(
                f"{name} has no members.parquet; pass the folder of an earlier `segml segment` "
                "run (or its members.parquet)."
            )
    frame, _ = open_customer_table(previous)
    missing = sorted({"customer_id", "segment"} - set(frame.collect_schema().names()))
    if missing:
        raise DataError(
            f"the previous assignment {name} is missing columns {missing}; pass the "
            "members.parquet of an earlier `segml segment` run."
        )
    if "primary" in frame.collect_schema().names():
        frame = frame.filter(pl.col("primary"))
    primary = frame.select(pl.col("customer_id").cast(pl.String), pl.col("segment").cast(pl.String))
    return primary.collect(), name


def segment_changes(
    previous: Any,
    current: pl.DataFrame,
    *,
    settings: ChangeSettings | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The transition table (``from_segment``, ``to_segment``, ``customers``) between the
    previous run and ``current`` (a members frame), and a summary with size changes per
    segment, each ``flagged`` when it moves at least ``min_customers`` customers and by more
    than ``max_relative_change`` of the previous size (or the segment is new or emptied)."""
    settings = settings or ChangeSettings()
    before, name = read_previous(previous)
    after = current.filter(pl.col("primary")).select("customer_id", "segment")
    joined = before.rename({"segment": "from_segment"}).join(
        after.rename({"segment": "to_segment"}), on="customer_id", how="full", coalesce=True
    )
    joined = joined.with_columns(
        pl.col("from_segment").fill_null(NEW), pl.col("to_segment").fill_null(GONE)
    )
    table = (
        joined.group_by("from_segment", "to_segment")
        .agg(pl.len().alias("customers"))
        .sort("from_segment", "to_segment")
    )
    old = dict(before.group_by("segment").len().iter_rows())
    new = dict(after.group_by("segment").len().iter_rows())
    sizes = [_size(s, old.get(s, 0), new.get(s, 0), settings) for s in _order(current, old)]
    moved = joined.filter(
        (pl.col("from_segment") != pl.col("to_segment"))
        & (pl.col("from_segment") != NEW)
        & (pl.col("to_segment") != GONE)
    ).height
    summary = {
        "previous": name,
        "moved": moved,
        "new": int(joined.filter(pl.col("from_segment") == NEW).height),
        "gone": int(joined.filter(pl.col("to_segment") == GONE).height),
        "max_relative_change": settings.max_relative_change,
        "min_customers": settings.min_customers,
        "sizes": sizes,
    }
    return table, summary


def _order(current: pl.DataFrame, old: dict[str, int]) -> list[str]:
    """Segments in the current run's priority order, then those only in the previous run."""
    ranked = (
        current.group_by("segment")
        .agg(pl.col("priority").min())
        .sort("priority", "segment", nulls_last=True)
    )
    names = ranked.get_column("segment").to_list()
    return names + sorted(s for s in old if s not in names)


def _size(segment: str, before: int, after: int, settings: ChangeSettings) -> dict[str, Any]:
    change = after - before
    relative = change / before if before else None
    big = abs(change) >= max(settings.min_customers, 1)
    flagged = big and (relative is None or abs(relative) > settings.max_relative_change)
    return {
        "segment": segment,
        "previous": before,
        "current": after,
        "change": change,
        "relative_change": relative,
        "flagged": bool(flagged),
    }


def with_changes(result: SegmentResult, previous: Any) -> SegmentResult:
    """A copy of ``result`` with the transition table and size changes against ``previous`` (an
    earlier run folder, its members.parquet or a members frame); its report gets the changes and
    a note per segment whose size changed beyond the rule set's ``changes:`` threshold."""
    transitions, changes = segment_changes(
        previous, result.members, settings=result.rule_set.changes
    )
    notes = [
        f"segment {row['segment']!r} changed size beyond the threshold: "
        f"{row['previous']:,} -> {row['current']:,}."
        for row in changes["sizes"]
        if row["flagged"]
    ]
    report = dataclasses.replace(result.report, changes=changes, notes=result.report.notes + notes)
    return dataclasses.replace(result, report=report, transitions=transitions)

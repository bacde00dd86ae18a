"""Audiences: who to contact per segment and channel, from one segmentation.

Speed: the audiences come from one pass over the members (one join on a few narrow columns to
find each member's row of qualifying values, one split by segment, no per-audience sort: the
members are already in ``customer_id`` order); see ``audience_frames``. The run folder they are
written to is ``segml.exports.run``; where each audience goes, ``segml.exports.destinations``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import polars as pl

from segml.exports.destinations import Audience
from segml.segments import RuleSet
from segml.segments.result import SegmentResult, value_columns

__all__ = ["AUDIENCE_COLUMNS", "audience_frames", "audiences_of"]

AUDIENCE_COLUMNS = ["customer_id", "segment", "channel", "control", "message", "offer"]
AUDIENCE_COLUMNS += ["window_start", "window_end"]


def _values(
    customers: pl.DataFrame | pl.LazyFrame | None, qualifying: dict[str, list[str]]
) -> pl.DataFrame | None:
    """The columns that qualified anyone, one row per customer, with ``_row`` its row number."""
    wanted = value_columns(qualifying)
    if customers is None or not wanted:
        return None
    values = customers.lazy().select(pl.col("customer_id").cast(pl.String), *wanted)
    return values.collect().with_row_index("_row")


def audience_frames(
    members: pl.DataFrame,
    *,
    rule_set: RuleSet,
    customers: pl.DataFrame | pl.LazyFrame | None = None,
    qualifying: dict[str, list[str]] | None = None,
) -> dict[str, pl.DataFrame]:
    """``"<segment>/<channel>"`` -> the members who may be contacted on the channel (they
    consent), treatment and control, in ``customer_id`` order, with ``control`` true for the
    hold-out (never send to them), the segment's message, offer and window, then the values of
    the columns that qualified them (``qualifying[segment]``, read from ``customers``).

    One pass: the eligible members (a few narrow columns) are matched to their row of
    ``customers`` once, split by segment once, and each audience gathers only its own
    qualifying columns."""
    qualifying = qualifying or {}
    values = _values(customers, qualifying)
    frames = _frames(members, rule_set=rule_set, values=values, qualifying=qualifying)
    return {f"{a.segment}/{a.channel}": a.frame for a in frames}


def audiences_of(result: SegmentResult, *, extra: Sequence[str] = ()) -> list[Audience]:
    """Every audience of a segmentation, by rule priority then channel (``audience_frames``),
    with the ``extra`` columns of ``result.values`` after the qualifying ones (those it has)."""
    qualifying = result.qualifying
    if extra and result.values is not None:
        have = [c for c in extra if c in result.values.columns and c not in AUDIENCE_COLUMNS]
        qualifying = {k: v + [c for c in have if c not in v] for k, v in qualifying.items()}
    audiences = _frames(
        result.members, rule_set=result.rule_set, values=result.values, qualifying=qualifying
    )
    if result.as_of is None:
        return audiences
    return [replace(a, as_of=result.as_of) for a in audiences]


def _frames(
    members: pl.DataFrame,
    *,
    rule_set: RuleSet,
    values: pl.DataFrame | None,
    qualifying: dict[str, list[str]],
) -> list[Audience]:
    flags = [f"eligible__{c}" for c in rule_set.channels]
    eligible = members.select("customer_id", "segment", "group", *flags).filter(
        pl.any_horizontal(flags) if flags else pl.lit(False)
    )
    if not eligible.get_column("customer_id").is_sorted():  # a Segmenter's members already are
        eligible = eligible.sort("customer_id", maintain_order=True)
    if values is not None:
        index = values.select("customer_id", "_row")
        eligible = eligible.join(index, on="customer_id", how="left", maintain_order="left")
    by_segment = eligible.partition_by("segment", as_dict=True, maintain_order=True)
    out = []
    for rule in rule_set.ordered():
        mine = by_segment.get((rule.name,), eligible.clear())
        window = rule.window
        start = None if window is None or window.start is None else str(window.start)
        end = None if window is None or window.end is None else str(window.end)
        scores = [] if values is None else qualifying.get(rule.name, [])
        for channel in rule.channels:
            audience = mine.filter(pl.col(f"eligible__{channel}"))
            frame = audience.select(
                "customer_id",
                "segment",
                pl.lit(channel).alias("channel"),
                (pl.col("group") == "control").alias("control"),
                pl.lit(rule.message, pl.String).alias("message"),
                pl.lit(rule.offer, pl.String).alias("offer"),
                pl.lit(start, pl.String).alias("window_start"),
                pl.lit(end, pl.String).alias("window_end"),
            )
            if values is not None and scores:  # a missing customer's row is null: null values
                rows = audience.get_column("_row")
                frame = frame.hstack([values.get_column(c).gather(rows) for c in scores])
            out.append(Audience(rule.name, channel, rule, frame))
    return out

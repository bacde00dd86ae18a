"""Engagement family: email/SMS opens and clicks, ad clicks, sessions and active days."""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from segml.features._expr import count_if, safe_div
from segml.features.family import (
    BEHAVIOURAL,
    CLUSTER,
    FamilyPlan,
    FeatureContext,
    FeatureFamily,
    column,
    register_family,
)

__all__ = ["engagement_aggs", "engagement_finish", "engagement_frames"]

_CONTACTS = ("email_open", "email_click", "sms_click", "ad_click")
_COUNTS = {
    "email_opens": "email_open",
    "email_clicks": "email_click",
    "sms_clicks": "sms_click",
    "ad_clicks": "ad_click",
}


def engagement_aggs(cut: float, *, window: int) -> list[nw.Expr]:
    """Aggregations over a customer's events before ``cut`` (one group_by with the others)."""
    recent = nw.col("t") >= cut - window
    etype = nw.col("event_type")
    return [
        *[
            count_if(recent & (etype == e)).alias(f"engagement__{k}_{window}d")
            for k, e in _COUNTS.items()
        ],
        count_if(etype == "email_open").alias("_opens_all"),
        count_if(etype == "email_click").alias("_clicks_all"),
        nw.when(etype.is_in(_CONTACTS))
        .then(nw.col("t"))
        .otherwise(None)
        .max()
        .alias("_last_contact"),
    ]


def engagement_frames(
    past: nw.LazyFrame[Any], cut: float, *, window: int
) -> list[nw.LazyFrame[Any]]:
    """Active days and sessions in the window, counted from distinct (customer, key) pairs.

    ``past`` is the events before ``cut``. A session is its id or, for events without one, the
    day they happened on. Distinct pairs stream; ``n_unique`` inside a group_by would hold every
    event of the window in memory. Sessions are counted in one distinct pass over
    (customer, session id, day when there is no id): one read of the events, not two.
    """
    day = nw.col("t").floor()
    in_window = past.filter(nw.col("t") >= cut - window)
    web = in_window.filter(~nw.col("event_type").is_in(_CONTACTS))
    if "session_id" in past.collect_schema().names():
        # one distinct pass: (id, null) pairs for events with an id, (null, day) without one
        no_id = nw.col("session_id").is_null()
        keys = [nw.col("session_id"), nw.when(no_id).then(day).otherwise(None).alias("_day")]
        session_counts = _distinct(web, keys, "_sessions")
    else:
        session_counts = _distinct(web, [day.alias("_key")], "_sessions")
    return [_distinct(in_window, [day.alias("_key")], "_active_days"), session_counts]


def _distinct(frame: nw.LazyFrame[Any], keys: list[nw.Expr], name: str) -> nw.LazyFrame[Any]:
    pairs = frame.select("customer_id", *keys).unique()
    return pairs.group_by("customer_id").agg(nw.len().alias(name))


def engagement_finish(cut: float, *, window: int) -> list[nw.Expr]:
    counts = [f"engagement__{k}_{window}d" for k in _COUNTS]
    return [
        *[nw.col(c).fill_null(0).cast(nw.Float64) for c in counts],
        safe_div(nw.col("_clicks_all"), nw.col("_opens_all")).alias("engagement__email_click_rate"),
        (cut - nw.col("_last_contact")).alias("engagement__days_since_engagement"),
        nw.col("_sessions").fill_null(0).cast(nw.Float64).alias(f"engagement__sessions_{window}d"),
        nw.col("_active_days")
        .fill_null(0)
        .cast(nw.Float64)
        .alias(f"engagement__active_days_{window}d"),
    ]


class EngagementFamily(FeatureFamily):
    """Email/SMS/ad interactions, sessions and active days, over a look-back window."""

    name = "engagement"
    description = "email/SMS opens and clicks, ad clicks, sessions and active days"
    needs = frozenset({"events"})
    tags = frozenset({BEHAVIOURAL, CLUSTER})
    columns = (
        column(
            "engagement__email_opens_{window}d", "email opens in the last {window} days", "count"
        ),
        column(
            "engagement__email_clicks_{window}d",
            "email clicks in the last {window} days",
            "count",
            words=("fewer email clicks", "more email clicks"),
        ),
        column("engagement__sms_clicks_{window}d", "SMS clicks in the last {window} days", "count"),
        column("engagement__ad_clicks_{window}d", "ad clicks in the last {window} days", "count"),
        column("engagement__email_click_rate", "email clicks per email open, all history", "rate"),
        column(
            "engagement__days_since_engagement",
            "days since the last email/SMS/ad interaction",
            "days",
            "days",
            words=("recently engaged", "disengaged"),
        ),
        column(
            "engagement__sessions_{window}d",
            "browsing sessions in the last {window} days",
            "count",
            words=("fewer visits", "more visits"),
        ),
        column(
            "engagement__active_days_{window}d",
            "days with any event in the last {window} days",
            "days",
        ),
    )

    def plan(self, ctx: FeatureContext) -> FamilyPlan:
        window = ctx.settings["engagement_window_days"]
        past = ctx.table("events").filter(nw.col("t") < ctx.cut)
        return FamilyPlan(
            frames=engagement_frames(past, ctx.cut, window=window),
            event_aggs=engagement_aggs(ctx.cut, window=window),
            finish=engagement_finish(ctx.cut, window=window),
        )


FAMILY = register_family(EngagementFamily())

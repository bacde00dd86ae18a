"""Engagement family: email/SMS opens and clicks, ad clicks, sessions and active days."""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from segml.features._expr import count_if, safe_div

__all__ = ["engagement_finish", "engagement_frames"]

_CONTACTS = ("email_open", "email_click", "sms_click", "ad_click")
_COUNTS = {
    "email_opens": "email_open",
    "email_clicks": "email_click",
    "sms_clicks": "sms_click",
    "ad_clicks": "ad_click",
}


def engagement_frames(
    events: nw.LazyFrame[Any], cut: float, *, window: int
) -> list[nw.LazyFrame[Any]]:
    past = events.filter(nw.col("t") < cut)
    recent = nw.col("t") >= cut - window
    etype = nw.col("event_type")
    has_session = "session_id" in events.collect_schema().names()
    day = nw.col("t").floor()
    session = nw.col("session_id").fill_null(day.cast(nw.String)) if has_session else day
    agg = past.group_by("customer_id").agg(
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
    )
    in_window = past.filter(recent)
    days = in_window.group_by("customer_id").agg(day.n_unique().alias("_active_days"))
    sessions = (
        in_window.filter(~etype.is_in(_CONTACTS))
        .group_by("customer_id")
        .agg(session.n_unique().alias("_sessions"))
    )
    return [agg, days, sessions]


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

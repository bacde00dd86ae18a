"""Segment profiles (size, revenue share, key features against the base, top categories) and
readable names generated from them.

A name is ``<value tier> <frequency> <recency state> <dominant category or channel> <noun>``,
each word only when the data has the feature behind it:

- value tier, from the segment's median ``rfm__monetary_total`` placed in the whole base: in
  the base's top third "high-value", in its bottom third "low-value", else "mid-value";
- frequency, from the median ``rfm__frequency``: at most 1 "one-time", in the base's top third
  "frequent", else "repeat";
- recency state, from the median ``rfm__recency_days``: in the base's most recent third
  "active", in its least recent third "lapsed", else "cooling";
- the dominant category: the category (spend shares, else product-view shares) whose mean share
  in the segment is at least 0.25 and at least 1.5 times its share in the base; failing that a
  channel ("email-engaged", "sms-responsive", "ad-driven") whose clicks are at least twice the
  base's; failing that nothing;
- the noun: "buyers", or "browsers" when the median customer of the segment never bought (then
  value, frequency and recency are left out).

Names are made unique by a suffix (" #2"); the config's ``clustering.names`` overrides them by id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from segml.clusters.algorithms import NOISE

__all__ = ["KEY_FEATURES", "UNCLUSTERED", "format_profile", "name_segments", "profile_segments"]

UNCLUSTERED = "unclustered"
KEY_FEATURES = (
    "rfm__recency_days",
    "rfm__frequency",
    "rfm__monetary_total",
    "rfm__monetary_mean",
    "engagement__sessions_90d",
    "engagement__email_clicks_90d",
)
_CHANNELS = {
    "engagement__email_clicks_90d": "email-engaged",
    "engagement__sms_clicks_90d": "sms-responsive",
    "engagement__ad_clicks_90d": "ad-driven",
}
_REVENUE = "rfm__monetary_total"


def profile_segments(
    features: pd.DataFrame,
    ids: np.ndarray,
    *,
    names: Mapping[int, str] | None = None,
    key_features: Sequence[str] = KEY_FEATURES,
) -> pd.DataFrame:
    """One row per segment plus a last row for all customers (``cluster__id`` missing).

    Columns: ``cluster__id``, ``cluster__name``, ``customers``, ``share``, ``revenue_share``,
    then ``<feature>:median``, ``<feature>:mean`` and ``<feature>:ratio`` (segment mean / base
    mean) for each key feature present, and ``top_categories`` (the three largest mean shares).
    """
    keys = [c for c in key_features if c in features.columns]
    revenue = features[_REVENUE].fillna(0.0) if _REVENUE in features.columns else None
    rows = []
    groups = [(int(i), ids == i) for i in sorted(set(ids.tolist()))]
    for seg, mask in [*groups, (None, np.ones(len(ids), dtype=bool))]:
        part = features.loc[mask]
        row: dict[str, Any] = {
            "cluster__id": seg,
            "cluster__name": "all customers" if seg is None else (names or {}).get(seg, str(seg)),
            "customers": int(mask.sum()),
            "share": float(mask.mean()),
            "revenue_share": (
                float(revenue[mask].sum() / revenue.sum()) if revenue is not None
                and revenue.sum() > 0 else np.nan
            ),
        }  # fmt: skip
        for c in keys:
            base = features[c].mean()
            row[f"{c}:median"] = _median(part[c])
            row[f"{c}:mean"] = float(part[c].mean())
            row[f"{c}:ratio"] = float(part[c].mean() / base) if base else np.nan
        shares = _category_shares(features, mask)
        if shares is not None:
            top = shares.loc[mask].mean().sort_values(ascending=False).head(3)
            row["top_categories"] = ", ".join(f"{k} {v:.0%}" for k, v in top.items() if v >= 0.005)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["cluster__id"] = table["cluster__id"].astype("Int64")
    return table


def name_segments(features: pd.DataFrame, ids: np.ndarray) -> dict[int, str]:
    """A readable, unique name per segment id (rules in the module docstring)."""
    names: dict[int, str] = {}
    for seg in sorted(set(ids.tolist())):
        if seg == NOISE:
            names[seg] = UNCLUSTERED
            continue
        mask = ids == seg
        words = _rfm_words(features, mask)
        focus = _focus(features, _category_shares(features, mask), mask)
        noun = "browsers" if words is None else "buyers"
        name = " ".join([*(words or []), *([focus] if focus else []), noun])
        names[seg] = name if name != "buyers" else f"segment {seg}"
    return _unique(names)


def _rfm_words(features: pd.DataFrame, mask: np.ndarray) -> list[str] | None:
    """Value, frequency and recency words; None when the median customer never bought."""
    words: list[str] = []
    if "rfm__frequency" in features.columns:
        freq = features["rfm__frequency"].fillna(0.0)
        median = freq[mask].median()
        if median == 0:
            return None
        if _REVENUE in features.columns:
            words.append(_tier(features[_REVENUE].fillna(0.0), mask,
                               ("low-value", "mid-value", "high-value")))  # fmt: skip
        high = freq.quantile(2 / 3)
        words.append("one-time" if median <= 1 else "frequent" if median >= high else "repeat")
    if "rfm__recency_days" in features.columns:
        rec = features["rfm__recency_days"]
        words.append(_tier(rec, mask, ("active", "cooling", "lapsed")))
    return words


def _median(column: pd.Series) -> float:
    """The median, NaN (without a warning) when every value is missing."""
    return float(column.median()) if column.notna().any() else np.nan


def _tier(column: pd.Series, mask: np.ndarray, labels: tuple[str, str, str]) -> str:
    median = _median(column[mask])
    low, high = column.quantile(1 / 3), column.quantile(2 / 3)
    return labels[0] if median <= low else labels[2] if median >= high else labels[1]


def _focus(features: pd.DataFrame, shares: pd.DataFrame | None, mask: np.ndarray) -> str | None:
    if shares is not None:
        seg, base = shares.loc[mask].mean(), shares.mean()
        lift = (seg / base.replace(0, np.nan)).fillna(0.0)
        ok = seg[(seg >= 0.25) & (lift >= 1.5)]
        if not ok.empty:
            return str(ok.idxmax()).replace("_", "-")
    for column, word in _CHANNELS.items():
        if column in features.columns:
            base = features[column].mean()
            if base > 0 and features.loc[mask, column].mean() >= 2 * base:
                return word
    return None


def _category_shares(features: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame | None:
    """Per-category shares, columns named by category: spend shares, or product-view shares
    when the segment's customers mostly bought nothing (or the data has no spend shares)."""
    found = None
    for prefix in ("affinity__spend_share_", "affinity__view_share_"):
        cols = [c for c in features.columns if c.startswith(prefix) and not c.endswith("_other")]
        if cols:
            found = features[cols].fillna(0.0)
            found.columns = [c.removeprefix(prefix) for c in cols]
            if found.loc[mask].sum(axis=1).mean() >= 0.5:
                return found
    return found


def _unique(names: dict[int, str]) -> dict[int, str]:
    seen: dict[str, int] = {}
    out = {}
    for seg, name in names.items():
        seen[name] = seen.get(name, 0) + 1
        out[seg] = name if seen[name] == 1 else f"{name} #{seen[name]}"
    return out


def format_profile(profile: pd.DataFrame) -> str:
    """The profile as a plain-text table for the terminal (medians; shares in %)."""
    show = pd.DataFrame({
        "id": profile["cluster__id"].astype("string").fillna("all"),
        "name": profile["cluster__name"],
        "customers": profile["customers"].map("{:,}".format),
        "share": profile["share"].map("{:.1%}".format),
        "revenue": profile["revenue_share"].map(lambda v: "" if v != v else f"{v:.1%}"),
    })  # fmt: skip
    for column, label in (("rfm__recency_days", "recency d"), ("rfm__frequency", "orders"),
                          ("rfm__monetary_total", "spend")):  # fmt: skip
        if f"{column}:median" in profile:
            show[label] = profile[f"{column}:median"].map(lambda v: "" if v != v else f"{v:,.0f}")
    if "top_categories" in profile:
        show["top categories"] = profile["top_categories"].fillna("")
    return show.to_string(index=False)

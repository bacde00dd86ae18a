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

When two or more segments get the same name, each is qualified by the profile feature that sets
it furthest apart from the others of that name (segment mean minus their mean, in units of the
base's standard deviation), in words: "low-value one-time lapsed buyers (bigger baskets)" and
"... (more returns)"; the words per feature are the ``words`` of its entry in the feature
registry (its family module); features without words are not used. Only when no feature tells
them apart does a " #2" suffix remain.
The config's ``clustering.names`` overrides names by id.

Everything is computed on numpy arrays in one pass per segment, so profiling 1M customers takes
about a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from segml.clusters.algorithms import NOISE
from segml.features.registry import describe, qualifier_words, share_prefixes

__all__ = [
    "KEY_FEATURES",
    "QUALIFIERS",
    "UNCLUSTERED",
    "format_profile",
    "name_segments",
    "profile_segments",
]

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
# feature -> (word when the segment is lower, word when it is higher), for telling apart
# segments that got the same name: the ``words`` of each column in the feature registry
# (templates such as engagement__sessions_{window}d apply to every window)
QUALIFIERS: dict[str, tuple[str, str]] = qualifier_words()
# per-category share templates in the registry: affinity__spend_share_, affinity__view_share_
_SHARE_PREFIXES = share_prefixes()


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
    values = {c: features[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in keys}
    base_mean = {c: _mean(v) for c, v in values.items()}
    revenue = _column(features, _REVENUE)
    revenue = None if revenue is None else np.nan_to_num(revenue)
    share_tables = _share_tables(features)
    rows = []
    groups = [(int(i), ids == i) for i in sorted(set(ids.tolist()))]
    for seg, mask in [*groups, (None, np.ones(len(ids), dtype=bool))]:
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
        for c, v in values.items():
            mean = _mean(v[mask])
            row[f"{c}:median"] = _median(v[mask])
            row[f"{c}:mean"] = mean
            row[f"{c}:ratio"] = mean / base_mean[c] if base_mean[c] else np.nan
        shares = _pick_shares(share_tables, mask)
        if shares is not None:
            labels, table = shares
            seg_mean = table[mask].mean(axis=0)
            top = np.argsort(-seg_mean, kind="stable")[:3]
            row["top_categories"] = ", ".join(
                f"{labels[j]} {seg_mean[j]:.0%}" for j in top if seg_mean[j] >= 0.005
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    table["cluster__id"] = table["cluster__id"].astype("Int64")
    return table


def name_segments(features: pd.DataFrame, ids: np.ndarray) -> dict[int, str]:
    """A readable, unique name per segment id (rules in the module docstring)."""
    base = _Base(features)
    names: dict[int, str] = {}
    for seg in sorted(set(ids.tolist())):
        if seg == NOISE:
            names[seg] = UNCLUSTERED
            continue
        mask = ids == seg
        words = base.rfm_words(mask)
        focus = base.focus(mask)
        noun = "browsers" if words is None else "buyers"
        name = " ".join([*(words or []), *([focus] if focus else []), noun])
        names[seg] = name if name != "buyers" else f"segment {seg}"
    return _unique(_qualify(features, ids, names))


class _Base:
    """The whole base's quantiles and shares, computed once for naming every segment."""

    def __init__(self, features: pd.DataFrame) -> None:
        freq, revenue = _column(features, "rfm__frequency"), _column(features, _REVENUE)
        self.freq = None if freq is None else np.nan_to_num(freq)
        self.revenue = None if revenue is None else np.nan_to_num(revenue)
        self.recency = _column(features, "rfm__recency_days")
        self.shares = _share_tables(features)
        self.channels = {
            word: v for c, word in _CHANNELS.items() if (v := _column(features, c)) is not None
        }
        self.cuts = {
            name: (_quantile(v, 1 / 3), _quantile(v, 2 / 3))
            for name, v in (
                ("freq", self.freq),
                ("revenue", self.revenue),
                ("recency", self.recency),
            )
            if v is not None
        }

    def rfm_words(self, mask: np.ndarray) -> list[str] | None:
        """Value, frequency and recency words; None when the median customer never bought."""
        words: list[str] = []
        if self.freq is not None:
            median = float(np.median(self.freq[mask]))
            if median == 0:
                return None
            if self.revenue is not None:
                words.append(
                    self._tier(
                        self.revenue, mask, "revenue", ("low-value", "mid-value", "high-value")
                    )
                )
            high = self.cuts["freq"][1]
            words.append("one-time" if median <= 1 else "frequent" if median >= high else "repeat")
        if self.recency is not None:
            words.append(self._tier(self.recency, mask, "recency", ("active", "cooling", "lapsed")))
        return words

    def _tier(self, v: np.ndarray, mask: np.ndarray, name: str, labels: tuple[str, ...]) -> str:
        median = _median(v[mask])
        low, high = self.cuts[name]
        return labels[0] if median <= low else labels[2] if median >= high else labels[1]

    def focus(self, mask: np.ndarray) -> str | None:
        picked = _pick_shares(self.shares, mask)
        if picked is not None:
            labels, table = picked
            seg, base = table[mask].mean(axis=0), table.mean(axis=0)
            lift = np.divide(seg, base, out=np.zeros_like(seg), where=base > 0)
            ok = (seg >= 0.25) & (lift >= 1.5)
            if ok.any():
                return labels[int(np.argmax(np.where(ok, seg, -1.0)))].replace("_", "-")
        for word, v in self.channels.items():
            base_mean = _mean(v)
            if base_mean > 0 and _mean(v[mask]) >= 2 * base_mean:
                return word
        return None


def _qualify(features: pd.DataFrame, ids: np.ndarray, names: dict[int, str]) -> dict[int, str]:
    """Append to each of several same-named segments its most distinctive feature (in words)."""
    groups: dict[str, list[int]] = {}
    for seg, name in names.items():
        if seg != NOISE:
            groups.setdefault(name, []).append(seg)
    out = dict(names)
    candidates = _qualifier_columns(features)
    for name, segs in groups.items():
        if len(segs) < 2 or not candidates:
            continue
        used: set[str] = set()
        means = {s: {c: _mean(v[ids == s]) for c, (v, _, _) in candidates.items()} for s in segs}
        for s in sorted(segs, key=lambda s: -int((ids == s).sum())):
            scored = []
            for c, (_, std, words) in candidates.items():
                others = np.nanmean([means[o][c] for o in segs if o != s])
                z = (means[s][c] - others) / std
                if np.isfinite(z):
                    scored.append((abs(z), words[int(z > 0)]))
            for _, word in sorted(scored, reverse=True):
                if word not in used and word not in name:
                    out[s] = f"{name} ({word})"
                    used.add(word)
                    break
    return out


def _qualifier_columns(
    features: pd.DataFrame,
) -> dict[str, tuple[np.ndarray, float, tuple[str, str]]]:
    """Column -> (values, base standard deviation, (lower word, higher word))."""
    out = {}
    for c in features.columns:
        c = str(c)
        words = _words(c)
        for prefix in _SHARE_PREFIXES:
            if words is None and c.startswith(prefix) and not c.endswith("_other"):
                cat = c.removeprefix(prefix).replace("_", "-")
                kind = "spend" if "spend" in prefix else "views"
                words = (f"less {cat} {kind}", f"more {cat} {kind}")
        if words is None or not pd.api.types.is_numeric_dtype(features[c].dtype):
            continue
        v = features[c].to_numpy(dtype=np.float64, na_value=np.nan)
        std = float(np.nanstd(v)) if np.isfinite(v).any() else 0.0
        if std > 0:
            out[c] = (v, std, words)
    return out


def _words(column: str) -> tuple[str, str] | None:
    try:
        return describe(column).words
    except KeyError:
        return None


def _column(features: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in features.columns:
        return None
    return features[name].to_numpy(dtype=np.float64, na_value=np.nan)


def _mean(v: np.ndarray) -> float:
    """The mean of the present values, NaN (without a warning) when none is present."""
    present = v[~np.isnan(v)]
    return float(present.mean()) if len(present) else np.nan


def _median(v: np.ndarray | pd.Series) -> float:
    """The median of the present values, NaN (without a warning) when none is present."""
    v = np.asarray(v, dtype=np.float64)
    present = v[~np.isnan(v)]
    return float(np.median(present)) if len(present) else np.nan


def _quantile(v: np.ndarray, q: float) -> float:
    present = v[~np.isnan(v)]
    return float(np.quantile(present, q)) if len(present) else np.nan


def _share_tables(features: pd.DataFrame) -> list[tuple[list[str], np.ndarray]]:
    """(category labels, shares with missing as 0) for spend shares, then product-view shares."""
    out = []
    for prefix in _SHARE_PREFIXES:
        cols = [
            c
            for c in features.columns
            if str(c).startswith(prefix) and not str(c).endswith("_other")
        ]
        if cols:
            table = np.nan_to_num(features[cols].to_numpy(dtype=np.float64, na_value=np.nan))
            out.append(([str(c).removeprefix(prefix) for c in cols], table))
    return out


def _pick_shares(
    tables: list[tuple[list[str], np.ndarray]], mask: np.ndarray
) -> tuple[list[str], np.ndarray] | None:
    """Spend shares, or product-view shares when the segment's customers mostly bought nothing
    (or the data has no spend shares)."""
    for labels, table in tables:
        if table[mask].sum(axis=1).mean() >= 0.5:
            return labels, table
    return tables[-1] if tables else None


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
    for column, label in (
        ("rfm__recency_days", "recency d"),
        ("rfm__frequency", "orders"),
        ("rfm__monetary_total", "spend"),
    ):
        if f"{column}:median" in profile:
            show[label] = profile[f"{column}:median"].map(lambda v: "" if v != v else f"{v:,.0f}")
    if "top_categories" in profile:
        show["top categories"] = profile["top_categories"].fillna("")
    return show.to_string(index=False)

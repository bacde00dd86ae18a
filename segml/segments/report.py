"""What a segmentation did: thresholds and how they were derived, per-segment counts, control
groups, audience sizes per channel, the lift each test can detect, and notes on what to check."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from segml.segments.consent import required_consent
from segml.segments.power import minimum_detectable_lift
from segml.segments.rules import PowerSettings, RuleSet, SegmentRule
from segml.segments.thresholds import ThresholdValue

__all__ = ["SegmentReport", "segment_stats"]


@dataclass
class SegmentReport:
    """Returned as ``Segmenter.report_``; ``str()`` renders it for the terminal."""

    mode: str
    customers: int
    salt: str
    rules_fingerprint: str
    baseline: str
    thresholds: list[ThresholdValue] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    overlaps: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, Any] | None = None  # against the previous run, when one was given
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "customers": self.customers,
            "salt": self.salt,
            "rules_fingerprint": self.rules_fingerprint,
            "baseline": self.baseline,
            "thresholds": [t.to_dict() for t in self.thresholds],
            "segments": self.segments,
            "overlaps": self.overlaps,
            "changes": self.changes,
            "notes": self.notes,
        }

    def __str__(self) -> str:
        lines = [f"segments ({self.mode}) over {self.customers:,} customers, salt {self.salt!r}"]
        lines += ["thresholds:"] + [f"  {t}" for t in self.thresholds] if self.thresholds else []
        channels = sorted({k for s in self.segments for k in s["audience"]})
        head = ["segment", "members", "matched", "treatment", "control", "ctrl %", *channels]
        rows = [[*head, "MDE abs/rel", "flags"]]
        for s in self.segments:
            mde = s["mde"]
            realised = s.get("control_realised")
            rows.append(
                [s["segment"], *(f"{s[k]:,}" for k in ("members", "matched", "treatment"))]
                + [f"{s['control']:,}", "-" if realised is None else f"{realised:.1%}"]
                + [f"{s['audience'][c]:,}" if c in s["audience"] else "-" for c in channels]
                + [f"{mde['absolute']:.3f}/{mde['relative']:.0%}" if mde else "-"]
                + [",".join(s.get("flags", []))]
            )
        lines += _table(rows)
        lines.append(f"baseline conversion for the MDE: {self.baseline}")
        lines += _overlap_lines(self.overlaps)
        lines += _change_lines(self.changes)
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _overlap_lines(overlaps: dict[str, Any], top: int = 10) -> list[str]:
    pairs = overlaps.get("pairs") or []
    if not pairs:
        return []
    lines = [
        f"overlaps (customers matching both; the {min(top, len(pairs))} largest of "
        f"{len(pairs)} pairs, all in report.json):"
    ]
    for p in pairs[:top]:
        went = (
            f", {p['to_segment']:,} assigned to {p['segment']}, {p['to_higher_priority']:,} to a "
            "higher priority"
            if "to_segment" in p
            else ""
        )
        lines.append(f"  {p['segment']} & {p['other']}: {p['both']:,}{went}")
    return lines


def _change_lines(changes: dict[str, Any] | None) -> list[str]:
    if not changes:
        return []
    lines = [f"changes since the previous run ({changes['previous']}):"]
    for row in changes["sizes"]:
        flag = "  FLAGGED" if row["flagged"] else ""
        rel = "new" if row["relative_change"] is None else f"{row['relative_change']:+.0%}"
        lines.append(f"  {row['segment']}: {row['previous']:,} -> {row['current']:,} ({rel}){flag}")
    lines.append(
        f"  {changes['moved']:,} customers changed segment (transitions in the run folder)"
    )
    return lines


def segment_stats(
    members: pl.DataFrame,
    *,
    rule_set: RuleSet,
    matched: dict[str, int],
    present: set[str] = frozenset(),  # type: ignore[assignment]
    skipped: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """One summary row per segment (priority order, then the default segment) and notes.
    ``members`` may carry ``_baseline`` (each customer's baseline conversion) and
    ``_cs__<column>`` (consent state: 1, 0, null) for the consent columns in ``present``."""
    by_name = {row["segment"]: row for row in _aggregate(members, present).iter_rows(named=True)}
    consent = required_consent(rule_set)
    out, notes = [], []
    skipped = skipped or {}
    for rule in rule_set.ordered():
        row = by_name.get(rule.name, {"members": 0, "treatment": 0, "control": 0})
        entry = _entry(rule.name, rule.priority, row, matched.get(rule.name, 0), rule.channels)
        entry |= _campaign(rule)
        entry["exclusions"] = {
            c: _exclusions(row, consent[(rule.name, c)], present) for c in rule.channels
        }
        entry["control_share"] = rule_set.control_share(rule)
        entry["control_realised"], entry["control_tolerance"] = _realised(entry)
        entry["min_size"] = rule_set.min_size_of(rule)
        entry["mde"], reason = _mde(row, rule_set.power)
        entry["flags"] = _flags(entry, rule_set.power.max_relative_lift, rule.name in skipped)
        out.append(entry)
        notes += _notes(rule, entry, reason, skipped.get(rule.name), rule_set)
    default = by_name.get(rule_set.default_segment, {"members": 0})
    entry = _entry(rule_set.default_segment, None, default, default["members"], [])
    out.append(entry | {"flags": [], "exclusions": {}})
    return out, notes


def _aggregate(members: pl.DataFrame, present: set[str]) -> pl.DataFrame:
    channels = [c for c in members.columns if c.startswith("eligible__")]
    treated = pl.col("group") == "treatment"
    control = pl.col("group") == "control"
    reach_baseline = pl.col("_baseline").filter(pl.col("reachable"))
    consent = []
    for column in sorted(present):
        state = pl.col(f"_cs__{column}")
        consent.append((state == 0).sum().alias(f"no__{column}"))
        consent.append(state.is_null().sum().alias(f"unknown__{column}"))
    return members.group_by("segment").agg(
        pl.len().alias("members"),
        treated.sum().alias("treatment"),
        control.sum().alias("control"),
        (treated & pl.col("reachable")).sum().alias("reach_t"),
        (control & pl.col("reachable")).sum().alias("reach_c"),
        *[(treated & pl.col(c)).sum().alias(c) for c in channels],
        *[(control & pl.col(c)).sum().alias(f"held__{c}") for c in channels],
        *consent,
        *(
            []
            if "_baseline" not in members.columns
            else [
                pl.when(pl.col("reachable").any())
                .then(reach_baseline.mean())
                .otherwise(pl.col("_baseline").mean())
                .alias("baseline")
            ]
        ),
    )


def _campaign(rule: SegmentRule) -> dict[str, Any]:
    window = rule.window
    return {
        "message": rule.message,
        "offer": rule.offer,
        "window_start": None if window is None or window.start is None else str(window.start),
        "window_end": None if window is None or window.end is None else str(window.end),
    }


def _exclusions(row: dict[str, Any], column: str | None, present: set[str]) -> dict[str, int]:
    """Members (either group) kept out of a channel's audience, by reason."""
    if column is None or not row.get("members"):
        return {}
    if column not in present:
        return {"no_consent_column": int(row["members"])}
    found = {
        "no_opt_in": int(row.get(f"no__{column}") or 0),
        "consent_unknown": int(row.get(f"unknown__{column}") or 0),
    }
    return {k: v for k, v in found.items() if v}


def _realised(entry: dict[str, Any]) -> tuple[float | None, float | None]:
    """The realised control share and its tolerance: 4 binomial standard errors of the
    configured share at this size, plus one customer (a per-customer draw is binomial, not
    exact; with 4 standard errors a sound draw is flagged about once in 16,000 segments)."""
    n, share = entry["treatment"] + entry["control"], entry["control_share"]
    if not n:
        return None, None
    return entry["control"] / n, 4 * math.sqrt(share * (1 - share) / n) + 1 / n


def _flags(entry: dict[str, Any], max_relative_lift: float, skipped: bool) -> list[str]:
    if skipped:
        return ["skipped"]
    flags = []
    if entry["members"] < entry["min_size"]:
        flags.append("too_small")
    if entry["members"] and entry["channels"]:
        mde = entry["mde"]
        if mde is None or mde["relative"] > max_relative_lift:
            flags.append("untestable")
    realised, tolerance = entry["control_realised"], entry["control_tolerance"]
    if realised is not None and abs(realised - entry["control_share"]) > tolerance:
        flags.append("control_off")
    return flags


def _notes(
    rule: SegmentRule,
    entry: dict[str, Any],
    reason: str,
    skipped: str | None,
    rule_set: RuleSet,
) -> list[str]:
    name, flags = rule.name, entry["flags"]
    if skipped:
        return [f"segment {name!r} skipped (optional): {skipped}."]
    notes = []
    if entry["members"] == 0:
        notes.append(f"segment {name!r} has no members: check its condition.")
    small = (
        f"{entry['members']:,} members, fewer than its minimum size {entry['min_size']:,}"
        if "too_small" in flags
        else ""
    )
    if reason and rule.channels:  # a segment without channels is only reported
        notes.append(f"segment {name!r}: " + "; ".join(filter(None, [small, reason])))
    elif "untestable" in flags:
        notes.append(
            f"segment {name!r} is too small to test"
            + (f" ({small})" if small else "")
            + f": the smallest lift it can detect is {entry['mde']['relative']:.0%} of the "
            f"baseline, more than power.max_relative_lift "
            f"{rule_set.power.max_relative_lift:.0%} (raise its control_share, merge it, or "
            "read it out over a longer window)."
        )
    elif small:
        notes.append(f"segment {name!r} has {small}.")
    if "control_off" in flags:
        notes.append(
            f"segment {name!r}: control share {entry['control_realised']:.2%} is outside "
            f"{entry['control_share']:.2%} +- {entry['control_tolerance']:.2%}."
        )
    return notes


def _entry(
    name: str, priority: int | None, row: dict[str, Any], matched: int, channels: list[str]
) -> dict[str, Any]:
    return {
        "segment": name,
        "priority": priority,
        "members": int(row["members"]),
        "matched": int(matched),
        "treatment": int(row.get("treatment") or 0),
        "control": int(row.get("control") or 0),
        "channels": list(channels),
        "audience": {c: int(row.get(f"eligible__{c}") or 0) for c in channels},
        "held_out": {c: int(row.get(f"held__eligible__{c}") or 0) for c in channels},
        "reachable_treatment": int(row.get("reach_t") or 0),
        "reachable_control": int(row.get("reach_c") or 0),
        "baseline": row.get("baseline"),
        "mde": None,
    }


def _mde(row: dict[str, Any], power: PowerSettings) -> tuple[dict[str, float] | None, str]:
    n_t, n_c, p = row.get("reach_t") or 0, row.get("reach_c") or 0, row.get("baseline")
    if not row["members"]:
        return None, ""
    if n_t < 1 or n_c < 1:
        return None, (
            f"no minimum detectable lift: {n_t} reachable treatment and {n_c} reachable "
            "control customers (a test needs both; check channels, consent and control_share)"
        )
    if p is None or not 0 < p < 1:
        return None, f"no minimum detectable lift: the baseline conversion is {p!r}"
    lift = minimum_detectable_lift(n_t, n_c, p, alpha=power.alpha, power=power.power)
    return {"absolute": lift.absolute, "relative": lift.relative}, ""

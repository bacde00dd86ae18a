"""What a segmentation did: thresholds and how they were derived, per-segment counts, control
groups, audience sizes per channel, the lift each test can detect, and notes on what to check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from segml.segments.power import minimum_detectable_lift
from segml.segments.rules import PowerSettings, RuleSet
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
            "notes": self.notes,
        }

    def __str__(self) -> str:
        lines = [f"segments ({self.mode}) over {self.customers:,} customers, salt {self.salt!r}"]
        lines += ["thresholds:"] + [f"  {t}" for t in self.thresholds] if self.thresholds else []
        channels = sorted({k for s in self.segments for k in s["audience"]})
        head = ["segment", "members", "matched", "treatment", "control", *channels, "MDE abs/rel"]
        rows = [head]
        for s in self.segments:
            mde = s["mde"]
            shown = f"{mde['absolute']:.3f}/{mde['relative']:.0%}" if mde else "-"
            rows.append(
                [s["segment"], *(f"{s[k]:,}" for k in ("members", "matched", "treatment"))]
                + [f"{s['control']:,}"]
                + [f"{s['audience'][c]:,}" if c in s["audience"] else "-" for c in channels]
                + [shown]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines += [
            "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines.append(f"baseline conversion for the MDE: {self.baseline}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def segment_stats(
    members: pl.DataFrame,
    *,
    rule_set: RuleSet,
    matched: dict[str, int],
) -> tuple[list[dict[str, Any]], list[str]]:
    """One summary row per segment (rule-set order, then the default segment) and notes.
    ``members`` may carry ``_baseline``, each customer's baseline conversion."""
    channels = [c for c in members.columns if c.startswith("eligible__")]
    treated = pl.col("group") == "treatment"
    reach_baseline = pl.col("_baseline").filter(pl.col("reachable"))
    stats = members.group_by("segment").agg(
        pl.len().alias("members"),
        treated.sum().alias("treatment"),
        (pl.col("group") == "control").sum().alias("control"),
        (treated & pl.col("reachable")).sum().alias("reach_t"),
        ((pl.col("group") == "control") & pl.col("reachable")).sum().alias("reach_c"),
        *[(treated & pl.col(c)).sum().alias(c) for c in channels],
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
    by_name = {row["segment"]: row for row in stats.iter_rows(named=True)}
    out, notes = [], []
    for rule in rule_set.ordered():
        row = by_name.get(rule.name, {"members": 0, "treatment": 0, "control": 0})
        entry = _entry(rule.name, rule.priority, row, matched.get(rule.name, 0), rule.channels)
        entry["control_share"] = rule_set.control_share(rule)
        entry["mde"], reason = _mde(row, rule_set.power)
        out.append(entry)
        if entry["members"] == 0:
            notes.append(f"segment {rule.name!r} has no members: check its condition.")
        elif reason and rule.channels:  # a segment without channels is only reported
            notes.append(f"segment {rule.name!r}: {reason}")
    default = by_name.get(rule_set.default_segment, {"members": 0})
    out.append(_entry(rule_set.default_segment, None, default, default["members"], []))
    return out, notes


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
        "audience": {c: int(row.get(f"eligible__{c}") or 0) for c in channels},
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

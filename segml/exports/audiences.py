"""Audiences: who to contact per segment and channel, written atomically with a manifest.

A segment run folder holds::

    members.parquet                          every customer: segment, priority, primary, group,
                                             eligible__<channel>, reachable
    audiences/<segment>/<channel>.parquet    everyone in the segment who may be contacted on the
    audiences/<segment>/<channel>.csv        channel (consent), control flag included; send to
                                             control == false
    transitions.parquet, transitions.csv     from -> to segment since the previous run (if given)
    report.json                              thresholds, counts, control groups, lifts, overlaps,
                                             exclusions, changes
    _manifest.json                           rule-set hash, counts per segment and channel,
                                             exclusions, rows and SHA-256 of every file

The folder is swapped into place only when every file is written, so a reader sees the previous
complete run or the new complete run, never a mix; a failed run leaves the previous one as it was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from segml.io import atomic_dir, file_sha256, write_frame, write_json
from segml.segments import RuleSet, Segmenter, SegmentReport
from segml.segments.segmenter import open_customer_table
from segml.segments.transitions import segment_changes

__all__ = ["SegmentRun", "audience_frames", "export_segments", "write_segment_run"]

AUDIENCE_COLUMNS = ["customer_id", "segment", "channel", "control", "message", "offer"]
AUDIENCE_COLUMNS += ["window_start", "window_end"]


@dataclass(frozen=True)
class SegmentRun:
    path: Path
    report: SegmentReport
    manifest: dict[str, Any]


def audience_frames(
    members: pl.DataFrame,
    *,
    rule_set: RuleSet,
    customers: pl.DataFrame | pl.LazyFrame | None = None,
    qualifying: dict[str, list[str]] | None = None,
) -> dict[str, pl.DataFrame]:
    """``"<segment>/<channel>"`` -> the members who may be contacted on the channel (they
    consent), treatment and control, with ``control`` true for the hold-out (never send to
    them), the segment's message, offer and window, then the values of the columns that
    qualified them (``qualifying[segment]``, read from ``customers``)."""
    qualifying = qualifying or {}
    flags = [f"eligible__{c}" for c in rule_set.channels]
    eligible = members.filter(pl.any_horizontal(flags) if flags else pl.lit(False))
    wanted = sorted({c for cols in qualifying.values() for c in cols})
    if customers is not None and wanted:
        values = customers.lazy().select(pl.col("customer_id").cast(pl.String), *wanted)
        eligible = eligible.join(values.collect(), on="customer_id", how="left")
    out = {}
    for rule in rule_set.ordered():
        mine = eligible.filter(pl.col("segment") == rule.name)
        window = rule.window
        start = None if window is None or window.start is None else str(window.start)
        end = None if window is None or window.end is None else str(window.end)
        scores = [c for c in qualifying.get(rule.name, []) if c in mine.columns]
        for channel in rule.channels:
            out[f"{rule.name}/{channel}"] = (
                mine.filter(pl.col(f"eligible__{channel}"))
                .select(
                    "customer_id",
                    "segment",
                    pl.lit(channel).alias("channel"),
                    (pl.col("group") == "control").alias("control"),
                    pl.lit(rule.message, pl.String).alias("message"),
                    pl.lit(rule.offer, pl.String).alias("offer"),
                    pl.lit(start, pl.String).alias("window_start"),
                    pl.lit(end, pl.String).alias("window_end"),
                    *scores,
                )
                .sort("customer_id")
            )
    return out


def _counts(report: SegmentReport) -> dict[str, Any]:
    """Per segment: members and groups; per channel the send list (treatment), the held-out
    controls and the members excluded for lack of consent, by reason."""
    out = {}
    for s in report.segments:
        out[s["segment"]] = {
            "members": s["members"],
            "treatment": s["treatment"],
            "control": s["control"],
            "flags": s.get("flags", []),
            "channels": {
                c: {
                    "send": s["audience"][c],
                    "control": s.get("held_out", {}).get(c, 0),
                    "excluded": s.get("exclusions", {}).get(c, {}),
                }
                for c in s["audience"]
            },
        }
    return out


def write_segment_run(
    members: pl.DataFrame,
    report: SegmentReport,
    *,
    rule_set: RuleSet,
    out: str | Path,
    source: str | None = None,
    customers: pl.DataFrame | pl.LazyFrame | None = None,
    qualifying: dict[str, list[str]] | None = None,
    transitions: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """Write the run folder ``out`` atomically; returns the manifest."""
    out = Path(out)
    files: dict[str, pl.DataFrame] = {"members.parquet": members}
    audiences = audience_frames(
        members, rule_set=rule_set, customers=customers, qualifying=qualifying
    )
    for key, frame in audiences.items():
        files[f"audiences/{key}.parquet"] = frame
        files[f"audiences/{key}.csv"] = frame
    if transitions is not None:
        files["transitions.parquet"] = transitions
        files["transitions.csv"] = transitions
    with atomic_dir(out) as tmp:
        written = {}
        for name, frame in files.items():
            path = write_frame(frame, tmp / name)
            written[name] = {"rows": frame.height, "sha256": file_sha256(path)}
        write_json(report.to_dict(), tmp / "report.json")
        manifest = {
            "source": source,
            "customers": report.customers,
            "mode": rule_set.mode,
            "salt": rule_set.control.salt,
            "rules_fingerprint": rule_set.fingerprint(),
            "rules": rule_set.model_dump(mode="json"),
            "thresholds": {t.name: t.value for t in report.thresholds},
            "segments": _counts(report),
            "changes": report.changes,
            "files": written,
            "written_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        write_json(manifest, tmp / "_manifest.json")
    return manifest


def export_segments(data: Any, *, rules: Any, out: str | Path, previous: Any = None) -> SegmentRun:
    """Segment ``data`` (features + scores, one row per customer, or a path to them) with
    ``rules`` and write the run folder ``out``. ``previous``: an earlier run folder (``out``
    itself works: it is read before being replaced), its members.parquet or a members frame,
    for the transition table and size changes."""
    frame, _ = open_customer_table(data)
    segmenter = Segmenter(rules=rules)
    members = segmenter.fit_transform(frame)  # a Polars frame in, a Polars frame out
    transitions = None
    if previous is not None:
        transitions, changes = segment_changes(
            previous, members, settings=segmenter.rule_set_.changes
        )
        segmenter.report_.changes = changes
        segmenter.report_.notes += [
            f"segment {row['segment']!r} changed size beyond the threshold: "
            f"{row['previous']:,} -> {row['current']:,}."
            for row in changes["sizes"]
            if row["flagged"]
        ]
    manifest = write_segment_run(
        members,
        segmenter.report_,
        rule_set=segmenter.rule_set_,
        out=out,
        source=str(data) if isinstance(data, str | Path) else None,
        customers=frame,
        qualifying=segmenter.qualifying_,
        transitions=transitions,
    )
    return SegmentRun(Path(out), segmenter.report_, manifest)

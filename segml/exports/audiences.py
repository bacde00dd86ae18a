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

Speed: the audiences come from one pass over the members (one join on a few narrow columns to
find each member's row of qualifying values, one split by segment, no per-audience sort: the
members are already in ``customer_id`` order); see ``audience_frames``.
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


def _values(
    customers: pl.DataFrame | pl.LazyFrame | None, qualifying: dict[str, list[str]]
) -> pl.DataFrame | None:
    """The columns that qualified anyone, one row per customer, with ``_row`` its row number."""
    wanted = sorted({c for cols in qualifying.values() for c in cols})
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
    flags = [f"eligible__{c}" for c in rule_set.channels]
    eligible = members.select("customer_id", "segment", "group", *flags).filter(
        pl.any_horizontal(flags) if flags else pl.lit(False)
    )
    if not eligible.get_column("customer_id").is_sorted():  # a Segmenter's members already are
        eligible = eligible.sort("customer_id", maintain_order=True)
    values = _values(customers, qualifying)
    if values is not None:
        index = values.select("customer_id", "_row")
        eligible = eligible.join(index, on="customer_id", how="left", maintain_order="left")
    by_segment = eligible.partition_by("segment", as_dict=True, maintain_order=True)
    out = {}
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
            out[f"{rule.name}/{channel}"] = frame
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
    as_of: dt.datetime | None = None,
) -> dict[str, Any]:
    """Write the run folder ``out`` atomically; returns the manifest (``as_of``: the as-of date
    the conditions' ``days_since`` counted to, recorded in it)."""
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
            "as_of": None if as_of is None else as_of.isoformat(),
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


def export_segments(
    data: Any, *, rules: Any, out: str | Path, previous: Any = None, as_of: Any = None
) -> SegmentRun:
    """Segment ``data`` (features + scores, one row per customer, or a path to them) with
    ``rules`` and write the run folder ``out``. ``previous``: an earlier run folder (``out``
    itself works: it is read before being replaced), its members.parquet or a members frame,
    for the transition table and size changes. ``as_of``: the run's as-of date (the scoring
    cutoff), needed only by conditions that use ``days_since``."""
    frame, _ = open_customer_table(data)
    segmenter = Segmenter(rules=rules, as_of=as_of)
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
        as_of=segmenter.as_of_,
    )
    return SegmentRun(Path(out), segmenter.report_, manifest)

"""Audiences: who to contact per segment and channel, written atomically with a manifest.

A segment run folder holds::

    members.parquet               every customer: segment, priority, primary, group, eligibility
    audiences/<segment>/<channel>.csv   the send list: treated members who consent to the channel
    report.json                   thresholds, counts, control groups, minimum detectable lifts
    _manifest.json                rows and SHA-256 of every file, the rule set, salt and source

The folder is swapped into place only when every file is written, so a reader sees the previous
complete run or the new complete run, never a mix.
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

__all__ = ["SegmentRun", "audience_frames", "export_segments", "write_segment_run"]


@dataclass(frozen=True)
class SegmentRun:
    path: Path
    report: SegmentReport
    manifest: dict[str, Any]


def audience_frames(members: pl.DataFrame, *, rule_set: RuleSet) -> dict[str, pl.DataFrame]:
    """``"<segment>/<channel>"`` -> the customer ids to contact (treatment with consent)."""
    out = {}
    treated = members.filter(pl.col("group") == "treatment")
    for rule in rule_set.ordered():
        mine = treated.filter(pl.col("segment") == rule.name)
        for channel in rule.channels:
            out[f"{rule.name}/{channel}"] = (
                mine.filter(pl.col(f"eligible__{channel}"))
                .select("customer_id")
                .sort("customer_id")
            )
    return out


def write_segment_run(
    members: pl.DataFrame,
    report: SegmentReport,
    *,
    rule_set: RuleSet,
    out: str | Path,
    source: str | None = None,
) -> dict[str, Any]:
    """Write the run folder ``out`` atomically; returns the manifest."""
    out = Path(out)
    files: dict[str, pl.DataFrame] = {"members.parquet": members}
    for key, frame in audience_frames(members, rule_set=rule_set).items():
        files[f"audiences/{key}.csv"] = frame
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
            "files": written,
            "written_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        write_json(manifest, tmp / "_manifest.json")
    return manifest


def export_segments(data: Any, *, rules: Any, out: str | Path) -> SegmentRun:
    """Segment ``data`` (features + scores, one row per customer, or a path to them) with
    ``rules`` and write the run folder ``out``."""
    frame, _ = open_customer_table(data)
    segmenter = Segmenter(rules=rules)
    members = segmenter.fit_transform(frame)  # a Polars frame in, a Polars frame out
    manifest = write_segment_run(
        members,
        segmenter.report_,
        rule_set=segmenter.rule_set_,
        out=out,
        source=str(data) if isinstance(data, str | Path) else None,
    )
    return SegmentRun(Path(out), segmenter.report_, manifest)

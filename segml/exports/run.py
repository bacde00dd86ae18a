"""Segment run folders: one segmentation written once to every destination, atomically, with a
manifest.

A segment run folder holds::

    members.parquet                          every customer: segment, priority, primary, group,
                                             eligible__<channel>, reachable
    audiences/<segment>/<channel>.parquet    everyone in the segment who may be contacted on the
    audiences/<segment>/<channel>.csv        channel (consent), control flag included; send to
                                             control == false (the default destinations,
                                             ``exports.destinations``: parquet and csv)
    transitions.parquet, transitions.csv     from -> to segment since the previous run (if given)
    report.json                              thresholds, counts, control groups, lifts, overlaps,
                                             exclusions, changes
    _manifest.json                           rule-set hash, counts per segment and channel,
                                             exclusions, rows and SHA-256 of every file, and
                                             ``exports.<name>``: what a destination reports
                                             beyond its files (when it does)

The folder is swapped into place only when every file is written, so a reader sees the previous
complete run or the new complete run, never a mix; a failed run leaves the previous one as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

import segml.exports.local  # noqa: F401  (registers the parquet and csv destinations)
from segml.config import ExportsConfig
from segml.errors import ConfigError
from segml.exports.audiences import _values, audiences_of
from segml.exports.destinations import RUN_FILES, Destination, Plan, build_destinations
from segml.io import atomic_dir, file_sha256, write_frame, write_json
from segml.segments import RuleSet, Segmenter, SegmentReport
from segml.segments.result import SegmentResult
from segml.segments.segmenter import open_customer_table
from segml.segments.transitions import with_changes

__all__ = [
    "SegmentRun",
    "destination_columns",
    "export_segments",
    "plan_exports",
    "write_exports",
    "write_segment_run",
]


@dataclass(frozen=True)
class SegmentRun:
    """A written run folder: its path, report and manifest, and the segmentation it wrote."""

    path: Path
    report: SegmentReport
    manifest: dict[str, Any]
    result: SegmentResult


def _destinations(destinations: Sequence[Any] | ExportsConfig | None) -> list[Destination]:
    """Destination objects from config entries, an ExportsConfig, or None (the default)."""
    if destinations is None:
        destinations = ExportsConfig()
    if isinstance(destinations, ExportsConfig):
        destinations = destinations.destinations
    return build_destinations(destinations)


def destination_columns(destinations: Sequence[Any] | ExportsConfig | None) -> list[str]:
    """The customer-table columns the destinations read (``Destination.reads``), sorted: a
    segmentation for them carries these (``Segmenter.segment(carry=...)``)."""
    return sorted({c for d in _destinations(destinations) for c in d.reads()})


def _plans(result: SegmentResult, destinations: list[Destination]) -> dict[str, Plan]:
    """Each destination's plan; two writing one file (or a run file) is a ConfigError."""
    shared = audiences_of(result)
    plans = {
        d.name: d.plan(audiences_of(result, extra=d.reads()) if d.reads() else shared)
        for d in destinations
    }
    owner: dict[str, str] = {name: "the run" for name in RUN_FILES}
    for name, plan in plans.items():
        for path in plan.files:
            if path in owner:
                raise ConfigError(
                    f"export destination {name!r} would write {path!r}, which {owner[path]!r} "
                    "writes too; give it another path option (each destination writes its own "
                    "files)."
                )
            owner[path] = name
    return plans


def plan_exports(
    result: SegmentResult, *, destinations: Sequence[Any] | ExportsConfig | None = None
) -> pl.DataFrame:
    """What the destinations would write for ``result`` (a dry run: nothing is written): one
    row per file with ``destination``, ``type``, ``path``, ``rows``."""
    built = _destinations(destinations)
    kinds = {d.name: d.type for d in built}
    rows = [
        {"destination": name, "type": kinds[name], "path": path, "rows": frame.height}
        for name, plan in _plans(result, built).items()
        for path, frame in plan.files.items()
    ]
    schema = {"destination": pl.String, "type": pl.String, "path": pl.String, "rows": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


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


def _manifest(result: SegmentResult, *, source: str | None) -> dict[str, Any]:
    rule_set, report = result.rule_set, result.report
    return {
        "source": source,
        "as_of": None if result.as_of is None else result.as_of.isoformat(),
        "customers": report.customers,
        "mode": rule_set.mode,
        "salt": rule_set.control.salt,
        "rules_fingerprint": rule_set.fingerprint(),
        "rules": rule_set.model_dump(mode="json"),
        "thresholds": {t.name: t.value for t in report.thresholds},
        "segments": _counts(report),
        "changes": report.changes,
    }


def write_exports(
    result: SegmentResult,
    *,
    out: str | Path,
    destinations: Sequence[Any] | ExportsConfig | None = None,
    source: str | None = None,
) -> SegmentRun:
    """Write ``result`` to the run folder ``out`` atomically: the members, transitions and
    report, and every audience to every destination (``destinations``: config entries such as
    ``{"type": "csv", "separator": ";"}``, Destination objects or an ExportsConfig; None: Parquet
    and CSV files). All destinations are checked before anything is written."""
    out = Path(out)
    built = _destinations(destinations)
    plans = _plans(result, built)
    writers: dict[str, tuple[pl.DataFrame, Callable[[pl.DataFrame, Path], object]]] = {
        "members.parquet": (result.members, write_frame)
    }
    if result.transitions is not None:
        writers["transitions.parquet"] = (result.transitions, write_frame)
        writers["transitions.csv"] = (result.transitions, write_frame)
    for d in built:
        writers |= {path: (frame, d.write_file) for path, frame in plans[d.name].files.items()}
    manifest = _manifest(result, source=source)
    summaries = {name: plan.summary for name, plan in plans.items() if plan.summary}
    manifest |= {"exports": summaries} if summaries else {}
    with atomic_dir(out) as tmp:
        written = {}
        for name, (frame, write) in writers.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            write(frame, path)
            written[name] = {"rows": frame.height, "sha256": file_sha256(path)}
        write_json(result.report.to_dict(), tmp / "report.json")
        manifest["files"] = written
        manifest["written_at"] = dt.datetime.now(dt.UTC).isoformat()
        write_json(manifest, tmp / "_manifest.json")
    return SegmentRun(out, result.report, manifest, result)


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
    destinations: Sequence[Any] | ExportsConfig | None = None,
) -> dict[str, Any]:
    """Write a run folder from its parts (``write_exports`` takes them as one SegmentResult);
    returns the manifest."""
    qualifying = qualifying or {}
    result = SegmentResult(
        members,
        report,
        rule_set,
        qualifying,
        values=_values(customers, qualifying),
        as_of=as_of,
        transitions=transitions,
    )
    run = write_exports(result, out=out, destinations=destinations, source=source)
    return run.manifest


def export_segments(
    data: Any,
    *,
    rules: Any,
    out: str | Path,
    previous: Any = None,
    as_of: Any = None,
    destinations: Sequence[Any] | ExportsConfig | None = None,
) -> SegmentRun:
    """Segment ``data`` (features + scores, one row per customer, or a path to them) once with
    ``rules`` and write the run folder ``out`` to every destination (``write_exports``; None:
    Parquet and CSV files). ``previous``: an earlier run folder (``out`` itself works: it is read
    before being replaced), its members.parquet or a members frame, for the transition table
    and size changes. ``as_of``: the run's as-of date (the scoring cutoff), needed only by
    conditions that use ``days_since``. The returned run's ``result`` is the segmentation."""
    built = _destinations(destinations)  # a bad destination fails before any work
    frame, _ = open_customer_table(data)
    carry = destination_columns(built)
    result = Segmenter(rules=rules, as_of=as_of).fit_segment(frame, carry=carry)
    if previous is not None:
        result = with_changes(result, previous)
    source = str(data) if isinstance(data, str | Path) else None
    return write_exports(result, out=out, destinations=built, source=source)

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from segml.config import ExportsConfig
from segml.errors import ConfigError

# registers the built-in destinations: email_list, warehouse; parquet, csv; google_ads, meta
from segml.exports import lists, local, platforms  # noqa: F401
from segml.exports.audiences import _values, audiences_of
from segml.exports.contacts import CONTACT_PREFIX
from segml.exports.destinations import (
    RUN_FILES,
    Audience,
    Destination,
    Plan,
    build_destinations,
)
from segml.exports.identifiers import phone_memo
from segml.io import atomic_dir, file_sha256, write_frame, write_json
from segml.segments import RuleSet, Segmenter, SegmentReport
from segml.segments.result import SegmentResult
from segml.segments.segmenter import open_customer_table
from segml.segments.transitions import with_changes

__all__ = [
    "SegmentRun",
    "destination_columns",
    "dry_run",
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


def _plans(
    result: SegmentResult, destinations: list[Destination], contacts: Any = None
) -> dict[str, Plan]:
    """Each destination's plan; two writing one file (or a run file) is a ConfigError."""
    shared = audiences_of(result)
    with phone_memo():  # the ad destinations read the same numbers: parse each once
        plans = {d.name: _plan(d, result, shared, contacts) for d in destinations}
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


def _plan(
    destination: Destination, result: SegmentResult, shared: list[Audience], contacts: Any
) -> Plan:
    """One destination's plan, from the audiences with the columns it reads and contacts."""
    reads = destination.reads()
    audiences = audiences_of(result, extra=reads) if reads else shared
    if destination.contacts():
        audiences = with_contacts(audiences, contacts, columns=destination.contacts())
    return destination.plan(audiences)


def with_contacts(
    audiences: Sequence[Audience], contacts: Any, *, columns: Sequence[str]
) -> list[Audience]:
    """``audiences`` with the ``columns`` of ``contacts`` (customer_id + contact details, from
    the customers table) joined on ``customer_id`` as ``contact__<name>``; a column the table
    lacks is left out (the destination counts its customers as having no identifier)."""
    if contacts is None or not audiences:
        return list(audiences)
    lf = contacts if isinstance(contacts, pl.LazyFrame | pl.DataFrame) else None
    if lf is None:
        import narwhals.stable.v2 as nw

        from segml.engine import collect

        lf = collect(nw.from_native(contacts).lazy())
    have = [c for c in columns if c in lf.collect_schema().names()]
    if not have:
        return list(audiences)
    ids = pl.concat([a.frame.get_column("customer_id").cast(pl.String) for a in audiences])
    table = (
        lf.lazy()
        .select(pl.col("customer_id").cast(pl.String), *[pl.col(c).cast(pl.String) for c in have])
        .filter(pl.col("customer_id").is_in(ids.unique().implode()))
        .unique("customer_id", keep="first")
        .rename({c: f"{CONTACT_PREFIX}{c}" for c in have})
        .collect()
    )
    out = []
    for a in audiences:
        frame = a.frame.with_columns(pl.col("customer_id").cast(pl.String).alias("_key"))
        frame = frame.join(
            table.rename({"customer_id": "_key"}), on="_key", how="left", maintain_order="left"
        ).drop("_key")
        out.append(replace(a, frame=frame))
    return out


def plan_exports(
    result: SegmentResult,
    *,
    destinations: Sequence[Any] | ExportsConfig | None = None,
    contacts: Any = None,
) -> pl.DataFrame:
    """What the destinations would write for ``result`` (a dry run: nothing is written): one
    row per file with ``destination``, ``type``, ``path``, ``rows``, ``columns`` (the file's
    header) and ``excluded`` (customers left out of the file, by reason, e.g. ``held_out=3
    no_consent=1 no_identifier=2``). ``contacts``: as for ``write_exports``."""
    return dry_run(result, destinations=destinations, contacts=contacts)[0]


def dry_run(
    result: SegmentResult,
    *,
    destinations: Sequence[Any] | ExportsConfig | None = None,
    contacts: Any = None,
) -> tuple[pl.DataFrame, list[str]]:
    """``plan_exports``' table, and what the destinations say beyond it (e.g. that the
    customers table has no contact column, so their files have a header only)."""
    built = _destinations(destinations)
    kinds = {d.name: d.type for d in built}
    plans = _plans(result, built, contacts)
    rows = [
        {
            "destination": name,
            "type": kinds[name],
            "path": path,
            "rows": frame.height,
            "columns": ",".join(frame.columns),
            "excluded": " ".join(f"{k}={v}" for k, v in plan.excluded.get(path, {}).items()),
        }
        for name, plan in plans.items()
        for path, frame in plan.files.items()
    ]
    schema = {"destination": pl.String, "type": pl.String, "path": pl.String, "rows": pl.Int64}
    schema |= {"columns": pl.String, "excluded": pl.String}
    notes = [_note(d, plans[d.name]) for d in built if plans[d.name].summary]
    return pl.DataFrame(rows, schema=schema), notes


def _note(destination: Destination, plan: Plan) -> str:
    """One destination's line of the dry run: its files' header, the customers it leaves out
    (by reason, all files together) and what it says about them."""
    summary, parts = plan.summary, []
    if "columns" in summary:
        parts.append(f"columns {','.join(summary['columns'])}")
    excluded: dict[str, int] = {}
    for counts in plan.excluded.values():
        for reason, n in counts.items():
            excluded[reason] = excluded.get(reason, 0) + n
    if excluded:
        parts.append("excluded " + " ".join(f"{k}={v:,}" for k, v in excluded.items()))
    if "message" in summary:
        parts.append(summary["message"])
    rows = sum(f.height for f in plan.files.values())
    head = f"{destination.name} ({destination.type}): {len(plan.files)} files, {rows:,} rows"
    return "; ".join([head, *parts])


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
    contacts: Any = None,
) -> SegmentRun:
    """Write ``result`` to the run folder ``out`` atomically: the members, transitions and
    report, and every audience to every destination (``destinations``: config entries such as
    ``{"type": "csv", "separator": ";"}``, Destination objects or an ExportsConfig; None: Parquet
    and CSV files). All destinations are checked before anything is written. ``contacts``:
    the customers' contact details (``ShopData.contacts``: ``customer_id`` and any of email,
    phone, first_name, last_name, postal_code), joined only to the audiences of destinations
    that ask for them (``Destination.contacts``); None: they have none."""
    out = Path(out)
    built = _destinations(destinations)
    plans = _plans(result, built, contacts)
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
    contacts: Any = None,
) -> SegmentRun:
    """Segment ``data`` (features + scores, one row per customer, or a path to them) once with
    ``rules`` and write the run folder ``out`` to every destination (``write_exports``; None:
    Parquet and CSV files). ``previous``: an earlier run folder (``out`` itself works: it is read
    before being replaced), its members.parquet or a members frame, for the transition table
    and size changes. ``as_of``: the run's as-of date (the scoring cutoff), needed only by
    conditions that use ``days_since``. ``contacts``: as for ``write_exports``. The returned
    run's ``result`` is the segmentation."""
    built = _destinations(destinations)  # a bad destination fails before any work
    frame, _ = open_customer_table(data)
    carry = destination_columns(built)
    result = Segmenter(rules=rules, as_of=as_of).fit_segment(frame, carry=carry)
    if previous is not None:
        result = with_changes(result, previous)
    source = str(data) if isinstance(data, str | Path) else None
    return write_exports(result, out=out, destinations=built, source=source, contacts=contacts)

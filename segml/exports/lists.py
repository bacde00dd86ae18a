"""An email-platform list CSV and a partitioned Parquet table for a warehouse.

``email_list``: one CSV per audience (default the ``email`` channel) for an email or CRM
platform's list import: the profile id, the email address (trimmed, lower-cased: this file
holds raw addresses by design, it is the platform's import) and chosen properties (scores,
deciles, the segment's message and offer). The hold-out, customers without email consent and
customers without a usable email are left out and counted.

``warehouse``: every audience as one Hive-partitioned Parquet table,
``<table>/as_of=<date>/segment=<segment>/channel=<channel>/part-0.parquet``, which BigQuery,
Snowflake, Redshift Spectrum, Spark and DuckDB (``hive_partitioning``) load as one table with
``as_of``, ``segment`` and ``channel`` columns. It holds customer ids, never contact details;
the hold-out stays in (``control`` true) so the warehouse can measure lift.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import polars as pl
from pydantic import field_validator

from segml.exports.audiences import AUDIENCE_COLUMNS
from segml.exports.contacts import ContactDestination, ContactOptions, Gate, Unusable, contact
from segml.exports.destinations import (
    Audience,
    Destination,
    DestinationOptions,
    Plan,
    audience_paths,
    check_path_template,
    register_destination,
)
from segml.exports.identifiers import email_series
from segml.io import atomic_file, write_frame

__all__ = ["EmailListDestination", "WarehouseDestination"]

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # Hive's name for a null partition value


class EmailListOptions(ContactOptions):
    path: str = "email_platform/{segment}/{channel}.csv"
    id_header: str = "external_id"  # the platform's profile-id column
    email_header: str = "email"
    properties: tuple[str, ...] = ("segment", "message", "offer")  # audience or scored columns

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_path_template(value, suffixes=(".csv",))


@register_destination
class EmailListDestination(ContactDestination):
    """An email platform's list import: profile id, email and chosen properties."""

    type = "email_list"
    Options = EmailListOptions
    options: EmailListOptions
    identifiers = ("email",)

    def reads(self) -> list[str]:
        extra = [p for p in self.options.properties if p not in AUDIENCE_COLUMNS]
        return [*super().reads(), *extra]

    def columns(self) -> list[str]:
        return [self.options.id_header, self.options.email_header, *self.options.properties]

    def plan(self, audiences: Sequence[Audience]) -> Plan:
        chosen = self.chosen(audiences)
        files, unusable = {}, Unusable()
        for path, audience in audience_paths(self.options.path, chosen).items():
            gate = self.gate(audience)
            frame = gate.frame
            email = email_series(contact(frame, "email"))
            unusable.add("email", contact(frame, "email"), email)
            usable = email.is_not_null()
            gate.excluded["no_identifier"] = int((~usable).sum())
            props = [
                frame.get_column(p) if p in frame.columns else pl.Series(p, [None] * frame.height)
                for p in self.options.properties
            ]
            out = pl.DataFrame(
                [frame.get_column("customer_id").cast(pl.String), email, *props]
            ).filter(usable)
            files[path] = Gate(
                out.rename(dict(zip(out.columns, self.columns(), strict=True))), gate.excluded
            )
        unusable.check(self.name)
        return self.summarise(chosen, files, self.columns(), unusable)

    def write_file(self, frame: pl.DataFrame, path: Path) -> None:
        with atomic_file(path) as tmp:
            frame.write_csv(tmp)


class WarehouseOptions(DestinationOptions):
    table: str = "warehouse/audiences"  # folder of the partitioned table, in the run folder
    properties: tuple[str, ...] = ()  # scored-table columns to add (e.g. score__purchase)

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        path = PurePosixPath(value)
        if not value or path.is_absolute() or ".." in path.parts or value.startswith("~"):
            raise ValueError("must be a folder relative to the run folder, without '..'")
        if "{" in value or "=" in value:
            raise ValueError("must be a plain folder; the partitions are added under it")
        return value.rstrip("/")


def partition_value(value: dt.datetime | None) -> str:
    """An as-of date as a partition value: ``2024-06-01`` (with the time when it has one)."""
    if value is None:
        return HIVE_NULL
    if value.time() == dt.time(0):
        return f"{value:%Y-%m-%d}"
    return f"{value:%Y-%m-%dT%H%M%S}"


@register_destination
class WarehouseDestination(Destination):
    """Every audience as one Hive-partitioned Parquet table (as_of, segment, channel)."""

    type = "warehouse"
    Options = WarehouseOptions
    options: WarehouseOptions

    def reads(self) -> list[str]:
        return [p for p in self.options.properties if p not in AUDIENCE_COLUMNS]

    def plan(self, audiences: Sequence[Audience]) -> Plan:
        """One file per audience, all with the same columns (the audience's, less the partition
        keys, then ``properties``; a property the table lacks is null and named in the
        summary), so the partitions load as one table."""
        files = {}
        base = [c for c in AUDIENCE_COLUMNS if c not in ("segment", "channel")]
        missing: set[str] = set()
        for a in audiences:
            keys = f"as_of={partition_value(a.as_of)}/segment={a.segment}/channel={a.channel}"
            absent = [p for p in self.options.properties if p not in a.frame.columns]
            missing |= set(absent)
            frame = a.frame.with_columns(pl.lit(None).alias(p) for p in absent)
            files[f"{self.options.table}/{keys}/part-0.parquet"] = frame.select(
                *base, *self.options.properties
            )
        summary = {
            "table": self.options.table,
            "partitions": ["as_of", "segment", "channel"],
            "columns": [*base, *self.options.properties],
            "rows": sum(f.height for f in files.values()),
            "control_rows": sum(int(f.get_column("control").sum()) for f in files.values()),
        }
        if missing:
            summary["message"] = f"the scored table has no {sorted(missing)}: written as null."
        return Plan(files, summary=summary)

    def write_file(self, frame: pl.DataFrame, path: Path) -> None:
        write_frame(frame, path)

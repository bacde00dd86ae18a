"""Exports: one segmentation written to every destination (audiences per segment and channel),
as a run folder published atomically with a manifest."""

from segml.exports.audiences import AUDIENCE_COLUMNS, audience_frames, audiences_of
from segml.exports.destinations import (
    Audience,
    Destination,
    DestinationOptions,
    Plan,
    build_destinations,
    destination_types,
    register_destination,
)
from segml.exports.lists import EmailListDestination, WarehouseDestination
from segml.exports.local import CsvDestination, ParquetDestination
from segml.exports.platforms import GoogleAdsDestination, MetaDestination
from segml.exports.run import (
    SegmentRun,
    destination_columns,
    dry_run,
    export_segments,
    plan_exports,
    write_exports,
    write_segment_run,
)

__all__ = [
    "AUDIENCE_COLUMNS",
    "Audience",
    "CsvDestination",
    "Destination",
    "DestinationOptions",
    "EmailListDestination",
    "GoogleAdsDestination",
    "MetaDestination",
    "ParquetDestination",
    "Plan",
    "SegmentRun",
    "WarehouseDestination",
    "audience_frames",
    "audiences_of",
    "build_destinations",
    "destination_columns",
    "destination_types",
    "dry_run",
    "export_segments",
    "plan_exports",
    "register_destination",
    "write_exports",
    "write_segment_run",
]

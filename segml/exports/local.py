"""Local files: one Parquet or CSV file per audience in the run folder (the default exports).

``exports.destinations: [{type: parquet}, {type: csv}]`` (the default) writes
``audiences/<segment>/<channel>.parquet`` and ``.csv``, the files segml has always written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import field_validator

from segml.exports.destinations import (
    Audience,
    Destination,
    DestinationOptions,
    Plan,
    audience_paths,
    check_path_template,
    register_destination,
)
from segml.io import atomic_file, write_frame

__all__ = ["CsvDestination", "ParquetDestination"]


class ParquetOptions(DestinationOptions):
    path: str = "audiences/{segment}/{channel}.parquet"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_path_template(value, suffixes=(".parquet",))


@register_destination
class ParquetDestination(Destination):
    """One Parquet file per audience (``path``: a template with ``{segment}``, ``{channel}``)."""

    type = "parquet"
    Options = ParquetOptions
    options: ParquetOptions

    def plan(self, audiences: Sequence[Audience]) -> Plan:
        paths = audience_paths(self.options.path, audiences)
        return Plan({p: a.frame for p, a in paths.items()})

    def write_file(self, frame: pl.DataFrame, path: Path) -> None:
        write_frame(frame, path)


class CsvOptions(DestinationOptions):
    path: str = "audiences/{segment}/{channel}.csv"
    separator: Literal[",", ";", "\t", "|"] = ","
    include_header: bool = True

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_path_template(value, suffixes=(".csv", ".tsv", ".txt"))


@register_destination
class CsvDestination(Destination):
    """One CSV file per audience (UTF-8; ``separator`` ``,`` by default, ``;`` for spreadsheets
    set to a decimal comma)."""

    type = "csv"
    Options = CsvOptions
    options: CsvOptions

    def plan(self, audiences: Sequence[Audience]) -> Plan:
        paths = audience_paths(self.options.path, audiences)
        return Plan({p: a.frame for p, a in paths.items()})

    def write_file(self, frame: pl.DataFrame, path: Path) -> None:
        with atomic_file(path) as tmp:
            frame.write_csv(
                tmp, separator=self.options.separator, include_header=self.options.include_header
            )

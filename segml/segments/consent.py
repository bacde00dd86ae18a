"""Consent per channel: which consent column each segment requires for each of its channels,
and each customer's consent state (1 opted in, 0 not, null unknown) for the columns in the data.

A customer is reachable on a channel only with an explicit opt-in (1 or true); a missing flag,
or a consent column that is not in the data at all, counts as no consent, and the report counts
how many members each of these excluded.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from segml.errors import DataError
from segml.segments.compile import column_kinds
from segml.segments.rules import RuleSet

__all__ = ["EXCLUSION_REASONS", "consent_states", "required_consent"]

EXCLUSION_REASONS = {
    "no_opt_in": "the consent flag is 0/false",
    "consent_unknown": "the consent flag is missing for the customer",
    "no_consent_column": "the consent column is not in the data",
}


def required_consent(rs: RuleSet) -> dict[tuple[str, str], str | None]:
    """(segment, channel) -> the consent column required (None: no consent needed)."""
    return {
        (rule.name, channel): rs.consent_column(rule, channel)
        for rule in rs.ordered()
        for channel in rule.channels
    }


def consent_states(
    rs: RuleSet, schema: Mapping[str, pl.DataType]
) -> tuple[dict[str, pl.Expr], list[str]]:
    """Per consent column in the data: an Int8 expression (1 yes, 0 no, null unknown); notes on
    required consent columns that are not in the data."""
    exprs: dict[str, pl.Expr] = {}
    missing: dict[tuple[str, str], list[str]] = {}
    for (segment, channel), column in required_consent(rs).items():
        if column is None:
            continue
        if column not in schema:
            missing.setdefault((column, channel), []).append(segment)
            continue
        if column_kinds({column: schema[column]})[column] not in ("number", "bool"):
            raise DataError(
                f"consent column {column!r} for {channel} must be 0/1 or true/false; found "
                f"{schema[column]}. Map consent flags through the customers table."
            )
        value = pl.col(column).cast(pl.Float64)
        exprs[column] = pl.when(value.is_nan()).then(None).otherwise(value == 1).cast(pl.Int8)
    notes = [
        f"{channel} consent is read from {column}, which is not in the data (pass a customers "
        f"table with that flag): nobody counts as consenting to {channel}, so {segments} get no "
        f"{channel} audience."
        for (column, channel), segments in missing.items()
    ]
    return exprs, notes

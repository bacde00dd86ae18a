"""What every destination that sends to people shares: which audiences it takes (channels),
who it leaves out (the hold-out, no consent, no usable identifier), each counted, and the
contact details it reads.

Contact details (email, phone, names, postal code: personal data) never pass through the
scored table. ``segml.exports.write_exports(..., contacts=...)`` joins the customers table's
contact columns (``ShopData.contacts``) to the audiences of the destinations that ask for them
(``Destination.contacts()``), as ``contact__<name>`` columns, when the files are planned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from pydantic import field_validator

from segml.errors import DataError
from segml.exports.destinations import Audience, Destination, DestinationOptions, Plan
from segml.exports.identifiers import country_series, normalize_country

__all__ = ["CONTACT_PREFIX", "ContactDestination", "ContactOptions", "Gate", "Unusable", "mask"]

CONTACT_PREFIX = "contact__"
_COUNTRY = "attr__country"


class ContactOptions(DestinationOptions):
    """Options every contact destination has."""

    path: str
    channels: tuple[str, ...] = ("email",)  # the audiences (rule-set channels) it takes
    consent: str | None = "attr__email_consent"  # a true/1 column of the scored table
    default_country: str = "GB"  # phones written without a country code, when attr__country
    # is unknown

    @field_validator("default_country")
    @classmethod
    def _iso(cls, value: str) -> str:
        code = normalize_country(value)
        if code is None:
            raise ValueError(f"must be a two-letter ISO country code such as 'GB', got {value!r}")
        return code.upper()


@dataclass
class Gate:
    """Who one audience file sends to, and why the others are left out."""

    frame: pl.DataFrame
    excluded: dict[str, int] = field(default_factory=dict)


def mask(value: str) -> str:
    """A value's shape without its content, for messages: the first character, then ``*`` for
    every letter or digit (``john at example.com`` -> ``j*** ** *******.***``)."""
    return value[:1] + "".join("*" if ch.isalnum() else ch for ch in value[1:])


@dataclass
class Unusable:
    """Per identifier column: how many values the audiences had, how many did not normalise,
    and the shape of one that did not (masked: personal data stays out of messages)."""

    seen: dict[str, int] = field(default_factory=dict)
    bad: dict[str, int] = field(default_factory=dict)
    example: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, raw: pl.Series, normalised: pl.Series) -> None:
        present = raw.is_not_null() & (raw.str.strip_chars() != "")
        failed = present & normalised.is_null()
        self.seen[name] = self.seen.get(name, 0) + int(present.sum())
        self.bad[name] = self.bad.get(name, 0) + int(failed.sum())
        if name not in self.example and failed.any():
            self.example[name] = mask(str(raw.filter(failed)[0]))

    def check(self, destination: str) -> None:
        """A column none of whose values (10 or more) is usable is mapped to the wrong data:
        an error that says so, instead of files that are silently empty."""
        for name, seen in self.seen.items():
            if seen >= 10 and self.bad[name] == seen:
                raise DataError(
                    f"destination {destination!r}: customers.{name} has {seen:,} values in its "
                    f"audiences and none is a usable {name.replace('_', ' ')} (e.g. "
                    f"{self.example[name]!r}, masked). Map data.customers.columns.{name} to the "
                    f"column that holds them{_HINTS.get(name, '')}."
                )


_HINTS = {
    "email": " (name@domain.tld)",
    "phone": (
        "; numbers without a country code are read in the customer's country "
        "(attr__country) or the destination's default_country"
    ),
}


class ContactDestination(Destination):
    """Base of the destinations that send to people (ad platforms, email platforms)."""

    options: ContactOptions
    identifiers: tuple[str, ...] = ("email",)  # contact columns that identify a person

    def contacts(self) -> list[str]:
        return list(self.identifiers)

    def reads(self) -> list[str]:
        consent = [self.options.consent] if self.options.consent else []
        return [*consent, _COUNTRY]

    def chosen(self, audiences: Sequence[Audience]) -> list[Audience]:
        return [a for a in audiences if a.channel in self.options.channels]

    def gate(self, audience: Audience) -> Gate:
        """The audience less the hold-out and the customers without consent. Without any
        contact column (data with no personal details, such as Online Retail) nobody can be
        sent to, and a missing consent column is not worth an error: everyone is counted
        under no_identifier (``summarise`` says why)."""
        frame = audience.frame
        control = frame.get_column("control")
        excluded = {"held_out": int(control.sum())}
        frame = frame.filter(~control)
        consent = self.options.consent
        if consent is not None and consent not in frame.columns and not self.present([audience]):
            excluded["no_consent"] = 0
        elif consent is not None:
            if consent not in frame.columns:
                raise DataError(
                    f"destination {self.name!r} sends only to customers with {consent} true, "
                    f"but the scored table has no column {consent!r} (audience "
                    f"{audience.segment}/{audience.channel}, {audience.frame.height:,} rows). "
                    f"Map the consent flag in data.customers.columns (e.g. email_consent: "
                    f"<your column>), or set exports.destinations[].consent to a column the "
                    "scored table has."
                )
            ok = frame.get_column(consent).cast(pl.Float64).fill_null(0.0) > 0
            excluded["no_consent"] = int((~ok).sum())
            frame = frame.filter(ok)
        return Gate(frame, excluded)

    def regions(self, frame: pl.DataFrame) -> list[str]:
        """Each row's country (upper-case ISO code) for reading phone numbers, else the
        configured default."""
        default = self.options.default_country
        if _COUNTRY not in frame.columns:
            return [default] * frame.height
        codes = country_series(frame.get_column(_COUNTRY)).str.to_uppercase()
        return codes.fill_null(default).to_list()

    def present(self, audiences: Sequence[Audience]) -> list[str]:
        """The identifier columns the customers table has (joined as contact__<name>)."""
        columns = set().union(*(a.frame.columns for a in audiences)) if audiences else set()
        return [c for c in self.identifiers if f"{CONTACT_PREFIX}{c}" in columns]

    def summarise(
        self,
        audiences: Sequence[Audience],
        files: dict[str, Gate],
        columns: list[str],
        unusable: Unusable,
    ) -> Plan:
        """The plan: the files, each file's exclusions, and the totals with a message when the
        customers table has no identifier at all (so every file has a header only)."""
        totals: dict[str, Any] = {}
        for gate in files.values():
            for reason, n in gate.excluded.items():
                totals[reason] = totals.get(reason, 0) + n
        summary: dict[str, Any] = {
            "rows": sum(g.frame.height for g in files.values()),
            "columns": columns,
            "excluded": totals,
            "channels": list(self.options.channels),
            "consent": self.options.consent,
            "unusable_values": {k: v for k, v in unusable.bad.items() if v},
        }
        missing = [c for c in self.identifiers if c not in self.present(audiences)]
        if len(missing) == len(self.identifiers):
            summary["message"] = (
                f"the customers table has none of the contact columns {list(self.identifiers)}, "
                "so nothing can be sent: the files have a header only and every audience "
                "member is counted under no_identifier. To send, map them under "
                "data.customers.columns (e.g. email: <your column>)."
            )
        elif missing:
            summary["message"] = f"the customers table has no {missing} column(s)."
        return Plan(
            {p: g.frame for p, g in files.items()},
            summary=summary,
            excluded={p: g.excluded for p, g in files.items()},
        )


def contact(frame: pl.DataFrame, name: str) -> pl.Series:
    """The raw values of contact column ``name`` as text (all null when the table has none)."""
    column = f"{CONTACT_PREFIX}{name}"
    if column not in frame.columns:
        return pl.Series(name, [None] * frame.height, dtype=pl.String)
    return frame.get_column(column).cast(pl.String).rename(name)

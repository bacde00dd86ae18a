"""Ad-platform upload files: Google Ads Customer Match and Meta custom audiences.

One CSV per audience (``{segment}/{channel}``) with the platform's exact column headers and
every personal identifier normalised as the platform documents, then SHA-256 hashed
(``segml.exports.identifiers`` cites the documentation). The files never hold a raw email,
phone number or name. The hold-out (control group), customers without consent and customers
without a usable identifier are left out, each counted per file in the manifest
(``exports.<name>``) and in the dry run.

Headers:

- Google Ads: ``Email``, ``Phone`` and, with ``address: true``, ``First Name``, ``Last Name``,
  ``Country``, ``Zip`` (https://support.google.com/google-ads/answer/7659867). Google wants
  Country and Zip unhashed, so the postal code is then in the file as it is.
- Meta: ``email``, ``phone``, ``fn``, ``ln``, ``zip``, ``country``, all hashed
  (https://www.facebook.com/business/help/2082575038703844).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import field_validator

from segml.exports.contacts import ContactDestination, ContactOptions, Gate, Unusable, contact
from segml.exports.destinations import (
    Audience,
    Plan,
    audience_paths,
    check_path_template,
    register_destination,
)
from segml.exports.identifiers import (
    country_series,
    email_series,
    google_name_series,
    hash_series,
    meta_name_series,
    meta_zip,
    normalize_phone,
)
from segml.io import atomic_file

__all__ = ["GOOGLE_HEADERS", "META_HEADERS", "GoogleAdsDestination", "MetaDestination"]

GOOGLE_HEADERS = ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")
META_HEADERS = ("email", "phone", "fn", "ln", "zip", "country")
_ADDRESS = ("first_name", "last_name", "postal_code")


class _AdOptions(ContactOptions):
    channels: tuple[str, ...] = ("ads",)
    # the shipped rule set's ads channel is gated on the marketing email opt-in too
    consent: str | None = "attr__email_consent"
    phone_check: Literal["possible", "valid"] = "possible"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_path_template(value, suffixes=(".csv",))


class GoogleAdsOptions(_AdOptions):
    path: str = "google_ads/{segment}/{channel}.csv"
    address: bool = False  # add First Name, Last Name, Country, Zip (Zip and Country unhashed)
    gmail_remove_dots: bool = False  # documented for enhanced conversions only (identifiers.py)


class MetaOptions(_AdOptions):
    path: str = "meta/{segment}/{channel}.csv"


class _AdDestination(ContactDestination):
    identifiers = ("email", "phone", *_ADDRESS)
    headers: tuple[str, ...]

    def plan(self, audiences: Sequence[Audience]) -> Plan:
        chosen = self.chosen(audiences)
        files, unusable = {}, Unusable()
        for path, audience in audience_paths(self.options.path, chosen).items():
            gate = self.gate(audience)
            frame, usable = self.rows(gate.frame, unusable)
            gate.excluded["no_identifier"] = int((~usable).sum())
            files[path] = Gate(frame.filter(usable), gate.excluded)
        unusable.check(self.name)
        return self.summarise(chosen, files, list(self.columns()), unusable)

    def columns(self) -> tuple[str, ...]:
        return self.headers

    @abstractmethod
    def rows(self, frame: pl.DataFrame, unusable: Unusable) -> tuple[pl.DataFrame, pl.Series]:
        """The file's rows (hashed identifiers under the platform's headers) and which rows
        have at least one usable identifier; emails and phones that do not normalise are
        tallied in ``unusable``."""

    def write_file(self, frame: pl.DataFrame, path: Path) -> None:
        with atomic_file(path) as tmp:
            frame.write_csv(tmp)


def _phones(dest: _AdDestination, frame: pl.DataFrame) -> pl.Series:
    """E.164 numbers, each read in the customer's country (else the default)."""
    check = dest.options.phone_check  # type: ignore[attr-defined]
    numbers = contact(frame, "phone").to_list()
    e164 = [
        normalize_phone(v, region=r, check=check)
        for v, r in zip(numbers, dest.regions(frame), strict=True)
    ]
    return pl.Series("phone", e164, dtype=pl.String)


@register_destination
class GoogleAdsDestination(_AdDestination):
    """Google Ads Customer Match upload file, one CSV per audience (hashed identifiers)."""

    type = "google_ads"
    Options = GoogleAdsOptions
    options: GoogleAdsOptions
    headers = GOOGLE_HEADERS

    def columns(self) -> tuple[str, ...]:
        return self.headers if self.options.address else self.headers[:2]

    def rows(self, frame: pl.DataFrame, unusable: Unusable) -> tuple[pl.DataFrame, pl.Series]:
        email = email_series(
            contact(frame, "email"), gmail_remove_dots=self.options.gmail_remove_dots
        )
        phone = _phones(self, frame)
        unusable.add("email", contact(frame, "email"), email)
        unusable.add("phone", contact(frame, "phone"), phone)
        out = {"Email": hash_series(email), "Phone": hash_series(phone)}
        usable = email.is_not_null() | phone.is_not_null()
        if self.options.address:
            first = google_name_series(contact(frame, "first_name"))
            last = google_name_series(contact(frame, "last_name"))
            country = _countries(self, frame)
            zips = _apply_strip(contact(frame, "postal_code"))
            whole = first.is_not_null() & last.is_not_null() & zips.is_not_null()
            whole = whole & country.is_not_null()
            out["First Name"] = hash_series(_keep(first, whole))
            out["Last Name"] = hash_series(_keep(last, whole))
            out["Country"] = _keep(country, whole)  # Google: Country and Zip unhashed
            out["Zip"] = _keep(zips, whole)
            usable = usable | whole
        frame_out = pl.DataFrame({k: v.rename(k) for k, v in out.items()})
        return frame_out.select(self.columns()), usable


def _keep(values: pl.Series, mask: pl.Series) -> pl.Series:
    return pl.select(pl.when(mask).then(values)).to_series()


def _apply_strip(values: pl.Series) -> pl.Series:
    text = values.str.strip_chars()
    return pl.select(pl.when(text != "").then(text)).to_series()


@register_destination
class MetaDestination(_AdDestination):
    """Meta (Facebook, Instagram) custom audience customer-list file, one CSV per audience,
    every identifier hashed."""

    type = "meta"
    Options = MetaOptions
    options: MetaOptions
    headers = META_HEADERS

    def rows(self, frame: pl.DataFrame, unusable: Unusable) -> tuple[pl.DataFrame, pl.Series]:
        email = email_series(contact(frame, "email"))
        e164 = _phones(self, frame)
        unusable.add("email", contact(frame, "email"), email)
        unusable.add("phone", contact(frame, "phone"), e164)
        phone = e164.str.strip_chars_start("+")  # Meta: digits with the country code, no '+'
        country = _countries(self, frame).to_list()
        zips = [
            meta_zip(v, country=c)
            for v, c in zip(contact(frame, "postal_code").to_list(), country, strict=True)
        ]
        out = {
            "email": hash_series(email),
            "phone": hash_series(phone),
            "fn": hash_series(meta_name_series(contact(frame, "first_name"))),
            "ln": hash_series(meta_name_series(contact(frame, "last_name"))),
            "zip": hash_series(pl.Series(zips, dtype=pl.String)),
            "country": hash_series(pl.Series(country, dtype=pl.String)),
        }
        usable = email.is_not_null() | phone.is_not_null()
        return pl.DataFrame({k: v.rename(k) for k, v in out.items()}), usable


def _countries(dest: _AdDestination, frame: pl.DataFrame) -> pl.Series:
    """Each customer's country as a lower-case ISO code, null when ``attr__country`` does not
    say (the default country reads phone numbers, it is not written as anyone's country)."""
    if "attr__country" not in frame.columns:
        return pl.Series("country", [None] * frame.height, dtype=pl.String)
    return country_series(frame.get_column("attr__country")).rename("country")

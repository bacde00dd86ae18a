"""Customer identifiers normalised and hashed as the ad platforms document them.

Each platform matches SHA-256 hashes of *normalised* values, so ``John.Smith@Example.com `` and
``john.smith@example.com`` must give the same bytes before hashing. The rules, and where they
are written down (checked when this module was written; docs/exports.md keeps the list, and
says which rules could not be verified):

Google Ads Customer Match (https://support.google.com/adwords/answer/7476159 "Formatting
guidelines for uploading hashed data", https://support.google.com/google-ads/answer/7659867
and the Customer Match template https://g.co/wudy8r):
  - email, first and last name: lower-case, remove spaces before, after and in between;
  - phone: E.164 (``+`` country code, number) before hashing;
  - Country (ISO two-letter code) and Zip are not hashed;
  - SHA-256, hex digest.
  Removing dots before ``@gmail.com``/``@googlemail.com`` is documented for enhanced
  conversions (https://developers.google.com/doubleclick-advertisers/guides/conversions_ec),
  not for Customer Match files: off by default (``gmail_remove_dots``). Plus-addressing
  (``name+tag@``) is documented nowhere: kept as it is.

Meta custom audiences (https://www.facebook.com/business/help/2082575038703844 "How to format a
customer list", and the Marketing API's "Hashing and Normalizing Data"
https://developers.facebook.com/docs/marketing-api/custom-audience-api, whose table was read
through HCL's copy, https://help.hcl-software.com/unica/Link/en/12.1.7/Link/Facebook/data_normalization.html):
  - email: trim, lower-case;
  - phone: digits only, with the country code, no leading zeros (E.164 without ``+``);
  - fn, ln: lower-case, letters only (no punctuation or spaces), UTF-8;
  - zip: lower-case, no spaces or dashes; US: the first five digits;
  - country: lower-case ISO 3166-1 alpha-2; every column hashed.

Phone numbers are parsed with ``phonenumbers`` (Google's libphonenumber): a number written
without a country code is read in the customer's country, else the configured default. A
number is usable when libphonenumber finds it *possible* for its country (the right length);
``valid`` also checks the number ranges in use (which rejects, e.g., the fictional ranges the
synthetic store uses).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Literal

import phonenumbers
import polars as pl

__all__ = [
    "country_series",
    "email_series",
    "google_name",
    "google_name_series",
    "hash_series",
    "meta_name",
    "meta_name_series",
    "meta_phone",
    "meta_zip",
    "normalize_country",
    "normalize_email",
    "normalize_phone",
    "phone_memo",
    "sha256_hex",
]

_SPACE = re.compile(r"\s+")
_EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_MEMO: dict[tuple[str, str | None, str], str | None] | None = None
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GMAIL = ("gmail.com", "googlemail.com")


def sha256_hex(value: str) -> str:
    """The SHA-256 digest of ``value``'s UTF-8 bytes, as 64 lower-case hex characters."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return None
    text = unicodedata.normalize("NFC", str(value))
    return text if text.strip() else None


def normalize_email(value: object, *, gmail_remove_dots: bool = False) -> str | None:
    """Lower-cased, every space removed; None when it is not ``local@domain.tld``. Plus
    suffixes are kept; dots before ``@gmail.com``/``@googlemail.com`` only go with
    ``gmail_remove_dots``."""
    text = _text(value)
    if text is None:
        return None
    email = _SPACE.sub("", text).lower()
    if not _EMAIL.match(email):
        return None
    if gmail_remove_dots:
        local, _, domain = email.rpartition("@")
        if domain in _GMAIL:
            email = f"{local.replace('.', '')}@{domain}"
    return email


def normalize_phone(
    value: object,
    *,
    region: str | None,
    check: Literal["possible", "valid"] = "possible",
) -> str | None:
    """E.164 (``+447700900123``), reading a number without ``+``/``00`` in ``region`` (ISO
    two-letter code); None when it cannot be parsed or fails ``check``."""
    text = _text(value)
    if text is None:
        return None
    if _MEMO is None:
        return _e164(text, region, check)
    key = (text, region, check)
    if key not in _MEMO:
        _MEMO[key] = _e164(text, region, check)
    return _MEMO[key]


@contextmanager
def phone_memo() -> Iterator[None]:
    """Parse each (number, country, check) once inside the block: the ad destinations of one
    run read the same customers' numbers (libphonenumber takes ~0.1 ms a number)."""
    global _MEMO
    outer, _MEMO = _MEMO, ({} if _MEMO is None else _MEMO)
    try:
        yield
    finally:
        _MEMO = outer


def _e164(text: str, region: str | None, check: str) -> str | None:
    if text.isdigit() and region is None and not text.startswith("0"):
        text = "+" + text  # digits with the country code, written without '+'
    try:
        number = phonenumbers.parse(text, (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    ok = (
        phonenumbers.is_valid_number(number)
        if check == "valid"
        else phonenumbers.is_possible_number(number)
    )
    if not ok:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def meta_phone(e164: str | None) -> str | None:
    """Meta's phone form: E.164 digits without the ``+`` (country code, no leading zero)."""
    return None if e164 is None else e164.lstrip("+")


def normalize_country(value: object) -> str | None:
    """A two-letter ISO country code, lower-cased; None for anything else."""
    text = _text(value)
    if text is None:
        return None
    code = text.strip().lower()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None


def google_name(value: object) -> str | None:
    """Google: lower-case, no spaces before, after or in between."""
    text = _text(value)
    return None if text is None else _SPACE.sub("", text).lower() or None


def meta_name(value: object) -> str | None:
    """Meta: lower-case letters only (accented letters kept, UTF-8), no punctuation or spaces."""
    text = _text(value)
    if text is None:
        return None
    return "".join(ch for ch in text.lower() if ch.isalpha()) or None


def meta_zip(value: object, *, country: str | None) -> str | None:
    """Meta: lower-case, no spaces or dashes; for the US the first five digits."""
    text = _text(value)
    if text is None:
        return None
    code = re.sub(r"[\s\-]", "", text).lower()
    if country == "us":
        code = code[:5] if code[:5].isdigit() else ""
    return code or None


def hashed(values: Iterable[str | None]) -> list[str | None]:
    """SHA-256 hex of each value; None stays None (an empty cell)."""
    return [None if v is None else sha256_hex(v) for v in values]


# -- the same rules on whole columns (what the destinations use; tests check they agree) ------


def _apply(values: pl.Series, expr: pl.Expr) -> pl.Series:
    frame = pl.DataFrame({"v": values.cast(pl.String)})
    return frame.select(expr.alias(values.name)).to_series()


def email_series(values: pl.Series, *, gmail_remove_dots: bool = False) -> pl.Series:
    """``normalize_email`` on a column."""
    text = pl.col("v").str.normalize("NFC").str.replace_all(r"\s+", "").str.to_lowercase()
    email: pl.Expr = pl.when(text.str.contains(_EMAIL_RE)).then(text)
    if gmail_remove_dots:
        local, domain = email.str.extract(r"^(.*)@"), email.str.extract(r"@([^@]*)$")
        dotless = pl.concat_str(local.str.replace_all(".", "", literal=True), pl.lit("@"), domain)
        email = pl.when(domain.is_in(list(_GMAIL))).then(dotless).otherwise(email)
    return _apply(values, email)


def google_name_series(values: pl.Series) -> pl.Series:
    """``google_name`` on a column."""
    text = pl.col("v").str.normalize("NFC").str.replace_all(r"\s+", "").str.to_lowercase()
    return _apply(values, pl.when(text != "").then(text))


def meta_name_series(values: pl.Series) -> pl.Series:
    """``meta_name`` on a column (letters: Unicode category L, as ``str.isalpha``)."""
    text = pl.col("v").str.normalize("NFC").str.to_lowercase().str.replace_all(r"[^\p{L}]", "")
    return _apply(values, pl.when(text != "").then(text))


def hash_series(values: pl.Series) -> pl.Series:
    """SHA-256 hex of each value of a text column; null stays null. A column with few distinct
    values (countries) hashes each once."""
    sha = hashlib.sha256
    distinct = values.drop_nulls().unique()
    if distinct.len() * 4 < values.len():
        digests = {v: sha(v.encode("utf-8")).hexdigest() for v in distinct.to_list()}
        return values.replace_strict(digests, default=None, return_dtype=pl.String)
    out = [None if v is None else sha(v.encode("utf-8")).hexdigest() for v in values.to_list()]
    return pl.Series(values.name, out, dtype=pl.String)


def country_series(values: pl.Series) -> pl.Series:
    """``normalize_country`` on a column."""
    code = pl.col("v").str.strip_chars().str.to_lowercase()
    return _apply(values, pl.when(code.str.contains(r"^[a-z]{2}$")).then(code))

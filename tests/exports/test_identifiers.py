"""Identifier normalisation and hashing against hand-computed vectors.

The digests were computed outside segml (``printf '%s' VALUE | sha256sum``), so a change in
how segml encodes or hashes fails here."""

from __future__ import annotations

import polars as pl
import pytest

from segml.exports.identifiers import (
    country_series,
    email_series,
    google_name,
    google_name_series,
    hash_series,
    meta_name,
    meta_name_series,
    meta_phone,
    meta_zip,
    normalize_country,
    normalize_email,
    normalize_phone,
    sha256_hex,
)

DIGESTS = {
    "john.smith+news@example.com":
        "5f1b1494c68b2fe9ebbc74a966a14c94d25881ad9a68a4d887cdf2c13b3689d4",
    "john.smith@gmail.com": "d0c648bc36f12061bec770df216cea2ab95851b9350fd54b658de53b0407767a",
    "johnsmith@gmail.com": "3586de92bb3636d0885a12eff961429a32e4ebd764b96f50d85d016f9338d586",
    "+447700900123": "a8acc3a90a7b4e4dc65e93db9240ed26523050ef754d63b75b5161de76781436",
    "447700900123": "033134b911b137918338415ee3d20a064b24773d36a3b02e8b99fdd3fcd6b4cd",
    "+12015550123": "e7e096141fe6290f8c04e20b51a686070a9c40f7f304667849b430645aaaf07d",
    "maryann": "16b3f07f0ec2f9dd127b71dc2e6c791b7d93116a1c3bc99d057eaa7a8a077e73",
    "annemarie": "67495eb5715de43c26f7c18b25cc7f62a7540236516bd59d5162a6f743598083",
    "zoë": "2752b88686847fa5c86f47b94ce652b7b3f22a91c37617d451a4db9afa431450",
    "oneil": "67a42a846e98e3c1a96cd6ba14883a5ea05990cd93964ce8b832aa9497ca785c",
    "gb": "0b407281768f0e833afef47ed464b6571d01ca4d53c12ce5c51d1462f4ad6677",
    "sw1a1aa": "830e1d4b9838bab1f5c2acdb23e0b502ff13a9832c4632e8d67a1d43d3b7f614",
    "12345": "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5",
}  # fmt: skip


@pytest.mark.parametrize(("value", "digest"), DIGESTS.items())
def test_sha256_hex_matches_digests_computed_outside_segml(value: str, digest: str) -> None:
    assert sha256_hex(value) == digest


EMAILS = [
    ("john.smith+news@example.com", "john.smith+news@example.com"),  # plus kept
    ("  John.Smith+News@Example.COM ", "john.smith+news@example.com"),  # trim, lower
    ("JOHN.SMITH+NEWS@EXAMPLE.COM", "john.smith+news@example.com"),
    ("john.smith+news @example.com", "john.smith+news@example.com"),  # inner space
    ("John.Smith@Gmail.com", "john.smith@gmail.com"),  # dots kept by default
    ("\tjohn.smith@gmail.com\n", "john.smith@gmail.com"),
    ("john.smith at example.com", None),  # no @
    ("john@smith@example.com", None),
    ("john@localhost", None),  # no top-level domain
    ("@example.com", None),
    ("", None),
    ("   ", None),
    (None, None),
    ("Zoe\u0308@Example.com", "zo\u00eb@example.com"),  # composed (NFC) first
]


@pytest.mark.parametrize(("raw", "expected"), [*EMAILS, (float("nan"), None)])
def test_normalize_email(raw: object, expected: str | None) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("gmail", [False, True])
def test_the_column_rules_agree_with_the_value_rules(gmail: bool) -> None:
    """The destinations normalise whole columns with Polars; the value functions above are
    the reference."""
    raw = [r for r, _ in EMAILS] + ["J.Smith@GoogleMail.com", "a.b@gmail.com.example"]
    want = [normalize_email(r, gmail_remove_dots=gmail) for r in raw]
    got = email_series(pl.Series(raw, dtype=pl.String), gmail_remove_dots=gmail).to_list()
    assert got == want
    names = [r for r, _, _ in NAMES]
    column = pl.Series(names, dtype=pl.String)
    assert google_name_series(column).to_list() == [google_name(n) for n in names]
    assert meta_name_series(column).to_list() == [meta_name(n) for n in names]
    assert hash_series(pl.Series(["maryann", None])).to_list() == [DIGESTS["maryann"], None]
    countries = pl.Series(["GB", " us ", "GBR", "", None, "gb"] * 3, dtype=pl.String)
    assert country_series(countries).to_list() == [normalize_country(c) for c in countries]
    assert hash_series(countries).to_list() == [  # few distinct values: each hashed once
        None if c is None else sha256_hex(c) for c in countries
    ]


def test_gmail_dots_go_only_when_asked_and_only_for_gmail() -> None:
    assert normalize_email("John.Smith@Gmail.com", gmail_remove_dots=True) == "johnsmith@gmail.com"
    assert normalize_email("j.smith@googlemail.com", gmail_remove_dots=True) == (
        "jsmith@googlemail.com"
    )
    assert normalize_email("j.smith@example.com", gmail_remove_dots=True) == "j.smith@example.com"
    hashed = sha256_hex(normalize_email(" John.Smith@GMAIL.com", gmail_remove_dots=True) or "")
    assert hashed == DIGESTS["johnsmith@gmail.com"]


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("07700 900123", "GB", "+447700900123"),  # leading 0: national, read in GB
        ("07700-900-123", "GB", "+447700900123"),  # dashes
        ("(07700) 900 123", "GB", "+447700900123"),
        ("+44 7700 900123", "GB", "+447700900123"),
        ("+44 7700 900123", "US", "+447700900123"),  # an explicit country code wins
        ("0044 7700 900123", "GB", "+447700900123"),  # international prefix from the UK
        ("+44 (0)7700 900123", "GB", "+447700900123"),  # the UK's (0) convention
        ("447700900123", None, "+447700900123"),  # digits with the code, no region
        ("(201) 555-0123", "US", "+12015550123"),
        ("201.555.0123", "US", "+12015550123"),
        ("+1 201-555-0123", "GB", "+12015550123"),
        ("12", "GB", None),  # too short
        ("call me", "GB", None),
        ("", "GB", None),
        (None, "GB", None),
    ],
)
def test_normalize_phone_gives_e164(raw: object, region: str | None, expected: str | None) -> None:
    assert normalize_phone(raw, region=region) == expected


def test_phone_check_valid_rejects_the_fictional_ranges() -> None:
    """Ofcom's drama numbers are possible (the right length) but not valid (not in use)."""
    assert normalize_phone("07700 900123", region="GB", check="possible") == "+447700900123"
    assert normalize_phone("07700 900123", region="GB", check="valid") is None
    assert normalize_phone("020 7946 0000", region="GB", check="valid") == "+442079460000"


def test_meta_phone_is_e164_digits_without_plus() -> None:
    e164 = normalize_phone("07700 900123", region="GB")
    assert meta_phone(e164) == "447700900123"
    assert sha256_hex(meta_phone(e164) or "") == DIGESTS["447700900123"]
    assert meta_phone(None) is None


NAMES = [
    ("  Mary Ann ", "maryann", "maryann"),
    ("MARY ANN", "maryann", "maryann"),
    ("Anne-Marie", "anne-marie", "annemarie"),  # Meta: letters only
    ("O'Neil", "o'neil", "oneil"),
    ("Zoë", "zoë", "zoë"),  # accents kept, hashed as UTF-8
    ("Zoe\u0308", "zoë", "zoë"),  # decomposed: composed first
    ("", None, None),
    ("  ", None, None),
    (None, None, None),
]


@pytest.mark.parametrize(("raw", "google", "meta"), NAMES)
def test_names(raw: object, google: str | None, meta: str | None) -> None:
    assert google_name(raw) == google
    assert meta_name(raw) == meta


def test_name_digests() -> None:
    assert sha256_hex(meta_name("Anne-Marie") or "") == DIGESTS["annemarie"]
    assert sha256_hex(meta_name(" Zoë ") or "") == DIGESTS["zoë"]
    assert sha256_hex(meta_name("Zoe\u0308") or "") == DIGESTS["zoë"]  # decomposed: NFC first


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("SW1A 1AA", "gb", "sw1a1aa"),
        ("12345-6789", "us", "12345"),  # US: the first five digits
        ("1234 AB", "nl", "1234ab"),
        (" 75001 ", "fr", "75001"),
        ("", "gb", None),
    ],
)
def test_meta_zip(raw: str, country: str, expected: str | None) -> None:
    assert meta_zip(raw, country=country) == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [("GB", "gb"), (" us ", "us"), ("GBR", None), ("", None), (None, None)]
)
def test_normalize_country(raw: object, expected: str | None) -> None:
    assert normalize_country(raw) == expected

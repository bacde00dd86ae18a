"""The platform destinations on a hand-written table: exact headers, hashed identifiers,
consent and identifier exclusions counted, no raw personal data in a hashed file, the
partitioned warehouse table, and the data without contact details (Online Retail)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from segml.errors import ConfigError, DataError
from segml.exports import build_destinations, dry_run, write_exports
from segml.segments import Segmenter

RULES = {
    "channels": {"email": "attr__email_consent", "ads": "attr__email_consent"},
    "control": {"salt": "s", "share": 0.0},
    "segments": [
        {"name": "all", "priority": 1, "when": "rfm__frequency >= 0", "channels": ["email", "ads"]},
    ],
}  # fmt: skip
TABLE = pl.DataFrame(
    [
        # id, frequency, email consent, ads consent, country, score
        ("a", 3.0, 1.0, 1.0, "GB", 0.9),
        ("b", 1.0, 1.0, 1.0, "GB", 0.5),
        ("c", 2.0, 1.0, 1.0, "US", 0.4),
        ("d", 5.0, 0.0, 1.0, "GB", 0.8),  # no email consent: out of both channels
        ("e", 1.0, 1.0, 0.0, "DE", 0.2),  # no ads consent (when a destination asks for it)
        ("f", 4.0, 1.0, 1.0, None, 0.3),  # no contact row at all
    ],
    schema=["customer_id", "rfm__frequency", "attr__email_consent", "attr__ads_consent",
            "attr__country", "score__purchase"],
    orient="row",
)  # fmt: skip
CONTACTS = pl.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d", "e"],
        "email": [" John.Smith+News@Example.COM ", None, "not-an-email", "d@example.com",
                  "e@example.org"],
        "phone": ["07700 900123", "+44 7700-900-456", None, "07700 900999", "030 1234567"],
        "first_name": ["Mary Ann", "Zoë", None, "Dee", "Eve"],
        "last_name": ["O'Neil", "Smith", None, "D", "E"],
        "postal_code": ["SW1A 1AA", "EC1A 1BB", "12345-6789", "N1 9GU", "10115"],
    }
)  # fmt: skip
CARRY = TABLE.columns[1:]  # what destination_columns(destinations) gives a job
RAW = [v for c in ("email", "phone") for v in CONTACTS[c].to_list() if v]


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture(scope="module")
def result():
    return Segmenter(rules=RULES).fit_segment(TABLE, carry=CARRY)


def _write(result, tmp_path: Path, destinations: list, contacts=CONTACTS):
    return write_exports(result, out=tmp_path / "run", destinations=destinations, contacts=contacts)


def test_google_ads_file_has_the_documented_headers_and_hashes(result, tmp_path: Path) -> None:
    run = _write(result, tmp_path, [{"type": "google_ads"}])
    text = (tmp_path / "run" / "google_ads/all/ads.csv").read_text()
    lines = text.splitlines()
    assert lines[0] == "Email,Phone"
    # a: trimmed, lower-cased, plus-tag kept; phone read in GB. b: phone only. c: unusable
    # email, no phone: left out. e: email and a German landline. f: no contact row.
    assert lines[1:] == [
        f"{_sha('john.smith+news@example.com')},{_sha('+447700900123')}",
        f",{_sha('+447700900456')}",
        f"{_sha('e@example.org')},{_sha('+49301234567')}",
    ]
    summary = run.manifest["exports"]["google_ads"]
    assert summary["excluded"] == {"held_out": 0, "no_consent": 0, "no_identifier": 2}
    assert summary["rows"] == 3 and summary["columns"] == ["Email", "Phone"]


def test_google_ads_address_columns(result, tmp_path: Path) -> None:
    _write(result, tmp_path, [{"type": "google_ads", "address": True}])
    frame = pl.read_csv(tmp_path / "run" / "google_ads/all/ads.csv", infer_schema=False)
    assert frame.columns == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    a = frame.row(0, named=True)
    assert a["First Name"] == _sha("maryann") and a["Last Name"] == _sha("o'neil")
    assert (a["Country"], a["Zip"]) == ("gb", "SW1A 1AA")  # Google: not hashed


def test_meta_file_has_the_documented_headers_and_hashes(result, tmp_path: Path) -> None:
    _write(result, tmp_path, [{"type": "meta"}])
    frame = pl.read_csv(tmp_path / "run" / "meta/all/ads.csv", infer_schema=False)
    assert frame.columns == ["email", "phone", "fn", "ln", "zip", "country"]
    a = frame.row(0, named=True)
    assert a == {
        "email": _sha("john.smith+news@example.com"),
        "phone": _sha("447700900123"),  # Meta: digits with the country code, no '+'
        "fn": _sha("maryann"),
        "ln": _sha("oneil"),
        "zip": _sha("sw1a1aa"),
        "country": _sha("gb"),
    }
    assert frame.height == 3


def test_consent_exclusions_are_counted(result, tmp_path: Path) -> None:
    ads = {"type": "meta", "consent": "attr__ads_consent"}
    run = _write(result, tmp_path, [ads])
    summary = run.manifest["exports"]["meta"]
    # the audience: a, b, c, e, f (d has no email consent: the rule set's ads channel);
    # e has no ads consent, c and f no usable identifier
    assert summary["excluded"] == {"held_out": 0, "no_consent": 1, "no_identifier": 2}
    assert run.manifest["files"]["meta/all/ads.csv"]["rows"] == 2
    assert run.manifest["segments"]["all"]["channels"]["ads"]["excluded"] != {}  # d, counted


def test_held_out_customers_are_never_sent(tmp_path: Path) -> None:
    rules = {**RULES, "control": {"salt": "s", "share": 0.5}}
    held = Segmenter(rules=rules).fit_segment(TABLE, carry=CARRY)
    run = _write(held, tmp_path, [{"type": "google_ads"}, {"type": "warehouse"}])
    members = held.members.filter(pl.col("eligible__ads"))
    controls = members.filter(pl.col("group") == "control").get_column("customer_id").to_list()
    assert controls  # the salt holds some out
    summary = run.manifest["exports"]["google_ads"]
    assert summary["excluded"]["held_out"] == len(controls)
    sent = summary["rows"] + sum(summary["excluded"].values())
    assert sent == members.height  # every audience member is sent or counted
    text = (tmp_path / "run" / "google_ads/all/ads.csv").read_text()
    for cid in controls:
        row = CONTACTS.filter(pl.col("customer_id") == cid)
        email = row["email"].to_list()[0] if row.height else None
        if email and "@" in email:
            assert _sha(email.strip().lower()) not in text


def test_hashed_files_hold_no_raw_identifier(result, tmp_path: Path) -> None:
    destinations = [{"type": "google_ads"}, {"type": "meta"}]
    _write(result, tmp_path, destinations)
    run = tmp_path / "run"
    files = [*run.glob("google_ads/**/*.csv"), *run.glob("meta/**/*.csv")]
    assert len(files) == 2
    forms = set()
    for raw in RAW:  # as written, normalised, E.164 and Meta's phone digits
        forms |= {raw, raw.strip(), raw.strip().lower(), raw.replace(" ", "")}
    forms |= {"+447700900123", "447700900123", "7700900123", "mary", "o'neil", "oneil"}
    for path in files:
        data = path.read_bytes().lower()
        for form in forms:
            assert form.lower().encode() not in data, (path.name, form)


def test_email_list(result, tmp_path: Path) -> None:
    email = {"type": "email_list", "properties": ["segment", "score__purchase"]}
    run = _write(result, tmp_path, [email])
    frame = pl.read_csv(tmp_path / "run" / "email_platform/all/email.csv")
    assert frame.columns == ["external_id", "email", "segment", "score__purchase"]
    assert frame.rows() == [
        ("a", "john.smith+news@example.com", "all", 0.9),
        ("e", "e@example.org", "all", 0.2),
    ]
    excluded = run.manifest["exports"]["email_list"]["excluded"]
    assert excluded == {"held_out": 0, "no_consent": 0, "no_identifier": 3}  # b, c, f


def test_warehouse_table_is_hive_partitioned(result, tmp_path: Path) -> None:
    as_of = Segmenter(rules=RULES, as_of="2024-06-01").fit_segment(TABLE, carry=CARRY)
    wh = {"type": "warehouse", "properties": ["score__purchase"]}
    run = _write(as_of, tmp_path, [wh])
    paths = sorted(p for p in run.manifest["files"] if p.startswith("warehouse/"))
    assert paths == [
        "warehouse/audiences/as_of=2024-06-01/segment=all/channel=ads/part-0.parquet",
        "warehouse/audiences/as_of=2024-06-01/segment=all/channel=email/part-0.parquet",
    ]
    table = pl.scan_parquet(tmp_path / "run" / "warehouse/audiences", hive_partitioning=True)
    frame = table.collect()
    assert {"as_of", "segment", "channel", "customer_id", "control", "score__purchase"} <= set(
        frame.columns
    )
    assert frame.filter(pl.col("channel") == "ads").height == 5
    assert not {"email", "phone", "contact__email"} & set(frame.columns)


def test_no_contact_details_is_a_message_not_an_error(result, tmp_path: Path) -> None:
    """Online Retail has no email or phone: the files have a header only, every customer is
    counted, and the dry run says why."""
    destinations = [{"type": "google_ads"}, {"type": "meta"}, {"type": "email_list"}]
    plan, notes = dry_run(result, destinations=destinations, contacts=None)
    assert plan["rows"].to_list() == [0, 0, 0]
    assert plan["excluded"].to_list()[0] == "held_out=0 no_consent=0 no_identifier=5"
    assert plan["columns"].to_list()[0] == "Email,Phone"
    assert len(notes) == 3 and "has none of the contact columns" in notes[0]
    run = _write(result, tmp_path, destinations, contacts=None)
    assert (tmp_path / "run" / "google_ads/all/ads.csv").read_text() == "Email,Phone\n"
    assert "message" in run.manifest["exports"]["meta"]


def test_data_without_contacts_or_consent_columns_gets_a_message(tmp_path: Path) -> None:
    """As Online Retail: no customers table beyond the country, so no consent flags either."""
    rules = {**RULES, "channels": {"email": None, "ads": None}}
    bare = Segmenter(rules=rules).fit_segment(TABLE.select("customer_id", "rfm__frequency"))
    plan, notes = dry_run(bare, destinations=[{"type": "google_ads"}], contacts=None)
    assert plan["rows"].to_list() == [0]
    assert plan["excluded"].to_list() == ["held_out=0 no_consent=0 no_identifier=6"]
    assert "has none of the contact columns ['email', 'phone'" in notes[0]


def test_a_missing_consent_column_says_what_to_fix(result) -> None:
    bad = [{"type": "google_ads", "consent": "attr__gdpr_ads"}]
    with pytest.raises(DataError, match=r"no column 'attr__gdpr_ads' \(audience all/ads, 5 rows\)"):
        dry_run(result, destinations=bad, contacts=CONTACTS)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "google_ads", "default_country": "Britain"}, "two-letter ISO country code"),
        ({"type": "meta", "path": "meta/{segment}/{channel}.txt"}, r"must end in \.csv"),
        ({"type": "google_ads", "phone_check": "strict"}, "phone_check: Input should be"),
        ({"type": "warehouse", "table": "../out"}, "without '..'"),
        ({"type": "warehouse", "table": "wh/as_of={as_of}"}, "plain folder"),
        ({"type": "email_list", "colums": ["x"]}, "colums: Extra inputs"),
    ],
)
def test_bad_options_say_what_to_fix(entry: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_destinations([entry])


BIG = pl.DataFrame(
    {
        "customer_id": [f"c{i:02d}" for i in range(12)],
        "rfm__frequency": [1.0] * 12,
        "attr__email_consent": [1.0] * 12,
        "attr__country": ["GB"] * 12,
    }
)


@pytest.mark.parametrize(
    ("column", "values", "destination", "message"),
    [
        ("email", [f"{1000 + i}" for i in range(12)], "email_list",
         r"customers\.email has 12 values in its audiences and none is a usable email "
         r"\(e\.g\. '1\*\*\*', masked\)\. Map data\.customers\.columns\.email"),
        ("phone", ["n/a"] * 12, "google_ads",
         r"customers\.phone has 12 values .* none is a usable phone \(e\.g\. 'n/\*', masked\).*"
         r"default_country"),
    ],
)  # fmt: skip
def test_a_contact_column_mapped_to_the_wrong_data_says_so(
    column: str, values: list[str], destination: str, message: str
) -> None:
    """Every value unusable: a wrong mapping, not bad luck. The message shows the shape of a
    value, never the value."""
    rules = {**RULES, "control": {"salt": "s", "share": 0.0}}
    result = Segmenter(rules=rules).fit_segment(BIG, carry=BIG.columns[1:])
    contacts = pl.DataFrame({"customer_id": BIG["customer_id"], column: values})
    with pytest.raises(DataError, match=message):
        dry_run(result, destinations=[{"type": destination}], contacts=contacts)


def test_some_unusable_values_are_counted_not_an_error(result, tmp_path: Path) -> None:
    run = _write(result, tmp_path, [{"type": "google_ads"}])
    # c's "not-an-email"; every phone number of the audience parses
    assert run.manifest["exports"]["google_ads"]["unusable_values"] == {"email": 1}
    assert "not-an-email" not in json.dumps(run.manifest)

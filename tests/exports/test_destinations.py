"""Destinations: segment once, export to many. The worked example of adding a destination is
``JsonLines`` below: one class, registered from this test module without touching segml's
files, then used by `segml segment` through the config (and by a scoring run in
tests/test_score_job.py::test_score_segments_once_and_exports_to_a_destination_from_config)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest
import yaml

from segml.cli import main
from segml.config import Config, DestinationConfig, ExportsConfig
from segml.errors import ConfigError
from segml.exports import (
    AUDIENCE_COLUMNS,
    Audience,
    CsvDestination,
    Destination,
    DestinationOptions,
    ParquetDestination,
    Plan,
    build_destinations,
    destination_types,
    export_segments,
    plan_exports,
    register_destination,
    write_exports,
)
from segml.io import atomic_file
from segml.segments import Segmenter
from tests.segments.helpers import RULESET, tiny

# -- the worked example: a JSON-lines destination, registered from a test module ---------------


class JsonLinesOptions(DestinationOptions):
    path: str = "jsonl/{segment}/{channel}.jsonl"
    fields: tuple[str, ...] = ("customer_id", "control")  # what the receiving platform takes


@register_destination
class JsonLines(Destination):
    """One JSON object per line and customer, only ``fields``; the treatment group only (the
    hold-out is never sent), with the number of held-out customers in the manifest."""

    type = "jsonl"
    Options = JsonLinesOptions
    options: JsonLinesOptions

    def plan(self, audiences: Sequence[Audience]) -> Plan:
        files, held_out = {}, 0
        for a in audiences:
            path = self.options.path.format(segment=a.segment, channel=a.channel)
            files[path] = a.frame.filter(~pl.col("control")).select(*self.options.fields)
            held_out += int(a.frame.get_column("control").sum())
        return Plan(files, summary={"held_out": held_out, "fields": list(self.options.fields)})

    def write_file(self, frame: pl.DataFrame, path: Path) -> None:
        with atomic_file(path) as tmp:
            frame.write_ndjson(tmp)

    def reads(self) -> list[str]:  # fields beyond the audience's own columns
        return [f for f in self.options.fields if f not in AUDIENCE_COLUMNS]


AUDIENCES = ["everyone_gb/onsite", "lapsed/email", "loyal/sms", "vip_at_risk/email",
             "vip_at_risk/sms"]  # fmt: skip


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.*")}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    tiny().write_parquet(tmp_path / "scores.parquet")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(RULESET))
    return tmp_path


def _segment(workspace: Path, exports: object | None, out: str = "run") -> Path:
    lines = ["data:\n  synthetic_customers: 10\nsegments: rules.yaml\n"]
    if exports is not None:
        lines.append(yaml.safe_dump({"exports": exports}))
    (workspace / "job.yaml").write_text("".join(lines))
    args = ["segment", "--config", str(workspace / "job.yaml"), "--out", str(workspace / out)]
    assert main([*args, "--scores", str(workspace / "scores.parquet")]) == 0
    return workspace / out


def test_a_destination_from_a_test_module_is_used_through_the_config(workspace: Path) -> None:
    fields = ["customer_id", "control", "attr__country"]  # the country is read for this one
    crm = {"type": "jsonl", "name": "crm", "fields": fields}
    out = _segment(workspace, {"destinations": [{"type": "parquet"}, crm]})
    files = _files(out)
    assert sorted(n for n in files if n.startswith(("audiences/", "jsonl/"))) == sorted(
        [f"audiences/{a}.parquet" for a in AUDIENCES] + [f"jsonl/{a}.jsonl" for a in AUDIENCES]
    )  # no CSV: the config asked for Parquet and JSON lines
    manifest = json.loads(files["_manifest.json"])
    held_out = 0
    for a in AUDIENCES:
        parquet = pl.read_parquet(out / f"audiences/{a}.parquet")
        lines = [json.loads(x) for x in files[f"jsonl/{a}.jsonl"].decode().splitlines()]
        sent = parquet.filter(~pl.col("control")).select("customer_id", "control")
        country = tiny().select("customer_id", "attr__country")
        sent = sent.join(country, on="customer_id", maintain_order="left")
        assert lines == sent.to_dicts()
        held_out += int(parquet.get_column("control").sum())
        entry = manifest["files"][f"jsonl/{a}.jsonl"]
        assert entry == {
            "rows": len(lines),
            "sha256": hashlib.sha256(files[f"jsonl/{a}.jsonl"]).hexdigest(),
        }
    assert held_out > 0  # b in lapsed/email is held out in the tiny table
    assert manifest["exports"] == {"crm": {"held_out": held_out, "fields": fields}}
    lapsed = pl.read_parquet(out / "audiences/lapsed/email.parquet")
    assert "attr__country" not in lapsed.columns  # only the destination that reads it gets it


def test_the_default_exports_are_the_parquet_and_csv_files(workspace: Path) -> None:
    default = _files(_segment(workspace, None, out="default"))
    explicit = {"destinations": [{"type": "parquet"}, {"type": "csv"}]}
    spelled = _files(_segment(workspace, explicit, out="spelled"))
    assert sorted(default) == sorted(spelled)
    assert sorted(n for n in default if n.startswith("audiences/")) == sorted(
        f"audiences/{a}.{ext}" for a in AUDIENCES for ext in ("parquet", "csv")
    )
    for name in default:  # the manifest differs only in the time it was written
        if name != "_manifest.json":
            assert default[name] == spelled[name], name
    manifests = [json.loads(f["_manifest.json"]) for f in (default, spelled)]
    assert "exports" not in manifests[0]  # Parquet and CSV have nothing to add to their files
    stable = [{k: v for k, v in m.items() if k != "written_at"} for m in manifests]
    assert stable[0] == stable[1]


def test_the_csv_options(tmp_path: Path) -> None:
    semicolon = CsvDestination(name="excel", path="crm/{segment}-{channel}.csv", separator=";")
    run = export_segments(tiny(), rules=RULESET, out=tmp_path / "run", destinations=[semicolon])
    text = (tmp_path / "run" / "crm" / "lapsed-email.csv").read_text()
    assert text.splitlines()[0].startswith("customer_id;segment;channel;control;message")
    frame = pl.read_csv(tmp_path / "run" / "crm" / "lapsed-email.csv", separator=";")
    assert (
        frame.height == run.manifest["files"]["crm/lapsed-email.csv"]["rows"] == 1
    )  # b: g has no email consent


def test_one_segmentation_goes_to_every_destination(tmp_path: Path) -> None:
    seg = Segmenter(rules=RULESET).fit(tiny())
    result = seg.segment(tiny())
    plan = plan_exports(result, destinations=[{"type": "jsonl"}, {"type": "parquet"}])
    run = write_exports(
        result, out=tmp_path / "run", destinations=[JsonLines(), ParquetDestination()]
    )
    assert run.result is result and run.report is result.report
    planned = dict(zip(plan["path"], plan["rows"], strict=True))
    written = {k: v["rows"] for k, v in run.manifest["files"].items() if k in planned}
    assert planned == written and len(planned) == 2 * len(AUDIENCES)
    assert set(plan["type"]) == {"jsonl", "parquet"}
    assert not (tmp_path / "run" / "audiences" / "lapsed" / "email.csv").exists()


def test_segment_and_transform_set_no_state() -> None:
    """Only fit learns: segment and transform leave the estimator as fit left it (they used to
    set report_ and qualifying_ on every call)."""
    seg = Segmenter(rules=RULESET).fit(tiny())
    fitted = dict(vars(seg))
    result = seg.segment(tiny(seed=3))
    members = seg.transform(tiny(seed=4))
    assert dict(vars(seg)) == fitted
    assert members.equals(result.members)
    assert result.qualifying["lapsed"] == ["rfm__recency_days"]  # its condition reads it
    assert result.values is not None and result.values.columns[:2] == ["_row", "customer_id"]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"type": "ftp"}], r"\[0\]\.type: unknown destination type 'ftp'; registered: \[.*'csv'"),
        ([{"type": "csv", "sep": ";"}], r"\[0\]: destination 'csv' \(type csv\): sep: Extra"),
        ([{"type": "csv", "separator": "x"}], r"separator: Input should be ','"),
        ([{"type": "parquet", "path": "a/{segment}.parquet"}], r"placeholders \{segment\} and"),
        ([{"type": "parquet", "path": "../{segment}/{channel}.parquet"}], "without '..'"),
        ([{"type": "parquet", "path": "{segment}/{channel}.csv"}], r"must end in \.parquet"),
        ([{"type": "csv"}, {"type": "csv", "path": "b/{segment}/{channel}.csv"}],
         "the name 'csv' is used by 2 destinations"),
        ([{"type": "ftp"}, {"type": "csv", "sep": ";"}], "2 export destination problem"),
    ],
)  # fmt: skip
def test_bad_destinations_are_refused_with_what_to_fix(entries: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_destinations(entries)


def test_two_destinations_writing_one_file_are_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    twice = [{"type": "csv"}, {"type": "csv", "name": "again"}]
    with pytest.raises(ConfigError, match=r"'again' would write 'audiences/.*', which 'csv'"):
        export_segments(tiny(), rules=RULESET, out=tmp_path / "run", destinations=twice)
    assert not (tmp_path / "run").exists()


def test_a_bad_exports_config_fails_before_segmenting(workspace: Path, capsys) -> None:
    (workspace / "job.yaml").write_text(
        "segments: rules.yaml\nexports: {destinations: [{type: csv, separator: x}]}\n"
    )
    args = ["segment", "--config", str(workspace / "job.yaml"), "--out", str(workspace / "run")]
    assert main([*args, "--scores", str(workspace / "scores.parquet")]) == 2
    assert (
        "exports.destinations[0]: destination 'csv' (type csv): separator"
        in capsys.readouterr().err
    )
    assert not (workspace / "run").exists()


def test_registering_a_taken_type_is_refused() -> None:
    class Other(JsonLines):
        pass

    with pytest.raises(ConfigError, match=r"'jsonl' is already registered by .*JsonLines"):
        register_destination(Other)
    assert register_destination(JsonLines) is JsonLines  # the same class again is fine
    assert {"csv", "parquet", "jsonl"} <= set(destination_types())


def test_the_default_exports_leave_the_config_hash_as_it_was() -> None:
    """exports: is left out of the config's dump (so of a scoring run's config_hash) when it is
    the default, so adding the section changed no partition's bytes."""
    assert "exports" not in Config().model_dump_json()
    same = Config(exports=ExportsConfig(destinations=[DestinationConfig(type="parquet"),
                                                      DestinationConfig(type="csv")]))  # fmt: skip
    assert same.model_dump_json() == Config().model_dump_json()
    other = Config.model_validate({"exports": {"destinations": [{"type": "jsonl"}]}})
    assert '"exports":{"destinations":[{"type":"jsonl","name":null}]}' in other.model_dump_json()


def test_a_dry_run_prints_what_each_destination_would_write(workspace: Path, capsys) -> None:
    exports = {"destinations": [{"type": "csv"}, {"type": "jsonl", "name": "crm"}]}
    (workspace / "job.yaml").write_text(
        "segments: rules.yaml\n" + yaml.safe_dump({"exports": exports})
    )
    args = ["segment", "--config", str(workspace / "job.yaml"), "--dry-run"]
    assert main([*args, "--scores", str(workspace / "scores.parquet")]) == 0
    printed = capsys.readouterr().out
    cells = [tuple(c.strip(" │") for c in line.split("┆")) for line in printed.splitlines()]
    rows = {c[:4] for c in cells}  # then the customers each file leaves out
    assert ("crm", "jsonl", "jsonl/lapsed/email.jsonl", "0") in rows  # b is held out
    assert ("csv", "csv", "audiences/lapsed/email.csv", "1") in rows
    assert "crm (jsonl): 5 files, 4 rows" in printed  # its manifest summary: a note
    assert "dry run: 10 files, " in printed and "nothing written." in printed
    assert sorted(p.name for p in workspace.iterdir()) == [
        "job.yaml",
        "rules.yaml",
        "scores.parquet",
    ]


class Unregistered(JsonLines):
    """Never registered: a config names it by its import path."""

    type = "jsonl_by_path"


def test_a_config_can_name_a_destination_class_by_its_import_path(tmp_path: Path) -> None:
    path = f"{__name__}:Unregistered"
    (built,) = build_destinations([{"type": path, "name": "lines"}])
    assert isinstance(built, Unregistered) and built.name == "lines"
    assert "jsonl_by_path" not in destination_types()
    run = export_segments(
        tiny(), rules=RULESET, out=tmp_path / "run", destinations=[{"type": path}]
    )
    assert "jsonl/lapsed/email.jsonl" in run.manifest["files"]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("no_such_module_xyz:Thing", "could not be imported: No module named 'no_such_module_xyz'"),
        (f"{__name__}:Missing", "could not be imported: module .* has no attribute 'Missing'"),
        ("json:dumps", "'json:dumps' is not a segml.exports.Destination subclass"),
    ],
)
def test_a_bad_import_path_says_what_was_wrong(kind: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_destinations([{"type": kind}])

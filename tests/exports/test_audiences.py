"""Segment run folders: audiences gated on consent, a manifest that matches the bytes, atomic
replacement, and the `segml segment` command with its exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import polars as pl
import pytest
import yaml

import segml.exports.run as run_module
from segml.cli import main
from segml.errors import ConfigError
from segml.exports import audience_frames, export_segments
from segml.segments import Segmenter
from tests.segments.helpers import RULES, RULESET, scored_store, tiny


def test_run_folder_by_hand(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run = export_segments(tiny(), rules=RULESET, out=out)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    audiences = ["everyone_gb/onsite", "lapsed/email", "loyal/sms", "vip_at_risk/email",
                 "vip_at_risk/sms"]  # fmt: skip
    assert files == sorted(
        ["_manifest.json", "members.parquet", "report.json"]
        + [f"audiences/{a}.{ext}" for a in audiences for ext in ("csv", "parquet")]
    )
    members = pl.read_parquet(out / "members.parquet")
    groups = dict(members.select("customer_id", "group").iter_rows())
    # loyal has no control group: c is treated and consents to sms
    assert pl.read_csv(out / "audiences/loyal/sms.csv").get_column("customer_id").to_list() == ["c"]
    lapsed = pl.read_parquet(out / "audiences/lapsed/email.parquet")
    assert pl.read_csv(out / "audiences/lapsed/email.csv").equals(lapsed)
    # g is lapsed too but has no email consent; b is listed in either group, flagged
    assert lapsed.columns == ["customer_id", "segment", "channel", "control", "message", "offer",
                              "window_start", "window_end", "rfm__recency_days"]  # fmt: skip
    assert lapsed.select(
        "customer_id", "segment", "channel", "control", "rfm__recency_days"
    ).rows() == [("b", "lapsed", "email", groups["b"] == "control", 150.0)]
    vip = pl.read_parquet(out / "audiences/vip_at_risk/sms.parquet")
    assert vip.columns[-2:] == ["decile__lapse", "decile__value"]  # what qualified them
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest == run.manifest | {"written_at": manifest["written_at"]}
    for name, entry in manifest["files"].items():
        data = (out / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["files"]["members.parquet"]["rows"] == 7
    assert manifest["thresholds"] == {"lapse_days": pytest.approx(44.0)}
    assert manifest["salt"] == "test-salt" and manifest["rules"]["segments"][0]["name"] == "lapsed"
    assert len(manifest["rules_fingerprint"]) == 16
    lapsed_counts = manifest["segments"]["lapsed"]
    assert lapsed_counts["members"] == 2
    sends = lapsed_counts["channels"]["email"]
    assert sends["send"] + sends["control"] == 1 and sends["excluded"] == {"no_opt_in": 1}
    assert manifest["segments"]["no_segment"]["channels"] == {}
    report = json.loads((out / "report.json").read_text())
    assert report["thresholds"][0]["rule"].startswith("0.9 quantile of rfm__gap_median_days")


def test_reruns_give_identical_audiences(tmp_path: Path) -> None:
    first = export_segments(scored_store(), rules=RULES, out=tmp_path / "a").manifest["files"]
    shuffled = scored_store().sample(fraction=1.0, shuffle=True, seed=9)
    second = export_segments(shuffled, rules=RULES, out=tmp_path / "b").manifest["files"]
    assert first == second  # same bytes, whatever the input order


def test_audiences_are_one_filter_per_segment_and_channel_in_id_order() -> None:
    """The audiences equal the plain reference (filter the members by segment and channel,
    join the qualifying values, sort by id), also for members in a shuffled order."""
    seg = Segmenter(rules=RULES)
    customers = scored_store()
    result = seg.fit_segment(customers)
    members, qualifying = result.members, result.qualifying
    got = audience_frames(
        members.sample(fraction=1.0, shuffle=True, seed=4),
        rule_set=seg.rule_set_,
        customers=customers,
        qualifying=qualifying,
    )
    values = customers.select("customer_id", *sorted(set().union(*qualifying.values())))
    joined = members.join(values, on="customer_id", how="left")
    expected_keys = []
    for rule in seg.rule_set_.ordered():
        for channel in rule.channels:
            key = f"{rule.name}/{channel}"
            expected_keys.append(key)
            mine = joined.filter(
                (pl.col("segment") == rule.name) & pl.col(f"eligible__{channel}")
            ).sort("customer_id")
            assert got[key].get_column("customer_id").to_list() == mine["customer_id"].to_list()
            assert (
                got[key].get_column("control").to_list()
                == (mine.get_column("group") == "control").to_list()
            )
            for column in qualifying[rule.name]:
                assert got[key].get_column(column).equals(mine.get_column(column)), key
    assert list(got) == expected_keys
    assert sum(f.height for f in got.values()) > 0


def test_days_since_counts_to_the_as_of_date_in_the_manifest(tmp_path: Path) -> None:
    import datetime as dt

    frame = tiny().with_columns(
        pl.col("customer_id")
        .replace_strict({"a": dt.date(2024, 5, 1), "b": dt.date(2024, 5, 30)}, default=None)
        .alias("last_click")
    )
    rules = {
        **RULESET,
        "segments": [
            {"name": "clicked", "priority": 1, "when": "days_since(last_click) <= 7",
             "channels": ["onsite"]},
        ],
    }  # fmt: skip
    run = export_segments(frame, rules=rules, out=tmp_path / "run", as_of="2024-06-01")
    assert run.manifest["as_of"] == "2024-06-01T00:00:00"
    audience = pl.read_csv(tmp_path / "run/audiences/clicked/onsite.csv")
    assert audience.get_column("customer_id").to_list() == ["b"]  # 2 days; a: 31 days
    with pytest.raises(ConfigError, match=r"days_since\(last_click\) needs the run's as-of"):
        export_segments(frame, rules=rules, out=tmp_path / "run")
    assert json.loads((tmp_path / "run/_manifest.json").read_text())["as_of"] is not None


def test_a_failed_run_leaves_the_previous_folder(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    export_segments(tiny(), rules=RULESET, out=out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(run_module, "write_json", broken)
    with pytest.raises(OSError, match="disk full"):
        export_segments(tiny(seed=3), rules={**RULESET, "control": {"salt": "new"}}, out=out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.lock", ".versions", "run"]
    assert os.listdir(tmp_path / ".versions" / "run") == ["000001"]  # no staging leftovers
    bad = {**RULESET, "segments": [{"name": "x", "priority": 1, "when": "nope > 1"}]}
    with pytest.raises(ConfigError, match="unknown column 'nope'"):
        export_segments(tiny(), rules=bad, out=out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    tiny().write_parquet(tmp_path / "scores.parquet")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(RULESET))
    (tmp_path / "job.yaml").write_text("data:\n  synthetic_customers: 10\nsegments: rules.yaml\n")
    return tmp_path


def test_segment_command(workspace: Path, capsys) -> None:
    out = workspace / "run"
    args = ["segment", "--config", str(workspace / "job.yaml")]
    assert main([*args, "--scores", str(workspace / "scores.parquet"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "@lapse_days = 44 (0.9 quantile of rfm__gap_median_days" in printed
    assert (
        "vip_at_risk" in printed
        and f"wrote 5 audiences to parquet, csv, members.parquet, report.json and "
        f"_manifest.json to {out}"
        in printed
    )
    assert json.loads((out / "_manifest.json").read_text())["source"].endswith("scores.parquet")


@pytest.mark.parametrize(
    ("job", "rules", "scores", "code", "message"),
    [
        ("data: {synthetic_customers: 10}\n", None, None, 2, "no rule set; set segments: PATH"),
        ("segmnts: rules.yaml\n", None, None, 2, "segmnts: Extra inputs are not permitted"),
        ("segments: missing.yaml\n", None, None, 2, "rule set file .*missing.yaml' does not exist"),
        (
            "segments: rules.yaml\n",
            {**RULESET, "segments": [{"name": "x", "priority": 1, "when": "rfm__frequncy > 1"}]},
            None,
            2,
            "did you mean 'rfm__frequency'",
        ),
        (
            "segments: rules.yaml\n",
            {**RULESET, "segments": [{"name": "x", "priority": 1, "when": "open('f')"}]},
            None,
            2,
            r"segments\.0\.when: unknown function 'open'",
        ),
        (
            "segments: rules.yaml\n",
            None,
            pl.concat([tiny(), tiny().head(1)]),
            3,
            "1 rows repeat a customer_id",
        ),
        ("segments: rules.yaml\n", None, "missing", 3, "scores: no file at"),
    ],
)
def test_segment_command_errors(
    workspace: Path, capsys, job: str, rules, scores, code: int, message: str
) -> None:
    (workspace / "job.yaml").write_text(job)
    if rules is not None:
        (workspace / "rules.yaml").write_text(yaml.safe_dump(rules))
    path = workspace / "scores.parquet"
    if isinstance(scores, pl.DataFrame):
        scores.write_parquet(path)
    elif scores == "missing":
        path = workspace / "nope.parquet"
    args = ["segment", "--config", str(workspace / "job.yaml"), "--scores", str(path)]
    assert main(["--quiet", *args, "--out", str(workspace / "run")]) == code  # no progress
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(message, err), err
    assert not (workspace / "run").exists()


def test_rules_option_overrides_the_config(workspace: Path) -> None:
    (workspace / "job.yaml").write_text("segments: does-not-exist.yaml\n")
    args = ["segment", "--config", str(workspace / "job.yaml"), "--rules"]
    args += [str(workspace / "rules.yaml"), "--scores", str(workspace / "scores.parquet")]
    assert main([*args, "--out", str(workspace / "run")]) == 0


def test_previous_run_gives_transitions(workspace: Path, capsys) -> None:
    out = workspace / "run"
    args = ["segment", "--config", str(workspace / "job.yaml"), "--scores"]
    args += [str(workspace / "scores.parquet"), "--out", str(out)]
    assert main(args) == 0
    assert main([*args, "--previous", str(out)]) == 0  # the folder it replaces: read first
    printed = capsys.readouterr().out
    assert "changes since the previous run" in printed and "0 customers changed segment" in printed
    table = pl.read_csv(out / "transitions.csv")
    assert table.filter(pl.col("from_segment") != pl.col("to_segment")).height == 0
    assert table.get_column("customers").sum() == 7
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["changes"]["moved"] == 0 and "transitions.parquet" in manifest["files"]


def test_segment_readout_command(workspace: Path, capsys) -> None:
    run = workspace / "run"
    base = ["segment", "--config", str(workspace / "job.yaml")]
    assert main([*base, "--scores", str(workspace / "scores.parquet"), "--out", str(run)]) == 0
    orders = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c", "g"],
            "order_id": ["o1", "o2", "o3", "o4"],
            "order_time": ["2024-06-02", "2024-06-03", "2024-06-04", "2024-07-09"],
            "revenue": [10.0, 20.0, 30.0, 40.0],
        }
    )
    orders.write_csv(workspace / "orders.csv")
    args = [*base, "--readout", str(run), "--orders", str(workspace / "orders.csv")]
    args += ["--start", "2024-06-01", "--end", "2024-07-01", "--out", str(workspace / "r.csv")]
    assert main(args) == 0, capsys.readouterr().err
    result = pl.read_csv(workspace / "r.csv")
    assert result.get_column("segment").to_list() == [
        "vip_at_risk",
        "lapsed",
        "loyal",
        "everyone_gb",
    ]
    assert main([*base, "--readout", str(run)]) == 2
    assert "--readout needs the campaign window" in capsys.readouterr().err

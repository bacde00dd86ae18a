"""`segml report`: one self-contained HTML file; absent inputs are said, not failed on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from segml.cli import main
from segml.config import Config
from segml.datasets import make_shop
from segml.io import write_json
from segml.jobs import build_feature_table
from segml.report import SECTIONS, write_report
from segml.schema import prepare

pytestmark = pytest.mark.xdist_group("report")


def _sections(text: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="(\w+)" data-available="(true|false)">', text))


def test_report_of_a_scored_run_has_every_section(scored_store: Path) -> None:
    scores = scored_store / "runs" / "scores"
    assert main(["report", "--run", str(scores)]) == 0  # a folder of partitions: the latest
    path = scores / "as_of=2024-11-01" / "report.html"
    text = path.read_text()
    assert _sections(text) == {key: "true" for key in SECTIONS}
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', text)
    for target in ("purchase", "lapse", "value"):
        assert {f"{target}: calibration and cumulative gain", f"{target}: lift by decile",
                f"{target}: SHAP summary"} <= set(images)  # fmt: skip
    assert {"cluster sizes and feature ratios", "rule-segment members",
            "PSI against the previous run"} <= set(images)  # fmt: skip
    assert "Previous run: as_of=2024-10-01" in text
    # readable: what each hygiene check did, cutoffs summarised rather than listed
    assert "dropped: no customer id" in text
    assert re.search(
        r"trained on (\d+ cutoffs, [-\d]{10} to [-\d]{10}|1 cutoff \([-\d]{10}\))", text
    )
    assert not re.search(r"\d{4}-\d{2}-\d{2},\d{4}-\d{2}-\d{2}", text)
    # self-contained: no script, no stylesheet or image fetched from anywhere
    assert "<script" not in text
    assert not re.search(r'(src|href)="(https?:)?//', text)


def test_first_run_has_no_previous_and_says_so(scored_store: Path, tmp_path: Path) -> None:
    run = scored_store / "runs" / "scores" / "as_of=2024-10-01"
    text = write_report(run, out=tmp_path / "r.html").read_text()
    assert "No earlier as_of=DATE run beside this one" in text


def test_partition_without_store_says_what_is_missing(tmp_path: Path) -> None:
    """A partition with features and quality only, and no tracking store anywhere."""
    shop = make_shop(200, seed=3)
    tables = prepare({"orders": shop.orders, "events": shop.events, "customers": shop.customers})
    features, builder = build_feature_table(tables, Config(), as_of="2024-11-01")
    part = tmp_path / "runs" / "as_of=2024-11-01"
    part.mkdir(parents=True)
    features.write_parquet(part / "features.parquet")
    write_json({"as_of": "2024-11-01", "quality": builder.quality_.to_dict()},
               part / "_manifest.json")  # fmt: skip
    path = write_report(part)
    assert path == part / "report.html"
    text = path.read_text()
    assert _sections(text) == {"quality": "true", "backtest": "false", "plots": "false",
                               "btyd": "false", "clusters": "false", "rules": "false",
                               "drift": "false"}  # fmt: skip
    assert "No MLflow tracking store" in text
    assert "No rule segments in" in text
    assert "No drift.csv in this run" in text


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nope", "is not a folder"),
        (lambda p: p, "has no _manifest.json and no as_of=DATE partitions"),
    ],
)
def test_bad_run_folder_exits_3(tmp_path: Path, capsys, make, message: str) -> None:
    assert main(["report", "--run", str(make(tmp_path))]) == 3
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err

"""The report's BTYD diagnostics section: drawn from the training runs' artifact and the scoring
run, each missing input said instead of failed on."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from segml import tracking
from segml.io import write_json
from segml.report.btyd import CLV_COLUMN, _value, btyd_section
from segml.report.inputs import read_run
from segml.report.models import find_model_runs

pytestmark = pytest.mark.xdist_group("report")

PARAMS = {"bg": {"r": 0.5, "alpha": 10.0, "a": 0.8, "b": 2.5}, "gg": None}


def _images(html: str) -> set[str]:
    return set(re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', html))


def test_scored_run_shows_every_diagnostic(scored_store: Path, tmp_path: Path) -> None:
    run = scored_store / "runs" / "scores" / "as_of=2024-11-01"
    uri = tracking.default_tracking_uri(scored_store / "runs")
    inputs = read_run(run)
    models = find_model_runs(inputs, uri, "segml")
    section = btyd_section(inputs, models, uri)
    html = section.body
    assert section.available
    assert {"expected purchases matrix", "P(alive) matrix", "calibration vs holdout",
            "cumulative repeat transactions"} <= _images(html)  # fmt: skip
    # the scoring run's lifetime outputs stored their fit: the matrices come from it
    assert "the BG/NBD this scoring run fitted as of" in html
    assert "predicted customer value" in _images(html)  # from its clv__btyd_12m column
    assert "value model: predicted" in html and "BG/NBD x Gamma-Gamma: actual" in html
    assert html.count("<tr>") >= 1 + 7 + 1 + 10  # groups 0..6+ and ten deciles (+ headers)

    # the same partition with a predicted-value column: the histogram is drawn
    copy = tmp_path / "scores" / "as_of=2024-11-01"
    copy.mkdir(parents=True)
    live = inputs.folder
    assert live is not None
    shutil.copy(live / "_manifest.json", copy / "_manifest.json")
    scores = pl.read_parquet(live / "scores.parquet")
    values = pl.Series("clv__btyd_12m", [float(i % 50) * 3.0 for i in range(scores.height)])
    scores.with_columns(values).write_parquet(copy / "scores.parquet")
    html = _value(read_run(copy), models, uri, CLV_COLUMN)  # only the value subsection
    assert "predicted customer value" in _images(html)
    assert "No clv__btyd_12m column" not in html


def test_scoring_fit_is_preferred_and_a_constant_p_alive_is_said(tmp_path: Path) -> None:
    part = tmp_path / "as_of=2024-11-01"
    part.mkdir()
    write_json({"as_of": "2024-11-01"}, part / "_manifest.json")
    write_json({"as_of": "2024-11-01T00:00:00", "horizons": [30.0], "params": PARAMS},
               part / "btyd_fit.json")  # fmt: skip
    pl.DataFrame({
        "customer_id": ["a", "b", "c"], "rfm__frequency": [1.0, 3.0, 5.0],
        "rfm__tenure_days": [40.0, 90.0, 200.0], "btyd__p_alive": [0.999, 0.998, 0.999],
        "btyd__expected_purchases_30d": [0.1, 0.2, 0.3],
    }).write_parquet(part / "scores.parquet")  # fmt: skip
    section = btyd_section(read_run(part), [], None)
    assert section.available
    assert "the BG/NBD this scoring run fitted as of 2024-11-01T00:00:00" in section.body
    assert "Nearly every customer has the same P(alive)" in section.body
    assert {"expected purchases matrix", "P(alive) matrix"} <= _images(section.body)
    assert "Rows: repeat purchases (0 to 4" in section.body  # 99th percentile of 5 - 1
    assert "No btyd_diagnostics" not in section.body
    assert "tables/btyd_diagnostics.json in the training runs" in section.body


def test_without_any_input_the_section_says_what_is_missing(tmp_path: Path) -> None:
    part = tmp_path / "as_of=2024-11-01"
    part.mkdir()
    write_json({"as_of": "2024-11-01"}, part / "_manifest.json")
    section = btyd_section(read_run(part), [], None)
    assert not section.available
    assert "No BG/NBD fit" in section.body
    assert "No clv__btyd_12m column" in section.body
    assert "No value model run" in section.body

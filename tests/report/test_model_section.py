"""The report's model section: a value is bold only when it wins beyond noise, and every model
keeps one colour in every figure."""

from __future__ import annotations

import re
from typing import Any

import matplotlib.colors as mcolors
import numpy as np
import pytest

from segml.models.metrics import decile_table
from segml.models.palette import model_style
from segml.report.figures import lift_by_decile
from segml.report.models import ModelRun, _backtest_table

# The lapse backtest of the shipped demo before the fix: RFM's top "decile" (a merged tie,
# 13% of customers) looked best on capture and was bolded.
METRICS = {
    "model_roc_auc": 0.733, "rfm_roc_auc": 0.718, "btyd_roc_auc": 0.726,
    "model_top_decile_capture": 0.157, "rfm_top_decile_capture": 0.207,
    "btyd_top_decile_capture": 0.165, "rfm_largest_tie_share": 0.39,
}  # fmt: skip


def _run(metrics: dict[str, float]) -> ModelRun:
    return ModelRun("lapse", "segml-lapse", "1", "abc", "used", {"metrics": metrics})


def _bold(html: str) -> list[str]:
    return re.findall(r"<b[^>]*>([^<]*)</b>", html)


def _winners(**won: str | None) -> dict[str, Any]:
    def entry(who: str | None) -> dict[str, Any]:
        versus = {"rfm": {"diff": 0.015, "low": 0.005, "high": 0.025, "verdict": "beats"}}
        return {"best": who, "winner": who, "versus": versus if who else {}}

    return {"metrics": {name: entry(who) for name, who in won.items()}}


def test_without_comparisons_nothing_is_bold_and_the_table_says_why() -> None:
    html = _backtest_table(_run(METRICS), None)
    assert _bold(html) == []
    assert "values shown without a winner" in html
    assert "RFM baseline 39%" in html  # the tie is named


def test_only_a_winner_beyond_noise_is_bold() -> None:
    # roc_auc: the model beats both; capture: the best value has no clear win -> no bold
    html = _backtest_table(_run(METRICS), _winners(roc_auc="model", top_decile_capture=None))
    assert _bold(html) == ["0.733"]
    assert 'title="beats rfm by 0.015 [0.005, 0.025]"' in html
    assert "without a winner" not in html


def _bar_colours(fig: Any) -> dict[str, set[str]]:
    ax = fig.axes[0]
    out: dict[str, set[str]] = {}
    for container in ax.containers:
        out[container.get_label()] = {mcolors.to_hex(p.get_facecolor()) for p in container}
    return out


def test_lift_bars_keep_each_models_colour_in_any_order() -> None:
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=200) < 0.3).astype(float)
    tables = {who: decile_table(y, rng.uniform(size=200)).to_dicts()
              for who in ("btyd", "model", "rfm")}  # fmt: skip
    colours = _bar_colours(lift_by_decile("lapse", tables))
    for who in tables:
        label, colour = model_style(who)
        assert colours[label] == {colour}
    assert len({model_style(w)[1] for w in ("model", "rfm", "btyd", "champion")}) == 4


def test_an_old_merged_decile_table_keeps_bars_at_their_decile() -> None:
    # an older table whose tie merged deciles 6..4 into 7: bars at 10, 9, 8, 7, 3, 2, 1
    old = [{"decile": d, "lift": 1.0} for d in (10, 9, 8, 7, 3, 2, 1)]
    fig = lift_by_decile("purchase", {"rfm": old})
    (container,) = fig.axes[0].containers
    assert [round(p.get_x() + p.get_width() / 2) for p in container] == [0, 1, 2, 3, 7, 8, 9]
    assert "older table" in container.get_label()


@pytest.mark.parametrize("who", ["model", "rfm", "btyd", "champion", "some-new-model"])
def test_model_style_is_fixed(who: str) -> None:
    assert model_style(who) == model_style(who)
    assert re.fullmatch(r"#[0-9a-f]{6}", model_style(who)[1])


def test_the_verdict_says_ties_when_the_interval_contains_zero() -> None:
    """Issue 12: the report said "The model beats both baselines" on point estimates. Each
    baseline now gets beats / ties / loses by its interval, with the interval shown."""
    from segml.report.models import _verdict

    logged = {
        "beats_baselines": 0.0, "promoted": 1.0,
        "vs_rfm_roc_auc_diff": 0.015, "vs_rfm_roc_auc_low": 0.005, "vs_rfm_roc_auc_high": 0.025,
        "vs_rfm_roc_auc_verdict": 1.0,
        "vs_btyd_roc_auc_diff": 0.004, "vs_btyd_roc_auc_low": -0.003,
        "vs_btyd_roc_auc_high": 0.011, "vs_btyd_roc_auc_verdict": 0.0,
        "vs_btyd_log_loss_diff": -0.002, "vs_btyd_log_loss_low": -0.004,
        "vs_btyd_log_loss_high": -0.001, "vs_btyd_log_loss_verdict": -1.0,
    }  # fmt: skip
    html = _verdict(_run(METRICS | logged))
    assert "beats RFM baseline</span>: roc_auc +0.015 [+0.005, +0.025] (beats)" in html
    assert "ties BG/NBD baseline</span>: roc_auc +0.004 [-0.003, +0.011] (ties); " in html
    assert "log_loss -0.002 [-0.004, -0.001] (loses)" in html
    assert "beats both" not in html and "Promoted to champion." in html
    # a run logged before the intervals: the point estimate is not called a verdict
    old = _verdict(_run(METRICS | {"beats_baselines": 1.0}))
    assert "without intervals" in old and "not a verdict beyond the noise" in old
    assert "beats" not in old

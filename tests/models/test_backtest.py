"""The fair protocol: plans that close every label window by S (also on short histories), training
as of S that ignores rows at or after S, the BG/NBD start (offset) scored the same on every path,
the model never validating worse than the BG/NBD baseline, and the tidy backtest tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

from segml.errors import ConfigError, DataError
from segml.models.asof import history_before, plan_as_of, train_as_of
from segml.models.offset import offset_values
from segml.models.propensity import PropensityModel
from segml.models.training import plan_split
from tests.models.conftest import FAST

S = dt.datetime(2024, 10, 1)


@pytest.mark.parametrize(
    ("first", "horizon", "split", "step"),
    [
        ("2023-01-01", 30, "time", 30),  # long history: purged time split, monthly step
        ("2024-05-01", 60, "customers", 30),  # 5 months: one purged window -> customers
        ("2024-07-05", 30, "customers", 14),  # 3 months: finer cutoffs
    ],
)
def test_plan_closes_every_label_window_by_s(
    first: str, horizon: int, split: str, step: int
) -> None:
    plan = plan_as_of(as_of=S, horizon_days=horizon, first_data=first, n_cutoffs=6)
    h = dt.timedelta(days=horizon)
    assert (plan.split, plan.step_days) == (split, step)
    assert plan.valid + h == S  # the latest labels end exactly at S
    assert all(c + h <= S and c >= dt.datetime.fromisoformat(first) for c in plan.train)
    if split == "time":
        assert all(c + h <= plan.valid for c in plan.train) and len(plan.train) >= 2
    else:
        assert plan.train[-1] == plan.valid and "held-out customers" in plan.describe()
    assert f"{S:%Y-%m-%d}" in plan.describe()


def test_plan_works_where_the_backtest_split_needs_three_horizons() -> None:
    # issue 12: 18 months of history, a 26-week horizon: plan_split carves a backtest and fails
    first, now = "2023-04-01", "2024-10-01"
    with pytest.raises(DataError, match="train_as_of"):
        plan_split(now=now, horizon_days=182, n_cutoffs=6, first_data=first)
    plan = plan_as_of(as_of=now, horizon_days=182, first_data=first)
    assert plan.split == "time" and len(plan.train) >= 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"horizon_days": 300, "first_data": "2024-01-01"}, DataError,
         r"needs a cutoff c with c \+ 300 days <= 2024-10-01 .* \(from 2024-01-29\)"),
        ({"horizon_days": 30, "first_data": "2023-01-01", "n_cutoffs": 1}, ConfigError,
         "n_cutoffs must be an int >= 2; got 1"),
    ],
)  # fmt: skip
def test_plan_errors(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        plan_as_of(as_of=S, **kwargs)


@pytest.fixture(scope="module")
def run(small_shop: Any) -> Any:
    return train_as_of(small_shop, as_of=S, targets={"purchase": 30, "value": 30}, n_cutoffs=3,
                       feature_params={"top_k_categories": 4}, model_params=FAST)  # fmt: skip


def test_train_as_of_ignores_rows_at_or_after_s(run: Any, small_shop: Any) -> None:
    past = train_as_of(history_before(small_shop, S), as_of=S, targets={"purchase": 30},
                       n_cutoffs=3, feature_params={"top_k_categories": 4},
                       model_params=FAST)  # fmt: skip
    a, b = run.score(), past.score()
    assert (
        a["customer_id"].dtype == pl.String
        and a["customer_id"].to_list() == b["customer_id"].to_list()
    )
    np.testing.assert_allclose(a["score__purchase"], b["score__purchase"], rtol=0, atol=1e-12)
    meta = run.fits["purchase"].model.metadata_
    assert meta["as_of"] == "2024-10-01" and "training cutoffs" in meta["plan"]


def test_model_never_validates_worse_than_the_btyd_baseline(run: Any) -> None:
    for target, fit in run.fits.items():
        metric = "gini" if target == "value" else "roc_auc"
        assert fit.model.tree_weight_ in fit.model.blend_weights
        assert fit.validation["model"][metric] >= fit.validation["btyd"][metric] - 1e-9, target
        # weight 0 is the baseline alone: its validation score is the BG/NBD column's
        assert fit.model.blend_scores_["0"] == pytest.approx(fit.validation["btyd"][metric])


def test_offset_is_added_back_on_every_scoring_path(run: Any, tmp_path: Any) -> None:
    from segml.models.scoring import score_customers

    model, frame = run.fits["purchase"].model, run.features()
    trees = model._trees(model._matrix(frame))
    raw = offset_values(model.offset_, frame) + model.tree_weight_ * trees
    np.testing.assert_allclose(model.decision_function(frame), raw)
    assert model.offset_["column"] == "btyd__p_purchase_30d"
    scored = score_customers(frame, {"purchase": model}, reasons_top_k=2,
                             reasons_for=np.arange(frame.height) < 5)  # fmt: skip
    np.testing.assert_allclose(scored["score__purchase"], model.predict_score(frame))
    again = PropensityModel.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(
        again.predict_score(frame), model.predict_score(frame), rtol=0, atol=1e-12
    )
    contrib = model.contributions(frame.head(50))
    np.testing.assert_allclose(contrib.sum(axis=1), raw[:50], atol=1e-6)
    with pytest.raises(DataError, match="starts from the BG/NBD column 'btyd__p_purchase_30d'"):
        model.predict_score(frame.drop("btyd__p_purchase_30d"))


def test_fit_without_validation_set_splits_the_latest_cutoff(cache: Any) -> None:
    rows = cache.labelled(["2024-07-01", "2024-08-01"], target="purchase", horizon_days=30,
                          lookback_days=365)  # fmt: skip
    model = PropensityModel(target="purchase", baseline="btyd", horizon_days=30, **FAST)
    model.fit(rows, rows["label"])
    assert model.validation_.startswith("latest cutoff (2024-08-01")
    one = rows.filter(pl.col("cutoff") == rows["cutoff"].max())
    model.fit(one, one["label"])
    assert model.validation_ == "20% of the customers"
    with pytest.raises(ConfigError, match="needs horizon_days"):
        PropensityModel(target="purchase", baseline="btyd").fit(rows, rows["label"])


def test_isotonic_calibration_keeps_the_raw_order() -> None:
    from segml.models.propensity import _apply_calibrator

    cal = {"method": "isotonic", "x": [-1.0, 1.0], "y": [0.2, 0.2]}  # one flat step
    p = _apply_calibrator(cal, np.array([-0.5, 0.0, 0.5]))
    assert np.all(np.diff(p) > 0) and np.allclose(p, 0.2, atol=1e-6)


def test_backtest_tables(small_shop: Any) -> None:
    from segml.models.backtest import backtest

    result = backtest(small_shop, dates=["2024-09-01", "2024-10-01"], targets={"purchase": 30},
                      n_cutoffs=3, feature_params={"top_k_categories": 4}, model_params=FAST,
                      n_boot=50)  # fmt: skip
    t = result.table
    assert t.columns == ["date", "target", "model", "metric", "value"]
    assert set(t["model"]) == {"model", "btyd", "rfm"} and t["date"].n_unique() == 2
    c = result.comparisons
    assert c.height == 2 * 2 * 2  # dates x baselines x metrics
    assert set(c["verdict"]) <= {"beats", "ties", "loses"}
    assert ((c["low"] <= c["diff"]) & (c["diff"] <= c["high"])).all()
    p = result.pooled
    assert p.height == 4 and (p["dates"] == 2).all()
    assert (p["dates_beats"] + p["dates_ties"] + p["dates_loses"] == 2).all()
    assert "purchase roc_auc" in result.summary()
    with pytest.raises(ConfigError, match="dates is empty"):
        backtest(small_shop, dates=[])
    with pytest.raises(DataError, match=r"label window after 2024-12-15 ends 2025-01-14, after "
                       r"the last order \(the data ends 2024-12-3\d\)"):  # fmt: skip
        backtest(small_shop, dates=["2024-12-15"], targets={"purchase": 30})


def test_backtest_command(tmp_path: Any, capsys: Any) -> None:
    from segml.cli import main

    config = tmp_path / "shop.yaml"
    config.write_text(
        "data: {synthetic_customers: 800, synthetic_seed: 1}\n"
        "features: {top_k_categories: 3}\n"
        "training:\n  lightgbm: {n_estimators: 40, num_leaves: 7}\n  n_jobs: 1\n"
    )
    args = ["backtest", "--config", str(config), "--dates", "2024-10-01", "--cutoffs", "3",
            "--n-boot", "30", "--out", str(tmp_path / "bt")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2024-10-01 purchase: roc_auc vs btyd" in out and "pooled over dates" in out
    table = pl.read_csv(tmp_path / "bt" / "table.csv")
    assert set(table["model"]) == {"model", "btyd", "rfm"}
    assert main([*args[:3], "--dates", "2024-10-01", "--horizon", "soon"]) == 2
    assert "--horizon must be a number of days or 'auto'; got 'soon'" in capsys.readouterr().err


def test_offset_by_hand() -> None:
    from segml.models.offset import choose_weight, offset_spec

    frame = pl.DataFrame({"btyd__p_purchase_30d": [0.5, 0.8, None, None],
                          "btyd__expected_value_30d": [np.e, 1.0, None, None]})  # fmt: skip
    y = np.array([1.0, 0.0, 1.0, 0.0])
    spec = offset_spec(frame, y, target="purchase", horizon_days=30)
    # logit(0.5) = 0, logit(0.8) = log 4; the two customers BG/NBD cannot score get the logit
    # of their training rate (1/2 -> 0)
    np.testing.assert_allclose(offset_values(spec, frame), [0.0, np.log(4), 0.0, 0.0])
    lapse = offset_spec(frame, y, target="lapse", horizon_days=30)
    np.testing.assert_allclose(offset_values(lapse, frame)[:2], [0.0, -np.log(4)])
    value = offset_spec(frame, np.array([3.0, 0.0, 2.0, 4.0]), target="value", horizon_days=30)
    np.testing.assert_allclose(offset_values(value, frame), [1.0, 0.0, np.log(3), np.log(3)])
    # a baseline that scored nobody (e.g. Gamma-Gamma not fitted): boost from zero
    empty = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("btyd__p_purchase_30d"))
    assert offset_spec(empty, y, target="purchase", horizon_days=30) is None
    # the weight: trees that only add noise are dropped (0), trees that fix the order are kept
    yv, off = np.array([0.0, 1.0, 0.0, 1.0]), np.array([0.0, 1.0, 2.0, 3.0])
    assert choose_weight("purchase", yv, off, np.array([0.0, 0.0, 0.0, 0.0]),
                         weights=(0, 0.5, 1))[0] == 0  # fmt: skip
    assert choose_weight("purchase", yv, off, np.array([0.0, 0.0, -5.0, 0.0]),
                         weights=(0, 0.5, 1))[0] == 0.5  # fmt: skip
    with pytest.raises(ConfigError, match=r"blend_weights must be numbers in \[0, 1\]"):
        choose_weight("purchase", yv, off, off, weights=(0, 2))

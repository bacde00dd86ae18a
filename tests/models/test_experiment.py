"""Runs end to end: MLflow logging, registry aliases, champion only when better, a pyfunc that
loads without pickles, Optuna resuming, the train command; and no label window after now."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from segml.labels import label_window_end
from segml.models.experiment import train_models
from segml.models.metrics import beats
from segml.models.training import fit_target, format_table, plan_split
from segml.tracking import find_model, load_pyfunc
from tests.models.conftest import FAST, NOW


@pytest.mark.parametrize("now", ["2024-07-15", "2025-01-01", "2024-03-01"])
@pytest.mark.parametrize("horizon", [14, 30, 90])
@pytest.mark.parametrize("step", ["monthly", "semimonthly"])
def test_no_label_window_ends_after_now(now: str, horizon: int, step: str) -> None:
    split = plan_split(now=now, horizon_days=horizon, n_cutoffs=6, step=step)
    now_dt = dt.datetime.fromisoformat(now)
    assert label_window_end(split.test, horizon) <= now_dt
    for c in (*split.train, split.valid, *split.refit):  # what the backtested model saw
        assert label_window_end(c, horizon) <= split.test
    for c in split.train:  # purged: no training window overlaps the validation window
        assert label_window_end(c, horizon) <= split.valid
    assert list(split.train) == sorted(split.train) and split.train[-1] < split.valid
    assert set(split.train) | {split.valid} <= set(split.refit)


def test_rows_after_the_test_cutoff_never_reach_the_model(small_shop: Any, cache: Any) -> None:
    """Dropping every row at or after the backtest cutoff leaves the fitted model unchanged."""
    import dataclasses

    import narwhals.stable.v2 as nw

    from segml.engine import as_of_days
    from segml.models.dataset import CutoffCache
    from segml.models.propensity import PropensityModel

    r = fit_target(cache, target="lapse", now=NOW, horizon_days=60, n_cutoffs=3, model_params=FAST)
    cut = as_of_days(r.split.test)
    cut_shop = dataclasses.replace(
        small_shop, orders=small_shop.orders.filter(nw.col("t") < cut),
        events=small_shop.events.filter(nw.col("t") < cut),
    )  # fmt: skip
    other = CutoffCache(cut_shop, cache.builder, horizons=cache.horizons)
    train = other.labelled(r.split.train, target="lapse", horizon_days=60, lookback_days=365)
    valid = other.labelled([r.split.valid], target="lapse", horizon_days=60, lookback_days=365)
    refit = PropensityModel(**r.model.get_params()).fit(train, train["label"], X_valid=valid,
                                                         y_valid=valid["label"])  # fmt: skip
    X = r.test_rows
    np.testing.assert_allclose(refit.predict(X), r.model.predict(X), atol=1e-12)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::UserWarning")
def test_tracked_registered_and_promoted(
    small_shop: Any, tracking_uri: str, tmp_path: Path
) -> None:
    kw = dict(now=NOW, targets={"purchase": {"horizon_days": 30}, "value": {"horizon_days": 60}},
              n_cutoffs=3, feature_params={"top_k_categories": 4}, model_params=FAST,
              tracking_uri=tracking_uri, experiment="segml-test")  # fmt: skip
    first = train_models(small_shop, **kw)
    assert "purchase (horizon 30d" in format_table([o.result for o in first])
    for o in first:
        assert o.run_id and o.version == "1"
        assert o.champion == o.result.beats_baselines
    import mlflow

    run = mlflow.MlflowClient(tracking_uri=tracking_uri).get_run(first[0].run_id)
    assert {"model_roc_auc", "rfm_roc_auc", "btyd_roc_auc", "model_ece"} <= set(run.data.metrics)
    assert run.data.params["valid_cutoff"] and run.data.params["train"]
    # a worse challenger (a stump) is registered but does not take the champion alias
    worse = train_models(
        small_shop,
        **(
            kw
            | {
                "targets": {"purchase": {"horizon_days": 30}},
                "model_params": FAST | {"n_estimators": 1},
            }
        ),
    )
    assert worse[0].version == "2" and not worse[0].champion
    champ = find_model(tracking_uri=tracking_uri, name="segml-purchase", alias="champion")
    chall = find_model(tracking_uri=tracking_uri, name="segml-purchase", alias="challenger")
    assert champ is not None and champ.version == "1" and chall is not None and chall.version == "2"
    model, _ = load_pyfunc(tracking_uri=tracking_uri, name="segml-purchase", alias="champion")
    rows = first[0].result.test_rows.head(20)
    inputs = rows.select(first[0].result.model.feature_names_in_).to_pandas()
    out = model.predict(inputs, params={"reasons_top_k": 2})
    np.testing.assert_allclose(out["score__purchase"], first[0].result.model.predict(rows))
    assert out["reasons__purchase"].str.startswith('[{"feature"').all()


def test_optuna_study_resumes(cache: Any, tmp_path: Path) -> None:
    import optuna

    from segml.models.tuning import make_tuner

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    train = cache.labelled(["2024-07-01", "2024-08-01"], target="purchase", horizon_days=30,
                           lookback_days=365)  # fmt: skip
    valid = cache.labelled(["2024-09-01"], target="purchase", horizon_days=30, lookback_days=365)
    kw = dict(target="purchase", storage=storage, study_name="s", seed=1, base_params=FAST)
    best = make_tuner(n_trials=2, **kw)(train, valid)
    assert {"learning_rate", "num_leaves"} <= set(best)
    make_tuner(n_trials=3, **kw)(train, valid)  # resumes: one more trial, not three
    study = optuna.load_study(study_name="s", storage=storage)
    assert len(study.trials) == 3


def test_beats_needs_every_primary_metric() -> None:
    good = {"roc_auc": 0.8, "log_loss": 0.4}
    assert beats("purchase", good, {"roc_auc": 0.7, "log_loss": 0.5})
    assert not beats("purchase", good, {"roc_auc": 0.7, "log_loss": 0.3})
    assert not beats(
        "value", {"gini": float("nan"), "spearman": 0.5}, {"gini": 0.1, "spearman": 0.1}
    )


def test_refit_uses_every_cutoff_up_to_validation_and_keeps_the_calibrator(cache: Any) -> None:
    r = fit_target(cache, target="purchase", now=NOW, horizon_days=60, n_cutoffs=4,
                   refit=True, model_params=FAST)  # fmt: skip
    assert r.split.refit[-1] == r.split.valid and len(r.split.refit) > len(r.split.train)
    assert r.model.refit_rows_ == r.rows["final_fit"] > r.rows["train"] + r.rows["valid"]
    assert r.model.metadata_["refit"] is True
    p = r.model.predict(r.test_rows)
    assert np.all((p > 0) & (p < 1))

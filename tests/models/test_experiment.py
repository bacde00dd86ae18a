"""Runs end to end: MLflow logging, registry aliases, champion only when better, a pyfunc that
loads without pickles, Optuna resuming, the train command; and no label window after now."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from segml.labels import label_window_end
from segml.models.experiment import train_models
from segml.models.metrics import beats
from segml.models.promotion import PromotionRule
from segml.models.training import fit_target, format_table, plan_split
from segml.tracking import (
    default_tracking_uri,
    find_model,
    load_pyfunc,
    set_alias,
    version_details,
)
from tests.models.conftest import FAST, NOW

QUICK = PromotionRule(n_boot=50, dates=2)  # fewer resamples and dates: a fast test


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
    np.testing.assert_allclose(refit.predict_score(X), r.model.predict_score(X), atol=1e-12)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::UserWarning")
def test_tracked_registered_and_promoted(
    small_shop: Any, tracking_uri: str, tmp_path: Path
) -> None:
    kw = dict(now=NOW, targets={"purchase": {"horizon_days": 30}, "value": {"horizon_days": 60}},
              n_cutoffs=3, feature_params={"top_k_categories": 4}, model_params=FAST,
              tracking_uri=tracking_uri, experiment="segml-test", promotion=QUICK)  # fmt: skip
    first = train_models(small_shop, **kw)
    assert "purchase (horizon 30d" in format_table([o.result for o in first])
    for o in first:
        assert o.run_id and o.version == "1" and o.decision is not None
        assert o.champion == o.decision.promote and o.note.startswith("first model")
        assert (
            o.result.model.metadata_["data_end"]
            == f"{label_window_end(o.result.split.test, o.result.split.horizon_days):%FT%T}"
        )
    import mlflow

    run = mlflow.MlflowClient(tracking_uri=tracking_uri).get_run(first[0].run_id)
    assert {"model_roc_auc", "rfm_roc_auc", "btyd_roc_auc", "model_ece"} <= set(run.data.metrics)
    assert run.data.params["valid_cutoff"] and run.data.params["train"]
    assert run.data.tags["promotion.decision"] == "promoted" and run.data.metrics["promoted"] == 1
    # a worse challenger (a stump) is registered but does not take the champion alias
    stump = {
        "targets": {"purchase": {"horizon_days": 30}},
        "model_params": FAST | {"n_estimators": 1},
    }
    worse = train_models(small_shop, **(kw | stump))
    assert worse[0].version == "2" and not worse[0].champion
    assert _aliases(tracking_uri) == {"champion": "1", "challenger": "2"}
    v2 = version_details(tracking_uri=tracking_uri, name="segml-purchase", version="2")
    assert (
        v2.tags["promotion.decision"] == "rejected" and v2.tags["promotion.champion_version"] == "1"
    )
    assert v2.tags["promotion.reason"].startswith("does not beat champion v1 beyond the noise")
    assert float(v2.tags["promotion.champion.roc_auc"]) == pytest.approx(
        first[0].result.metrics["model"]["roc_auc"], abs=1e-6)  # fmt: skip
    # pooled over two rolling-origin dates; the champion only at the one it had not seen
    dates = v2.tags["promotion.dates"].split(",")
    assert dates[-1] == f"{worse[0].result.split.test:%Y-%m-%d}" and len(dates) == 2
    per_date = worse[0].decision.per_date
    assert [d for d, _ in per_date["rfm"]["primary"]] == dates
    assert [d for d, _ in per_date["champion"]["primary"]] == dates[-1:]
    assert int(v2.tags["promotion.rows"]) == sum(c.rows for _, c in per_date["rfm"]["primary"])
    assert per_date["rfm"]["primary"][-1][1].rows == worse[0].result.rows["test"]
    assert "it had seen the labels" in v2.tags["promotion.notes"]
    assert v2.tags["training.data_end"] == worse[0].result.model.metadata_["data_end"]
    assert v2.description.startswith("NOT promoted: does not beat champion v1")
    assert "vs champion: roc_auc" in v2.description and "vs rfm: log_loss" in v2.description
    model, _ = load_pyfunc(tracking_uri=tracking_uri, name="segml-purchase", alias="champion")
    rows = first[0].result.test_rows.head(20)
    inputs = rows.select(first[0].result.model.feature_names_in_).to_pandas()
    out = model.predict(inputs, params={"reasons_top_k": 2})
    np.testing.assert_allclose(out["score__purchase"], first[0].result.model.predict_score(rows))
    assert out["reasons__purchase"].str.startswith('[{"feature"').all()
    # the stump made champion by hand: a real model beats it beyond the noise and replaces it;
    # the challenger alias goes (champion and challenger never on one version)
    set_alias(tracking_uri=tracking_uri, name="segml-purchase", alias="champion", version="2")
    better = train_models(small_shop, **(kw | {"targets": stump["targets"]}))
    assert better[0].champion and better[0].note.startswith("beats champion v2 beyond the noise")
    assert _aliases(tracking_uri) == {"champion": "3"}
    old = version_details(tracking_uri=tracking_uri, name="segml-purchase", version="2")
    assert old.tags["promotion.replaced_by"] == "3"


def _aliases(uri: str, name: str = "segml-purchase") -> dict[str, str]:
    found = {
        a: find_model(tracking_uri=uri, name=name, alias=a) for a in ("champion", "challenger")
    }
    return {a: ref.version for a, ref in found.items() if ref is not None}


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::UserWarning")
def test_champion_is_rescored_with_its_own_btyd_columns(small_shop: Any, tmp_path: Path) -> None:
    """Issue 12: the champion was trained with purchase and value (BG/NBD columns for 30 and 60
    days); a purchase-only run builds only the 30-day ones. Rescored on the challenger's table
    the champion lost its 60-day inputs (NaN) and an equivalent challenger "beat" it."""
    uri = default_tracking_uri(tmp_path)
    kw = dict(now=NOW, n_cutoffs=3, feature_params={"top_k_categories": 4}, model_params=FAST,
              tracking_uri=uri, experiment="segml-test", promotion=QUICK)  # fmt: skip
    both = {"purchase": {"horizon_days": 30}, "value": {"horizon_days": 60}}
    v1 = train_models(small_shop, targets=both, **kw)[0]
    v2 = train_models(small_shop, targets={"purchase": {"horizon_days": 30}}, **kw)[0]
    lost = set(v1.result.model.feature_names_in_) - set(v2.result.test_rows.columns)
    assert lost and all("_60d" in c for c in lost)  # the trap: the challenger's table lacks them
    assert v1.champion and not v2.champion
    tags = version_details(tracking_uri=uri, name="segml-purchase", version="2").tags
    for metric in ("roc_auc", "log_loss"):  # the champion's own backtest numbers, not degraded
        assert float(tags[f"promotion.champion.{metric}"]) == pytest.approx(
            v1.result.metrics["model"][metric], abs=1e-6)  # fmt: skip
    assert _aliases(uri) == {"champion": "1", "challenger": "2"}


def _with_settings(result: Any, cache: Any) -> Any:
    """The model of ``result`` with the metadata train_models stores (its inputs' settings)."""
    model = copy.deepcopy(result.model)
    b = cache.builder
    model.metadata_ |= {"features": {**b.get_params(), "categories": b.categories_},
                        "btyd_horizons": list(cache.horizons)}  # fmt: skip
    return model


def test_champion_is_rescored_with_its_own_feature_settings(
    small_shop: Any, cache: Any, purchase_result: Any
) -> None:
    """The challenger's table has other feature settings (categories, windows, BG/NBD horizons):
    the champion's inputs are rebuilt from its own stored settings, so it scores exactly as on
    its own backtest, not with missing columns."""
    from segml.features import FeatureBuilder
    from segml.models.dataset import CutoffCache
    from segml.models.promotion import rebuild_inputs

    champion, r = _with_settings(purchase_result, cache), purchase_result
    builder = FeatureBuilder(top_k_categories=1, windows_days=(30, 365)).fit(
        small_shop, as_of=r.split.test)  # fmt: skip
    other = CutoffCache(small_shop, builder, horizons=[30.0])
    theirs = other.features(r.split.test)
    lost = set(champion.feature_names_in_) - set(theirs.columns)
    assert all(any(k in c for c in lost) for k in ("_7d", "_60d", "affinity__"))
    ids = r.test_frame.sample(fraction=1.0, shuffle=True, seed=1)  # any row order
    rebuilt = rebuild_inputs(other, champion, cutoff=r.split.test, ids=ids)
    assert rebuilt["customer_id"].to_list() == ids["customer_id"].to_list()
    own = r.test_rows.select("customer_id", *champion.feature_names_in_)
    expected = ids.select("customer_id").join(own, on="customer_id", maintain_order="left")
    np.testing.assert_array_equal(champion.predict_score(rebuilt), champion.predict_score(expected))
    # the same settings as the cache: its own table is reused
    same = rebuild_inputs(cache, champion, cutoff=r.split.test, ids=r.test_frame)
    np.testing.assert_array_equal(
        champion.predict_score(same), r.test_frame["score__model"].to_numpy()
    )


def test_a_champion_whose_inputs_the_data_cannot_give_is_refused(
    cache: Any, purchase_result: Any
) -> None:
    from segml.errors import DataError
    from segml.models.promotion import rebuild_inputs

    champion = _with_settings(purchase_result, cache)
    champion.feature_names_in_ = [*champion.feature_names_in_, "intent__gone_30d"]
    with pytest.raises(DataError, match=r"no longer gives 1 input column\(s\) .*intent__gone_30d"):
        rebuild_inputs(cache, champion, cutoff=purchase_result.split.test,
                       ids=purchase_result.test_frame)  # fmt: skip
    champion.metadata_ = {}
    with pytest.raises(DataError, match="metadata has no feature settings"):
        rebuild_inputs(cache, champion, cutoff=purchase_result.split.test,
                       ids=purchase_result.test_frame)  # fmt: skip


@pytest.mark.parametrize(
    ("failure", "promoted", "reason"),
    [
        ("inputs", False, "champion v5 cannot be rescored with the inputs it was trained with "
                          "(the data no longer gives 1 input column(s)"),
        ("store", False, "champion v5 cannot be rescored with the inputs it was trained with "
                         "(OSError)"),
        ("format", True, "(champion v5 cannot be loaded)"),
    ],
)  # fmt: skip
def test_a_champion_that_cannot_be_rescored(
    cache: Any, purchase_result: Any, monkeypatch: Any, failure: str, promoted: bool, reason: str
) -> None:
    """Its inputs gone from the data, or the store not answering: nothing is promoted (the
    reason says how to move the alias by hand). Not a loadable segml model at all (an old
    format the scoring job cannot load either): the challenger is judged on the baselines."""
    from segml import tracking
    from segml.errors import ModelNotFoundError
    from segml.models import experiment

    champion = _with_settings(purchase_result, cache)
    champion.feature_names_in_ = [*champion.feature_names_in_, "intent__gone_30d"]

    def load(**kw: Any) -> Any:
        if failure == "store":
            raise OSError
        if failure == "format":
            raise ModelNotFoundError("model format 0 is not supported by this segml")
        wrapper = types.SimpleNamespace(model=champion)  # what unwrap_python_model() gives
        return types.SimpleNamespace(unwrap_python_model=lambda: wrapper), None

    ref = tracking.ModelRef("segml-purchase", "5", "run", "src")
    monkeypatch.setattr(tracking, "find_model", lambda **kw: ref)
    monkeypatch.setattr(tracking, "load_pyfunc", load)
    d = experiment._promote(purchase_result, cache, tracking_uri="sqlite://", name="segml-purchase",
                            rule=QUICK)  # fmt: skip
    assert d.promote is promoted and reason in d.reason + " ".join(d.notes)
    if not promoted:
        assert "set_registered_model_alias('segml-purchase', 'champion', VERSION)" in d.reason


def test_optuna_study_resumes(cache: Any, tmp_path: Path) -> None:
    import optuna

    from segml.models.tuning import make_tuner
    from segml.progress import reporting

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    train = cache.labelled(["2024-07-01", "2024-08-01"], target="purchase", horizon_days=30,
                           lookback_days=365)  # fmt: skip
    valid = cache.labelled(["2024-09-01"], target="purchase", horizon_days=30, lookback_days=365)
    kw = dict(target="purchase", storage=storage, study_name="s", seed=1, base_params=FAST)
    best = make_tuner(n_trials=2, **kw)(train, valid)
    assert {"learning_rate", "num_leaves"} <= set(best)
    seen: list[tuple[str, int, int | None, str]] = []

    class Recorder:  # the progress of the trials, with the best value so far
        def started(self, task: Any) -> None:
            seen.append(("start", task.done, task.total, task.label))

        def advanced(self, task: Any) -> None:
            seen.append(("advance", task.done, task.total, task.note))

        def finished(self, task: Any) -> None:
            seen.append(("end", task.done, task.total, task.label))

    with reporting(Recorder()):
        make_tuner(n_trials=3, **kw)(train, valid)  # resumes: one more trial, not three
    study = optuna.load_study(study_name="s", storage=storage)
    assert len(study.trials) == 3
    assert seen == [
        ("start", 0, 1, "purchase tuning"),
        ("advance", 1, 1, f"best {study.best_value:.4f}"),
        ("end", 1, 1, "purchase tuning"),
    ]


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
    p = r.model.predict_score(r.test_rows)
    assert np.all((p > 0) & (p < 1))


def test_the_printed_verdict_is_beyond_the_noise(purchase_result: Any) -> None:
    """Issue 12: `segml train` printed "verdict: model beats both baselines" on point
    estimates. Each baseline's line says beats / ties / loses by the paired-bootstrap interval
    and shows it; beats_baselines needs a win beyond the noise on the primary metric."""
    from segml.models.training import beats_every_baseline, verdict_line

    r = purchase_result
    text = format_table([r])
    assert "beats both" not in text and "point estimate" not in text
    for who, label in (("rfm", "RFM"), ("btyd", "BG/NBD")):
        c = r.versus[who]["roc_auc"]
        assert c.model == pytest.approx(r.metrics["model"]["roc_auc"])
        assert c.other == pytest.approx(r.metrics[who]["roc_auc"])
        line = (
            f"  model {c.verdict} {label}: roc_auc {c.model:.4f} vs {c.other:.4f}, "
            f"diff {c.diff:+.4f} [{c.low:+.4f}, {c.high:+.4f}]; log_loss "
        )
        assert line in text
    # the same point estimates with an interval across zero: "ties", and not beats_baselines
    tied = {"btyd": {k: dataclasses.replace(c, low=-0.01, high=0.02, verdict="ties")
                     for k, c in r.versus["btyd"].items()}}  # fmt: skip
    assert verdict_line("btyd", tied["btyd"]).startswith("ties BG/NBD: roc_auc")
    assert not beats_every_baseline(tied)
    assert beats_every_baseline(r.versus) == r.beats_baselines


def test_a_champion_that_saw_every_date_is_compared_anyway_and_said(
    cache: Any, purchase_result: Any
) -> None:
    from segml.models.promotion_dates import champion_dates

    champion = _with_settings(purchase_result, cache)
    own = purchase_result.split.test
    champion.metadata_["test_cutoff"] = f"{own:%Y-%m-%d}"
    dates, notes = champion_dates(champion, [purchase_result], cache)
    assert notes == [] and dates[0].champion is not None
    np.testing.assert_allclose(dates[0].champion, purchase_result.test_frame["score__model"])
    champion.metadata_["test_cutoff"] = "2099-01-01"  # trained after the backtest: in-sample
    dates, notes = champion_dates(champion, [purchase_result], cache)
    assert dates[0].champion is not None
    assert f"at {own:%Y-%m-%d} it had seen the labels" in notes[0]
    assert "compared at every date anyway (favours keeping it)" in notes[0]

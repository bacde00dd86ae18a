"""The scoring run's lifetime outputs: clv__* and churn__tier for every customer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

from segml.datasets import make_shop
from segml.models.clv import DAYS_PER_MONTH
from segml.models.dataset import btyd_frame, materialize
from segml.schema import prepare
from segml.scores.outputs import churn_tiers, lifetime_outputs

AS_OF = "2024-10-01"


@pytest.fixture(scope="module")
def shop() -> Any:
    data = make_shop(600, seed=4)
    return materialize(prepare({"orders": data.orders, "customers": data.customers}))


def _scores(ids: list[str], seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    value, lapse = rng.gamma(2.0, 50.0, len(ids)), rng.uniform(0, 1, len(ids))
    return pl.DataFrame({"customer_id": ids, "score__value": value, "score__lapse": lapse})


def test_churn_tiers_by_hand() -> None:
    lapse = pl.Series([0.0, 0.29, 0.3, 0.59, 0.6, 1.0, None])
    tiers = churn_tiers(lapse, medium_from=0.3, high_from=0.6).to_list()
    assert tiers == ["low", "low", "medium", "medium", "high", "high", None]
    assert churn_tiers(pl.Series([0.5]), medium_from=0.2, high_from=0.5).to_list() == ["high"]


def test_every_customer_gets_the_outputs_from_the_model_inputs_fit(shop: Any) -> None:
    inputs = btyd_frame(shop, AS_OF, horizons=[30.0, 90.0])
    # customers as the scored table has them: with orders before the cutoff, and two without
    ids = [*sorted(inputs["customer_id"].to_list()), "zz-no-orders-1", "zz-no-orders-2"]
    scores = _scores(ids)
    table, summary = lifetime_outputs(
        scores, shop, as_of=AS_OF, value_horizon_days=90.0, purchase_horizons_days=[90, 30]
    )
    assert table.columns == [
        "customer_id", "clv__p_alive", "clv__expected_purchases_30d",
        "clv__expected_purchases_90d", "clv__btyd_12m", "clv__model_12m", "churn__tier",
    ]  # fmt: skip
    assert table["customer_id"].to_list() == ids
    same = table.join(inputs, on="customer_id")
    assert same.height == inputs.height
    # the same BG/NBD fit as the model inputs: equal to the bit
    assert (same["clv__p_alive"] == same["btyd__p_alive"]).all()
    for h in (30, 90):
        a, b = same[f"clv__expected_purchases_{h}d"], same[f"btyd__expected_purchases_{h}d"]
        assert (a == b).all()
    # CLV over 12 months, 10% a year, is below the undiscounted 365.25-day expected revenue
    # and above the 90-day one
    assert (same["clv__btyd_12m"] > same["btyd__expected_value_90d"]).all()
    absent = table.filter(pl.col("customer_id").str.starts_with("zz"))
    assert absent["clv__p_alive"].is_null().all() and absent["clv__btyd_12m"].is_null().all()
    assert absent["clv__model_12m"].is_not_null().all()
    assert table["churn__tier"].is_not_null().all()
    tiers = summary["churn_tiers"]["customers"]
    assert sum(tiers.values()) == len(ids) and tiers["unscored"] == 0
    expected_high = int((scores["score__lapse"] >= 0.6).sum())
    assert tiers["high"] == expected_high
    assert summary["btyd"]["p_alive"]["informative"]  # the synthetic store's fit separates
    assert summary["notes"] == []


def test_without_a_fit_or_scores_the_columns_are_empty_and_said(tiny: dict) -> None:
    """Four customers: too few to fit BG/NBD. clv__model_* then assumes a constant pace:
    revenue over 90 days x sum_k 1.1^(-k/12) * 30.4375 / 90 over 6 months."""
    shop = prepare(tiny)
    scores = pl.DataFrame({"customer_id": ["a", "b", "c", "d"], "score__value": [90.0, 0, 9, 45]})
    table, summary = lifetime_outputs(
        scores, shop, as_of="2024-03-01", value_horizon_days=90.0, clv_months=6
    )
    pace = sum(1.1 ** (-k / 12) for k in range(1, 7)) * DAYS_PER_MONTH / 90
    assert table["clv__model_6m"].to_list() == pytest.approx([90 * pace, 0, 9 * pace, 45 * pace])
    assert table["clv__p_alive"].is_null().all() and table["clv__btyd_6m"].is_null().all()
    assert table["churn__tier"].is_null().all()
    assert summary["btyd"]["params"] is None
    notes = " ".join(summary["notes"])
    assert "BG/NBD could not be fitted" in notes and "no lapse model was scored" in notes


def test_the_job_step_reads_scoring_outputs_and_the_value_models_horizon(tiny: dict) -> None:
    from types import SimpleNamespace

    from segml.config import Config
    from segml.jobs.outputs import score_outputs
    from segml.scores.backend import PolarsBackend

    outputs = {"clv_months": 3, "purchase_horizons_days": [7], "annual_discount_rate": 0.0}
    cfg = Config.model_validate({"scoring": {"outputs": outputs}})
    value = SimpleNamespace(metadata_={"horizon_days": 30})
    champions = SimpleNamespace(models={"value": value})
    frame = pl.DataFrame({"customer_id": ["a", "b"], "score__value": [30.0, 0.0], "x": [1, 2]})
    out, summary = score_outputs(
        frame, prepare(tiny), backend=PolarsBackend(), champions=champions, cfg=cfg,  # type: ignore[arg-type]
        as_of=dt.datetime(2024, 3, 1),
    )  # fmt: skip
    assert out.columns == ["customer_id", "score__value", "x", "clv__p_alive",
                           "clv__expected_purchases_7d", "clv__btyd_3m", "clv__model_3m",
                           "churn__tier"]  # fmt: skip
    # no fit (two customers), no discount: 3 months of 30.4375 days over a 30-day horizon
    assert out["clv__model_3m"].to_list() == pytest.approx([30 * 3 * DAYS_PER_MONTH / 30, 0.0])
    assert summary is not None and summary["settings"]["value_horizon_days"] == 30.0
    off = Config.model_validate({"scoring": {"outputs": {"enabled": False}}})
    same, none = score_outputs(
        frame, prepare(tiny), backend=PolarsBackend(), champions=champions, cfg=off,  # type: ignore[arg-type]
        as_of=dt.datetime(2024, 3, 1),
    )  # fmt: skip
    assert same is frame and none is None


def test_the_outputs_reuse_the_fit_the_model_inputs_made(shop: Any, monkeypatch) -> None:
    """Fitting BG/NBD is most of its cost (16 s CPU at 200,000 customers): the outputs step's
    ``btyd_fit`` after the model inputs' ``btyd_frame`` at the same cutoff fits nothing again."""
    import segml.models.dataset as dataset

    btyd_frame(shop, "2024-09-01", horizons=[30.0])
    calls: list[int] = []
    fit = dataset.BetaGeoModel.fit

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(dataset.BetaGeoModel, "fit", counted)
    again = dataset.btyd_fit(shop, "2024-09-01", horizons=[90.0])
    assert calls == [] and again["params"] is not None
    dataset.btyd_fit(shop, "2024-08-01", horizons=[90.0])  # another cutoff: other rows, a fit
    assert calls == [1]


BAD = [
    ("{clv_months: 0}", r"outputs\.clv_months: Input should be greater than or equal to 1"),
    ("{annual_discount_rate: -0.1}", r"outputs\.annual_discount_rate: .*greater than"),
    ("{purchase_horizons_days: [30, 30]}", r"distinct whole days >= 1; got \[30, 30\]"),
    ("{churn_tiers: {medium_from: 0.7}}", r"medium_from must be below high_from; got medium_fr"),
    ("{clv_horizon: 12}", r"scoring\.outputs\.clv_horizon: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("outputs", "match"), BAD)
def test_bad_outputs_settings_are_refused_with_the_key(
    tmp_path: Any, outputs: str, match: str
) -> None:
    from segml.config import load_config
    from segml.errors import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text(f"scoring: {{outputs: {outputs}}}\n")
    with pytest.raises(ConfigError, match=match):
        load_config(path)

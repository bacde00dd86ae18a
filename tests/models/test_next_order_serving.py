"""``next_order`` through the registry: trained and promoted by ``train_models`` (as `segml
train`), reloaded as the champion, scored by the Polars scoring backend for every customer, read
by the rule language; the Spark backend refuses it with a message."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.models.conftest import FAST, NOW

AS_OF = "2024-12-01"
COLUMNS = {
    "next_order__days": pl.Float64, "next_order__status": pl.String,
    "next_order__horizon_days": pl.Float64, "next_order__date": pl.Date,
    "next_order__date_50_lo": pl.Date, "next_order__date_50_hi": pl.Date,
    "next_order__date_80_lo": pl.Date, "next_order__date_80_hi": pl.Date,
}  # fmt: skip


@pytest.fixture(scope="module")
def trained(small_shop: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str, str]:
    from segml.models.experiment import train_models
    from segml.tracking import default_tracking_uri

    uri = default_tracking_uri(Path(tmp_path_factory.mktemp("mlflow-next")))
    (outcome,) = train_models(
        small_shop, now=NOW, targets={"next_order": {"horizon_days": 60, "lookback_days": 3650}},
        n_cutoffs=3, feature_params={"top_k_categories": 4}, model_params=FAST,
        tracking_uri=uri, registry_prefix="nx",
    )  # fmt: skip
    return outcome, uri, "champion" if outcome.champion else "challenger"


def test_train_registers_with_a_concordance_decision(trained: tuple[Any, str, str]) -> None:
    from segml import tracking

    outcome, uri, alias = trained
    assert outcome.version == "1" and outcome.decision is not None
    assert outcome.decision.comparisons["btyd_timing"]["primary"].metric == "concordance"
    assert set(outcome.decision.comparisons) == {"btyd_timing", "gap"}
    ref = tracking.find_model(tracking_uri=uri, name="nx-next_order", alias=alias)
    assert ref is not None and ref.version == "1"
    assert outcome.result.metrics["model"]["concordance"] > 0.5


def test_score_writes_the_columns_for_every_customer(
    small_shop: Any, trained: tuple[Any, str, str]
) -> None:
    from segml.models.scoring import model_inputs
    from segml.models.timing import NextOrderModel, next_order_columns
    from segml.scores.backend import PolarsBackend
    from segml.scores.job import load_champions

    outcome, uri, alias = trained
    champs = load_champions(tracking_uri=uri, prefix="nx", targets=["next_order"], alias=alias)
    model = champs.models["next_order"]
    assert isinstance(model, NextOrderModel) and model.metadata_["target"] == "next_order"
    frame = PolarsBackend().score(small_shop, champs.models, as_of=AS_OF, reasons_top_k=2)
    inputs = model_inputs(
        small_shop, as_of=AS_OF, feature_params=model.metadata_["features"],
        horizons=model.metadata_["btyd_horizons"],
    )  # fmt: skip
    assert frame.height == inputs.height and frame["customer_id"].n_unique() == frame.height
    assert {c: frame.schema[c] for c in COLUMNS} == COLUMNS
    assert "score__next_order" not in frame.columns  # its own columns, no score or decile
    status = set(frame["next_order__status"].unique())
    assert status <= {"expected", "not_within_horizon", "no_orders"} and "expected" in status
    expected = frame.filter(pl.col("next_order__status") == "expected")
    assert expected["next_order__date"].null_count() == 0
    assert (expected["next_order__date"] >= dt.date(2024, 12, 1)).all()
    # the champion reloaded from the registry gives the columns of the model that was trained
    direct = next_order_columns(inputs, outcome.result.model, as_of=AS_OF).sort("customer_id")
    assert frame.select(direct.columns).sort("customer_id").equals(direct)


def test_served_pyfunc_returns_the_columns(small_shop: Any, trained: tuple[Any, str, str]) -> None:
    from segml import tracking
    from segml.models.scoring import model_inputs

    outcome, uri, alias = trained
    pyfunc, _ = tracking.load_pyfunc(tracking_uri=uri, name="nx-next_order", alias=alias)
    meta = outcome.result.model.metadata_
    rows = model_inputs(small_shop, as_of=AS_OF, feature_params=meta["features"],
                        horizons=meta["btyd_horizons"]).head(50)  # fmt: skip
    dated = pyfunc.predict(rows.to_pandas(), params={"as_of": AS_OF})
    assert list(dated.columns) == ["customer_id", *COLUMNS] and len(dated) == 50
    plain = pyfunc.predict(rows.to_pandas())
    assert list(plain.columns) == ["customer_id", *list(COLUMNS)[:3]]


def test_the_rule_language_reads_the_status(small_shop: Any, trained: tuple[Any, str, str]) -> None:
    from segml.scores.backend import PolarsBackend
    from segml.scores.job import load_champions
    from segml.segments import Segmenter

    _, uri, alias = trained
    champs = load_champions(tracking_uri=uri, prefix="nx", targets=["next_order"], alias=alias)
    frame = PolarsBackend().score(small_shop, champs.models, as_of=AS_OF, reasons_top_k=0)
    rules = {"control": {"salt": "s", "share": 0.0}, "segments": [
        {"name": "due_soon", "priority": 1,
         "when": "next_order__status == 'expected' and next_order__days <= 30"},
        {"name": "not_expected", "priority": 2,
         "when": "next_order__status == 'not_within_horizon'"},
    ]}  # fmt: skip
    members = Segmenter(rules=rules, as_of=AS_OF).fit(frame).transform(frame)
    got = dict(members.group_by("segment").len().iter_rows())
    want_soon = frame.filter(
        (pl.col("next_order__status") == "expected") & (pl.col("next_order__days") <= 30)
    ).height
    assert got.get("due_soon", 0) == want_soon > 0
    assert got.get("not_expected", 0) == (frame["next_order__status"] == "not_within_horizon").sum()


def test_spark_backend_refuses_next_order(small_shop: Any, trained: tuple[Any, str, str]) -> None:
    from segml.errors import ConfigError
    from segml.scores.spark import SparkBackend

    outcome = trained[0]
    with pytest.raises(ConfigError, match=r"next_order.*Spark scoring backend"):
        SparkBackend().score(small_shop, {"next_order": outcome.result.model}, as_of=AS_OF)


def test_report_table_shows_metrics_without_a_direction() -> None:
    from segml.report.models import ModelRun, _backtest_table

    record = {"metrics": {"model_concordance": 0.71, "model_coverage_50": 0.62,
                          "btyd_timing_concordance": 0.69}}  # fmt: skip
    run = ModelRun("next_order", "nx-next_order", "1", "r1", "used by this run", record=record)
    html = str(_backtest_table(run, None))
    assert "concordance* ↑" in html and "mae_days* ↓" in html
    assert ">coverage_50<" in html and "0.620" in html and "0.710" in html

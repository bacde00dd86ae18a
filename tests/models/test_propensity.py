"""The model itself: beats both baselines on the synthetic store, calibrated, saved without
pickles, reason codes equal to the shap package's TreeSHAP, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from segml.errors import ConfigError, DataError, ModelNotFoundError
from segml.models.explain import describe_feature, reason_codes
from segml.models.offset import offset_values
from segml.models.propensity import PropensityModel
from segml.models.scoring import score_customers
from tests.models.conftest import FAST


def test_beats_both_baselines_and_is_calibrated(purchase_result: Any) -> None:
    r = purchase_result
    assert r.beats_baselines, r.metrics
    m = r.metrics["model"]
    assert m["roc_auc"] > 0.85 and m["ece"] < 0.05
    assert abs(m["mean_predicted"] - m["base_rate"]) < 0.03  # 0.3 means about 30%
    assert r.model.calibrator_["method"] in {"isotonic", "sigmoid"}
    assert set(r.model.calibration_losses_) == {"isotonic", "sigmoid"}
    assert any(c.startswith("btyd__") for c in r.model.feature_names_in_)
    assert not any(c.startswith("baseline__") for c in r.model.feature_names_in_)


def test_save_load_round_trip_without_pickle(purchase_result: Any, tmp_path: Path) -> None:
    model, X = purchase_result.model, purchase_result.test_rows
    folder = model.save(tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.txt"]
    json.loads((folder / "model.json").read_text())  # plain data
    again = PropensityModel.load(folder)
    np.testing.assert_allclose(again.predict_score(X), model.predict_score(X), rtol=0, atol=1e-12)
    with pytest.raises(ModelNotFoundError, match="is not a saved segml model"):
        PropensityModel.load(tmp_path)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::UserWarning")
def test_reason_codes_agree_with_shap(purchase_result: Any) -> None:
    import shap

    model, X = purchase_result.model, purchase_result.test_rows.head(200)
    ours = model.contributions(X)
    explainer = shap.TreeExplainer(model.booster_)
    theirs = explainer.shap_values(model._matrix(X))
    theirs = theirs[1] if isinstance(theirs, list) else theirs
    # the model boosts from the BG/NBD score: trees scaled by the chosen weight, and the offset
    # is the contribution of the BG/NBD input it is read from
    theirs = model.tree_weight_ * theirs
    col = model.feature_names_in_.index(model.offset_["column"])
    theirs[:, col] += offset_values(model.offset_, X) - model.offset_["center"]
    np.testing.assert_allclose(ours[:, :-1], theirs, atol=1e-6)
    np.testing.assert_allclose(ours.sum(axis=1), model.decision_function(X), atol=1e-6)
    codes = [json.loads(c) for c in reason_codes(model, X, top_k=3)]
    first = codes[0]
    assert len(first) == 3 and {"feature", "value", "contribution", "direction",
                                "description"} <= set(first[0])  # fmt: skip
    sizes = [abs(c["contribution"]) for c in first]
    assert sizes == sorted(sizes, reverse=True)
    assert describe_feature("rfm__recency_days") == "days from the last purchase to the cutoff"
    assert describe_feature("btyd__expected_purchases_30d").endswith("next 30 days")


def test_scoring_columns_chunked(purchase_result: Any) -> None:
    model, X = purchase_result.model, purchase_result.test_rows
    whole = score_customers(X, {"purchase": model}, reasons_for=False)
    chunked = score_customers(X, {"purchase": model}, chunk_size=97, reasons_top_k=2,
                              reasons_for=np.arange(X.height) < 10)  # fmt: skip
    assert chunked.columns == ["customer_id", "score__purchase", "decile__purchase",
                               "reasons__purchase"]  # fmt: skip
    np.testing.assert_allclose(chunked["score__purchase"], whole["score__purchase"])
    # customers with identical inputs share a decile (ties take the top rank of the tie)
    assert chunked["decile__purchase"].max() == 10 and chunked["decile__purchase"].min() <= 2
    top = chunked.filter(pl.col("decile__purchase") == 10)["score__purchase"].min()
    assert top >= chunked.filter(pl.col("decile__purchase") < 10)["score__purchase"].max()
    assert chunked["reasons__purchase"].null_count() == X.height - 10
    assert whole["reasons__purchase"].null_count() == X.height


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"target": "churn"}, ConfigError, "The 'target' parameter of PropensityModel must be"),
        ({"calibration": "beta"}, ConfigError, "'calibration' parameter .* Got 'beta' instead"),
    ],
)
def test_bad_parameters(purchase_result: Any, params: dict, error: type, match: str) -> None:
    X = purchase_result.test_rows.head(50)
    with pytest.raises(error, match=match):
        PropensityModel(**params).fit(X, X["label"], X_valid=X, y_valid=X["label"])


def test_one_class_labels_are_a_data_error(purchase_result: Any) -> None:
    X = purchase_result.test_rows.head(50)
    with pytest.raises(DataError, match="must hold both classes"):
        PropensityModel(**FAST).fit(X, np.zeros(50), X_valid=X, y_valid=X["label"])

"""segml's estimators follow scikit-learn's conventions: ``check_estimator`` for the models
that take a numeric matrix, the transformer contract for ``FeatureBuilder`` (which takes event
tables), and a ``Pipeline`` of both that ``clone``, ``cross_val_score`` and ``GridSearchCV``
over a ``TimeSeriesSplit`` can use."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks as ec
from sklearn.utils.estimator_checks import parametrize_with_checks

from segml.clusters.estimator import CustomerClusterer
from segml.features import FeatureBuilder
from segml.labels import make_labels
from segml.models.btyd import BetaGeoModel, GammaGammaModel
from segml.models.propensity import PropensityModel

# small trees, isotonic calibration only (the sigmoid's cross-fit costs most of a tiny fit)
_SMALL = {"n_estimators": 8, "num_leaves": 4, "min_child_samples": 2,
          "early_stopping_rounds": 5, "calibration": "isotonic", "n_jobs": 1}  # fmt: skip

_EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "purchase": {},
    "value": {
        "check_regressors_no_decision_function": (
            "decision_function is the value model's raw score, log E[value] (the baseline "
            "offset plus the trees): the scale reason codes add up on, used by scoring"
        ),
    },
}
_MODELS = [PropensityModel(target=t, **_SMALL) for t in ("purchase", "value")]


@parametrize_with_checks(_MODELS, expected_failed_checks=lambda m: _EXPECTED_FAILURES[m.target])
def test_propensity_model_passes_check_estimator(estimator: Any, check: Any) -> None:
    check(estimator)


_ONE_SEGMENT = (
    "scikit-learn sets n_clusters=1 for this check; one segment is no segmentation, so "
    "CustomerClusterer rejects n_clusters < 2 by design"
)
_CLUSTERER = CustomerClusterer(
    n_clusters=3, n_subsamples=2, selection_sample=None, silhouette_sample=200, n_init=1
)


@parametrize_with_checks(
    [_CLUSTERER],
    expected_failed_checks=lambda _: {
        name: _ONE_SEGMENT
        for name in (
            "check_dont_overwrite_parameters",
            "check_methods_subset_invariance",
            "check_fit2d_1sample",
            "check_fit2d_1feature",
            "check_fit2d_predict1d",
        )
    },
)
def test_customer_clusterer_passes_check_estimator(estimator: Any, check: Any) -> None:
    check(estimator)


def test_clusterer_transform_and_set_output() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.3, size=(60, 2)) for c in (0.0, 3.0, 6.0)])
    frame = pd.DataFrame(X, columns=["a", "b"])
    clusterer = clone(_CLUSTERER).set_params(features=None).fit(frame)
    D = clusterer.transform(frame)
    # the nearest centre is the predicted segment; columns named by segment id
    ids = np.asarray(clusterer.segment_ids_)
    np.testing.assert_array_equal(ids[D.argmin(axis=1)], clusterer.predict(frame))
    names = clusterer.get_feature_names_out()
    assert list(names) == [f"cluster__distance_{i}" for i in ids]
    out = clusterer.set_output(transform="polars").transform(frame)
    assert isinstance(out, pl.DataFrame) and out.columns == list(names)
    # an array (no names) is clustered on all its columns, the same as the frame
    on_array = clone(_CLUSTERER).fit(X)
    np.testing.assert_array_equal(on_array.predict(X), clusterer.predict(frame))


def test_targets_choose_classifier_or_regressor() -> None:
    assert is_classifier(PropensityModel(target="purchase"))
    assert is_classifier(PropensityModel(target="lapse"))
    assert is_regressor(PropensityModel(target="value"))
    assert not hasattr(PropensityModel(target="value"), "predict_proba")


def test_labels_of_any_two_values_and_scores_unchanged() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + rng.normal(size=400) > 0).astype(int)
    numeric = PropensityModel(**_SMALL).fit(X, y)
    words = np.where(y == 1, "buyer", "none")
    named = PropensityModel(**_SMALL).fit(X, words)
    assert named.classes_.tolist() == ["buyer", "none"]  # "none" is classes_[1], the positive
    # 0/1 labels train as before: predict_score is the calibrated P(classes_[1])
    np.testing.assert_array_equal(numeric.predict_proba(X)[:, 1], numeric.predict_score(X))
    assert set(numeric.predict(X)) <= {0, 1} and numeric.score(X, y) > 0.7
    assert set(named.predict(X)) == {"buyer", "none"} and named.score(X, words) > 0.7
    assert np.corrcoef(named.predict_proba(X)[:, 0], numeric.predict_score(X))[0, 1] > 0.9


# --------------------------------------------------------------------------- FeatureBuilder
# check_estimator feeds numeric matrices; FeatureBuilder takes event tables (orders, events,
# customers) and a cutoff, so the data checks are meaningless for it. The checks that need no
# data run here, and its transformer contract is tested on a real (small) shop below.
_API_CHECKS = [
    ec.check_no_attributes_set_in_init,
    ec.check_parameters_default_constructible,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_estimator_cloneable,
    ec.check_estimator_repr,
    ec.check_estimator_tags_renamed,
    ec.check_valid_tag_types,
]


@pytest.mark.parametrize("check", _API_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("make", [FeatureBuilder, BetaGeoModel, GammaGammaModel])
def test_api_checks_of_estimators_with_a_fixed_input_layout(make: Any, check: Any) -> None:
    check(make.__name__, make())


# --------------------------------------------------------------------- BG/NBD, Gamma-Gamma
# check_estimator's data are random floats of any width and sign; these models take purchase
# histories (whole repeat counts, recency <= T, non-negative spend) and reject anything else
# with a DataError, so its data checks cannot pass by design. Their scikit-learn contract is
# tested on valid histories instead: arrays in column order, n_features_in_, clone, pickle,
# refitting, row order.
def _histories(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Purchase histories drawn from the BG/NBD process itself (rate ~ Gamma(0.8, 1/20),
    dropout after each repeat purchase ~ Beta(1, 3)), spend ~ Gamma per customer."""
    rng = np.random.default_rng(seed)
    rows = []
    for lam, p, T in zip(
        rng.gamma(0.8, 1 / 20, n), rng.beta(1.0, 3.0, n), rng.uniform(90, 365, n), strict=True
    ):
        t, times = rng.exponential(1 / lam), []
        while t < T:
            times.append(t)
            if rng.random() < p:
                break
            t += rng.exponential(1 / lam)
        x = max(len(times) - 1, 0)
        recency = times[-1] - times[0] if x else 0.0
        rows.append(
            (
                float(x),
                recency,
                T - (times[0] if times else 0.0),
                rng.gamma(4.0, 10.0) if x else 0.0,
            )
        )
    return pd.DataFrame(rows, columns=["frequency", "recency", "T", "monetary_value"])


@pytest.mark.parametrize(
    ("make", "columns", "method"),
    [
        (BetaGeoModel, ["frequency", "recency", "T"], "probability_alive"),
        (GammaGammaModel, ["frequency", "monetary_value"], "conditional_expected_average_value"),
    ],
)
def test_btyd_models_follow_the_estimator_contract(
    make: Any, columns: list[str], method: str
) -> None:
    import pickle

    table = _histories()[columns]
    model = make().fit(table)
    expected = getattr(model, method)(table)
    on_array = make().fit(table.to_numpy())  # an array in the documented column order
    assert on_array.n_features_in_ == model.n_features_in_ == len(columns)
    assert on_array.params_ == model.params_
    np.testing.assert_array_equal(getattr(on_array, method)(table.to_numpy()), expected)
    np.testing.assert_array_equal(
        getattr(make().fit(pl.from_pandas(table)), method)(table), expected
    )
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(getattr(again, method)(table), expected)
    assert clone(model).get_params() == model.get_params() and not hasattr(clone(model), "params_")
    assert model.fit(table).params_ == on_array.params_  # refitting gives the same fit
    order = np.random.default_rng(1).permutation(len(table))
    np.testing.assert_allclose(getattr(model, method)(table.iloc[order]), expected[order])
    with pytest.raises(ValueError, match=f"must hold {len(columns)} columns"):
        make().fit(np.ones((5, len(columns) + 1)))


_FAMILIES: dict[str, Any] = {"families": ["rfm", "affinity"], "top_k_categories": 3}


@pytest.fixture(scope="module")
def shop() -> dict[str, Any]:
    from segml.datasets import make_shop

    s = make_shop(300, seed=3)
    return {"orders": s.orders, "events": s.events, "customers": s.customers}


def test_feature_builder_transformer_contract(shop: dict[str, Any]) -> None:
    builder = FeatureBuilder(**_FAMILIES, as_of="2024-10-01")
    out = builder.fit_transform(shop)
    assert isinstance(out, pd.DataFrame)  # the caller's frame type
    pd.testing.assert_frame_equal(out, builder.transform(shop))
    # the keyword still works and wins over the parameter
    keyword = FeatureBuilder(**_FAMILIES).fit(shop, as_of="2024-10-01")
    pd.testing.assert_frame_equal(keyword.transform(shop, as_of="2024-10-01"), out)
    assert list(builder.get_feature_names_out()) == [c for c in out.columns if c != "customer_id"]
    assert isinstance(builder.set_output(transform="polars").transform(shop), pl.DataFrame)
    again = clone(builder)
    assert again.get_params() == builder.get_params() and not hasattr(again, "state_")
    assert isinstance(again.fit_transform(shop), pl.DataFrame)  # clone keeps set_output
    with pytest.raises(ValueError, match="as_of is required"):
        FeatureBuilder().fit(shop)


def _rows_and_labels(shop: dict[str, Any]) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (customer, cutoff), sorted by cutoff, with its 30-day purchase label."""
    frames = []
    for cut in ("2024-08-01", "2024-09-01", "2024-10-01"):
        labels = make_labels(shop, as_of=cut, target="purchase", horizon_days=30)
        frames.append(labels.assign(cutoff=pd.Timestamp(cut)))
    rows = pd.concat(frames, ignore_index=True)
    return rows[["customer_id", "cutoff"]], rows["label"].to_numpy()


def test_pipeline_rows_get_features_as_of_their_own_cutoff(shop: dict[str, Any]) -> None:
    rows, y = _rows_and_labels(shop)
    assert 0.05 < y.mean() < 0.95 and rows["cutoff"].is_monotonic_increasing
    pipe = make_pipeline(FeatureBuilder(**_FAMILIES, source=shop), PropensityModel(**_SMALL))
    assert is_classifier(pipe) and is_classifier(clone(pipe))
    builder = clone(pipe[0]).fit(rows.iloc[:200])  # learns at the latest of these cutoffs
    picked = rows.iloc[[-1, 0, 1, -2]]  # rows of the first and the last cutoff, mixed
    got = builder.transform(picked)
    assert got["customer_id"].tolist() == picked["customer_id"].astype(str).tolist()
    plain = FeatureBuilder(**_FAMILIES).fit(shop, as_of=rows["cutoff"].iloc[199])
    for cut, part in got.groupby("cutoff"):
        want = plain.transform(shop, as_of=cut).set_index("customer_id")
        mine = part.drop(columns="cutoff").set_index("customer_id")
        pd.testing.assert_frame_equal(mine, want.loc[mine.index], check_dtype=False)
    proba = pipe.fit(rows, y).predict_proba(rows.tail(50))
    assert proba.shape == (50, 2) and np.allclose(proba.sum(axis=1), 1)


def test_docs_pipeline_example_runs() -> None:
    """The examples of docs/sklearn.md run as written (the second uses the first's tables)."""
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "sklearn.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 2
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(blocks), str(page), "exec"), namespace)
    assert namespace["auc"].shape == (2,) and (namespace["auc"] > 0.55).all(), namespace["auc"]
    assert namespace["search"].best_params_["propensitymodel__num_leaves"] in (4, 8)
    assert namespace["p_buy"].shape == (5,)
    assert isinstance(namespace["features"], pl.DataFrame)
    assert isinstance(namespace["later"], pl.DataFrame)

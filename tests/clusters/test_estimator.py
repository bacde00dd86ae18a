"""CustomerClusterer: recovers the synthetic latent types, follows scikit-learn conventions,
assigns from its JSON form exactly as it was fitted, and explains bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score

from segml.clusters import CustomerClusterer, CustomerPreprocessor
from segml.errors import DataError


def test_recovers_the_latent_types(synthetic, fitted) -> None:  # type: ignore[no-untyped-def]
    _, truth = synthetic
    # default settings, shuffled rows: k = 6 (six latent types) and ARI 0.83 on this store
    # (0.79-0.83 over six stores and three seeds: docs/clusters.md)
    assert fitted.n_clusters_ == 6
    assert adjusted_rand_score(truth, fitted.labels_) >= 0.80


def test_row_order_changes_nothing(synthetic, fitted) -> None:  # type: ignore[no-untyped-def]
    features, _ = synthetic
    reordered = features.iloc[::-1].reset_index(drop=True)
    again = CustomerClusterer().fit(reordered)
    assert again.n_clusters_ == fitted.n_clusters_
    pd.testing.assert_frame_equal(again.k_selection_, fitted.k_selection_, rtol=1e-6)
    before = fitted.assign(features).set_index("customer_id")
    after = again.assign(reordered).set_index("customer_id").loc[before.index]
    assert (after["cluster__id"] == before["cluster__id"]).all()
    assert again.names_ == fitted.names_


def test_k_selection_table_and_rule(synthetic) -> None:  # type: ignore[no-untyped-def]
    from segml.clusters import choose_k

    features, _ = synthetic
    model = CustomerClusterer(k_range=(5, 7), n_subsamples=2, n_init=2).fit(features)
    table = model.k_selection_
    assert list(table["k"]) == [5, 6, 7] and model.n_clusters_ in (5, 6, 7)
    assert model.n_clusters_ == choose_k(table)
    assert {"silhouette", "calinski_harabasz", "davies_bouldin", "bic", "stability",
            "dispersion", "elbow"} <= set(table)  # fmt: skip
    assert table["bic"].isna().all()  # only the mixture has a BIC
    assert table["stability"].between(-1, 1).all()
    assert table["dispersion"].is_monotonic_decreasing
    assert table["elbow"].notna().all()  # W(4) and W(8) are fitted for the ends


def test_sklearn_conventions(synthetic) -> None:  # type: ignore[no-untyped-def]
    features, _ = synthetic
    model = CustomerClusterer(n_clusters=3, n_init=1)
    assert model.get_params()["n_clusters"] == 3 and not hasattr(model, "labels_")
    with pytest.raises(NotFittedError):
        model.predict(features)
    assert clone(model).set_params(n_clusters=4).n_clusters == 4
    assert model.fit(features) is model
    pre = model.preprocessor_
    assert list(pre.get_feature_names_out()) == list(model.feature_names_in_)
    assert not any(c.startswith(("rfm__orders_", "rfm__revenue_", "intent__", "attr__"))
                   for c in model.feature_names_in_)  # fmt: skip


def test_ids_names_and_row_order(fitted, synthetic) -> None:  # type: ignore[no-untyped-def]
    features, _ = synthetic
    out = fitted.assign(features)
    assert list(out.columns) == ["customer_id", "cluster__id", "cluster__name"]
    assert out["cluster__id"].dtype == np.int64 and out["cluster__name"].map(type).eq(str).all()
    assert sorted(fitted.names_) == list(range(fitted.n_clusters_))
    sizes = out["cluster__id"].value_counts().sort_index()
    assert sizes.is_monotonic_decreasing  # id 0 is the largest segment
    assert len(set(fitted.names_.values())) == fitted.n_clusters_
    reversed_rows = features.iloc[::-1]
    again = fitted.assign(reversed_rows)
    assert (again["cluster__id"].to_numpy() == out["cluster__id"].to_numpy()[::-1]).all()


def test_json_round_trip_assigns_identically(fitted, synthetic) -> None:  # type: ignore[no-untyped-def]
    features, _ = synthetic
    loaded = CustomerClusterer.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert (loaded.predict(features) == fitted.labels_).all()
    assert loaded.names_ == fitted.names_


def test_gmm_probabilities_and_hdbscan_noise(synthetic) -> None:  # type: ignore[no-untyped-def]
    features, _ = synthetic
    gmm = CustomerClusterer(algorithm="gmm", n_clusters=4, covariance_type="diag").fit(features)
    proba = gmm.predict_proba(features)
    assert proba.shape == (len(features), 4) and np.allclose(proba.sum(axis=1), 1)
    assert (proba.argmax(axis=1) == gmm.predict(features)).all()
    assert not hasattr(CustomerClusterer(), "predict_proba")
    hd = CustomerClusterer(algorithm="hdbscan", min_cluster_size=40).fit(features)
    out = hd.assign(features)
    assert len(out) == len(features)  # nobody is dropped
    noise = out["cluster__id"] == -1
    assert noise.any() and (out.loc[noise, "cluster__name"] == "unclustered").all()
    assert hd.profile_["cluster__name"].eq("unclustered").any()


def _table(n: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)],
        "rfm__recency_days": rng.exponential(50, n),
        "rfm__frequency": rng.poisson(3, n).astype(float),
        "rfm__monetary_total": rng.gamma(2, 50, n),
    })  # fmt: skip


def _with(column: str, values) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frame = _table()
    frame[column] = values
    return frame


@pytest.mark.parametrize(
    ("frame", "params", "match"),
    [
        (_table(4), {"n_clusters": 5}, r"too few customers for 5 clusters: got 4, need at least 6"),
        (_table(8), {"k_range": (2, 9)}, r"too few customers for 9 clusters: got 8"),
        (
            _with("rfm__frequency", np.r_[np.inf, np.ones(28), -np.inf]),
            {"n_clusters": 2},
            r"infinite values in the feature table: \{'rfm__frequency': 2\}",
        ),
        (_table().iloc[:0], {"n_clusters": 2}, r"the feature table has no rows"),
        (
            _table(),
            {"features": ["rfm__monetary_mean"]},
            r"column 'rfm__monetary_mean' not found in the feature table",
        ),
        (
            _with("attr__country", "GB"),
            {"features": ["attr__country"]},
            r"column 'attr__country' is not numeric \(dtype object\)",
        ),
        (_table(), {"features": ["engagement__*"]}, r"no numeric column matches"),
        (
            pd.DataFrame({"rfm__frequency": [1.0] * 10, "rfm__recency_days": [np.nan] * 10}),
            {"n_clusters": 2},
            r"every selected feature is all missing or constant \(2 columns",
        ),
        (
            pd.DataFrame({"rfm__frequency": [1.0, 2.0] * 5}),
            {"n_clusters": 3},
            r"only 2 distinct customers \(after preprocessing\) among 10",
        ),
    ],
)
def test_bad_input_is_explained(frame, params, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=match):
        CustomerClusterer(**params).fit(frame)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"algorithm": "kmedoids"}, r"The 'algorithm' parameter of CustomerClusterer must be"),
        ({"n_clusters": 1}, r"The 'n_clusters' parameter .* \[2, inf\) or 'auto'. Got 1"),
        ({"k_range": (5, 3)}, r"The 'k_range' parameter"),
        ({"selection_rule": "bic"}, r"'stability' or 'silhouette' unless algorithm is 'gmm'"),
        ({"n_subsamples": 1}, r"The 'n_subsamples' parameter .* \[2, inf\). Got 1"),
        ({"subsample": 1.5}, r"The 'subsample' parameter .* \(0, 1\]. Got 1.5"),
    ],
)
def test_bad_parameters_fail_in_fit(params, match) -> None:  # type: ignore[no-untyped-def]
    model = CustomerClusterer(**params)  # __init__ only stores them
    with pytest.raises(ValueError, match=match):
        model.fit(_table())


def test_missing_values_are_imputed_and_degenerate_columns_dropped() -> None:
    frame = _table(40)
    frame.loc[:9, "rfm__recency_days"] = np.nan  # never bought: longer ago than anyone
    frame["rfm__returns"] = 0.0  # constant
    frame["rfm__gap_mean_days"] = np.nan  # all missing
    pre = CustomerPreprocessor().fit(frame)
    assert pre.dropped_features_ == {"rfm__returns": "constant",
                                     "rfm__gap_mean_days": "all missing"}  # fmt: skip
    recency = list(pre.feature_names_in_).index("rfm__recency_days")
    assert pre.fill_values_[recency] == frame["rfm__recency_days"].max()
    Z = pre.transform(frame)
    assert np.isfinite(Z).all() and np.abs(Z).max() <= 5.0
    model = CustomerClusterer(n_clusters=3).fit(frame)
    assert model.dropped_features_ == pre.dropped_features_


def test_selection_rules() -> None:
    from segml.clusters import choose_k

    table = pd.DataFrame({
        "k": [3, 4, 5, 6, 7],
        "stability": [0.99, 0.70, 0.98, 0.975, 0.85],
        "silhouette": [0.4, 0.1, 0.2, 0.1, 0.3],
        "elbow": [1.1, 2.5, 1.2, 1.8, 1.4],
        "bic": [np.nan] * 5,
    })  # fmt: skip
    assert choose_k(table) == 6  # the sharpest elbow among the stable k (4 is not stable)
    assert choose_k(table, threshold=0.98) == 5
    assert choose_k(table, rule="stability") == 6  # the largest within 0.02 of the most stable
    assert choose_k(table, rule="stability", tolerance=0.01) == 5
    assert choose_k(table, rule="silhouette") == 3
    low = table.assign(stability=[0.5, 0.6, 0.7, 0.4, 0.3])
    assert choose_k(low) == choose_k(low, rule="stability") == 5  # none stable: the most stable
    with pytest.raises(ValueError, match="needs algorithm 'gmm'"):
        choose_k(table, rule="bic")

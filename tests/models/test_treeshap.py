"""The pattern-grouped TreeSHAP equals LightGBM's ``pred_contrib`` (and so the shap package's
TreeExplainer, checked in test_propensity): missing values, zeros as missing, categorical
splits, unseen and negative categories, small and large trees, and the per-tree fallback."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from segml.models.treeshap import tree_contributions


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 1] = rng.poisson(1.0, n)  # many exact zeros
    X[rng.random(n) < 0.15, 0] = np.nan
    X[rng.random(n) < 0.10, 1] = np.nan
    X[:, 4] = rng.integers(0, 8, n)  # categorical codes
    X[rng.random(n) < 0.05, 4] = np.nan
    X[:, 5] = 0.0
    y = X[:, 2] + np.nan_to_num(X[:, 0]) + (X[:, 4] % 3 == 0) + rng.normal(size=n) > 0.5
    return X, y.astype(float)


@pytest.mark.parametrize(
    "params",
    [
        {"num_leaves": 7},
        {"num_leaves": 15, "zero_as_missing": True},
        {"num_leaves": 31, "use_missing": False},
        {"num_leaves": 40, "min_data_in_leaf": 2},  # > 20 splits: patterns grouped by a sort
        {"num_leaves": 90, "min_data_in_leaf": 2},  # > 62 splits: pred_contrib on every row
        {"num_leaves": 7, "objective": "tweedie"},
    ],
)
def test_equals_lightgbm_pred_contrib(params: dict[str, Any]) -> None:
    X, y = _data(3000, seed=1)
    full = {"objective": "binary", "learning_rate": 0.2, "verbose": -1, "num_threads": 1,
            "min_data_per_group": 5, "cat_smooth": 1.0} | params  # fmt: skip
    booster = lgb.train(full, lgb.Dataset(X, y, categorical_feature=[4]), num_boost_round=25)
    new, _ = _data(5000, seed=2)
    new[:7, 4] = [-1, -3.5, 99, 7.9, 0.0, np.nan, 1e-40]  # unseen, negative, fractional codes
    new[7:10, 2] = [1e-36, -1e-36, 0.0]
    expected = booster.predict(new, pred_contrib=True)
    ours = tree_contributions(booster, new)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-10)
    some = booster.predict(new, num_iteration=10, pred_contrib=True)
    np.testing.assert_allclose(tree_contributions(booster, new, num_iteration=10), some,
                               rtol=0, atol=1e-10)  # fmt: skip


def test_single_leaf_trees_only_move_the_base_value() -> None:
    X = np.zeros((50, 2))
    y = np.r_[np.zeros(25), np.ones(25)]
    booster = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 1},
                        lgb.Dataset(X, y), num_boost_round=3)  # fmt: skip
    np.testing.assert_allclose(tree_contributions(booster, X),
                               booster.predict(X, pred_contrib=True), atol=1e-12)  # fmt: skip

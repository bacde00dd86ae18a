"""Small shared fixtures for the propensity-model tests: one synthetic shop, one trained run in a
session-scoped MLflow store (kept small so the whole folder runs in about a minute)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

NOW = "2025-01-01"
FAST = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15, "n_jobs": 1,
        "early_stopping_rounds": 10}  # fmt: skip


@pytest.fixture(scope="session")
def small_shop() -> Any:
    from segml.datasets import make_shop
    from segml.models.dataset import materialize
    from segml.schema import prepare

    shop = make_shop(1500, seed=3)
    return materialize(prepare({"orders": shop.orders, "events": shop.events,
                                "customers": shop.customers}))  # fmt: skip


@pytest.fixture(scope="session")
def cache(small_shop: Any) -> Any:
    from segml.features import FeatureBuilder
    from segml.models.dataset import CutoffCache

    builder = FeatureBuilder(top_k_categories=4).fit(small_shop, as_of="2024-10-01")
    return CutoffCache(small_shop, builder, horizons=[30.0, 60.0])


@pytest.fixture(scope="session")
def purchase_result(cache: Any) -> Any:
    from segml.models.training import fit_target

    return fit_target(cache, target="purchase", now=NOW, horizon_days=30, n_cutoffs=4,
                      model_params=FAST)  # fmt: skip


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    from segml.tracking import default_tracking_uri

    return default_tracking_uri(Path(tmp_path_factory.mktemp("mlflow")))

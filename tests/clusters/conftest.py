"""Shared fixtures of the clustering tests: the synthetic store's features (built once per
session, shuffled so every test also proves row-order independence) and its latent types."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import segml
from segml.datasets import make_shop


@pytest.fixture(scope="session")
def synthetic() -> tuple[pd.DataFrame, np.ndarray]:
    shop = make_shop(2000, seed=0)
    tables = {"orders": shop.orders, "events": shop.events, "customers": shop.customers}
    features = segml.build_features(tables, as_of="2025-01-01")
    features = features.sample(frac=1.0, random_state=7).reset_index(drop=True)
    truth = shop.truth.set_index("customer_id").loc[features["customer_id"], "latent_type"]
    return features, truth.to_numpy()


@pytest.fixture(scope="session")
def fitted(synthetic: tuple[pd.DataFrame, np.ndarray]):  # type: ignore[no-untyped-def]
    """The clusterer with every default setting (k chosen from 3..10) on the shuffled store."""
    from segml.clusters import CustomerClusterer

    features, _ = synthetic
    return CustomerClusterer().fit(features)

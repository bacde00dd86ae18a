"""The clusterer's inputs at scoring time: built with the feature settings stored with it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest

from segml.datasets import make_shop
from segml.features import FeatureBuilder
from segml.schema import ShopData, prepare
from segml.scores.inputs import cluster_inputs

AS_OF = "2024-10-01"


@pytest.fixture(scope="module")
def shop() -> ShopData:
    s = make_shop(250, seed=5)
    return prepare({"orders": s.orders, "events": s.events, "customers": s.customers})


def _settings(shop: ShopData, **params: Any) -> tuple[dict[str, Any], pl.DataFrame]:
    """A builder's stored settings (as the cluster job logs them) and its feature table."""
    builder = FeatureBuilder(**params).fit(shop, as_of=AS_OF)
    table = builder.transform_table(shop, as_of=AS_OF)
    return {**builder.feature_settings(), "categories": builder.categories_}, table


def _clusterer(columns: list[str]) -> Any:
    """What ``cluster_inputs`` reads of a fitted clusterer: the columns it was fitted on."""
    return SimpleNamespace(preprocessor_=SimpleNamespace(feature_names_in_=columns))


def test_frame_built_alike_is_reused(shop: ShopData) -> None:
    stored, frame = _settings(shop)
    needed = ["engagement__sessions_90d", "affinity__spend_share_other", "rfm__recency_days"]
    inputs, columns = cluster_inputs(frame, shop, _clusterer(needed), as_of=AS_OF,
                                     feature_params=stored, frame_params=stored)  # fmt: skip
    assert inputs is frame
    assert columns == ["customer_id", *needed]


@pytest.mark.parametrize(
    ("clusterer_params", "column"),
    [
        # the same column names, other meanings: a window, or the category set behind "other"
        ({"intent_window_days": 14}, "rfm__recency_days"),
        ({"top_k_categories": 2}, "affinity__spend_share_other"),
        # columns the models' frame does not have
        ({"engagement_window_days": 60}, "engagement__sessions_60d"),
        # an opt-in family the clusterer was fitted with and the models were not
        ({"families": ["rfm", "affinity", "basket"]}, "basket__items_mean"),
    ],
)
def test_clusterer_settings_rebuild_its_columns(
    shop: ShopData, clusterer_params: dict[str, Any], column: str
) -> None:
    models, frame = _settings(shop)
    stored, expected = _settings(shop, **clusterer_params)
    needed = list(dict.fromkeys([column, "affinity__spend_share_other", "rfm__recency_days"]))
    inputs, columns = cluster_inputs(frame, shop, _clusterer(needed), as_of=AS_OF,
                                     feature_params=stored, frame_params=models)  # fmt: skip
    assert inputs is not frame
    assert inputs.select(columns).equals(expected.select(columns))


def test_changed_settings_of_the_day_change_nothing(shop: ShopData) -> None:
    """Only the stored settings count: the frame the models were built with differs in every
    window, and the clusterer's columns come out as they were fitted."""
    stored, expected = _settings(shop, engagement_window_days=45, windows_days=(14, 60))
    models, frame = _settings(shop, engagement_window_days=30, windows_days=(7, 365))
    needed = ["engagement__sessions_45d", "rfm__orders_14d", "affinity__spend_share_other"]
    inputs, columns = cluster_inputs(frame, shop, _clusterer(needed), as_of=AS_OF,
                                     feature_params=stored, frame_params=models)  # fmt: skip
    assert inputs.select(columns).equals(expected.select(columns))


def test_a_clusterer_without_stored_settings_reuses_a_frame_with_its_columns(
    shop: ShopData,
) -> None:
    """Registered before its settings were stored: the frame is used when it has the columns
    (what scoring always did)."""
    _, frame = _settings(shop)
    needed = ["engagement__sessions_90d", "rfm__recency_days"]
    windows = {"windows_days": (7, 30, 90, 365), "engagement_window_days": 90}
    inputs, _ = cluster_inputs(frame, shop, _clusterer(needed), as_of=AS_OF,
                               feature_params=windows, frame_params=None)  # fmt: skip
    assert inputs is frame

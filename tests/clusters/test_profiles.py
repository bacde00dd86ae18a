"""Profiles against the base, generated names, and surrogate explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segml.clusters import name_segments, profile_segments
from segml.clusters.explain import explain_segments


def _hand_made() -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame({
        "rfm__recency_days": [5, 8, 6, 300, 320, 310, np.nan, np.nan],
        "rfm__frequency": [20, 25, 22, 1, 1, 1, 0, 0],
        "rfm__monetary_total": [900, 1100, 1000, 20, 30, 25, 0, 0],
        "affinity__spend_share_toys": [0.9, 0.8, 0.85, 0.1, 0.0, 0.0, np.nan, np.nan],
        "affinity__spend_share_garden": [0.1, 0.2, 0.15, 0.9, 1.0, 1.0, np.nan, np.nan],
        "affinity__view_share_toys": [0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.9, 0.8],
        "affinity__view_share_garden": [0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 0.1, 0.2],
    })  # fmt: skip
    return frame, np.array([0, 0, 0, 1, 1, 1, 2, 2])


def test_profile_against_the_base() -> None:
    frame, ids = _hand_made()
    table = profile_segments(frame, ids, names={0: "vip"})
    assert table["cluster__name"].tolist()[:2] == ["vip", "1"]
    top = table.iloc[0]
    assert top["customers"] == 3 and top["share"] == 3 / 8
    assert top["revenue_share"] == 3000 / 3075
    assert top["rfm__frequency:median"] == 22
    assert np.isclose(top["rfm__frequency:ratio"], 67 / 3 / (70 / 8))
    assert top["top_categories"] == "toys 85%, garden 15%"
    assert table.iloc[-1]["cluster__name"] == "all customers"
    assert pd.isna(table.iloc[-1]["cluster__id"]) and table.iloc[-1]["customers"] == 8


def test_generated_names() -> None:
    frame, ids = _hand_made()
    assert name_segments(frame, ids) == {
        0: "high-value frequent active toys buyers",
        1: "mid-value one-time lapsed garden buyers",  # 25 is above the lowest third (13)
        2: "toys browsers",  # never bought: named from product views
    }


def test_surrogates_explain_each_segment(fitted, synthetic) -> None:  # type: ignore[no-untyped-def]
    features, _ = synthetic
    table = explain_segments(fitted, features, top=3, sample=1500, n_estimators=30)
    assert set(table["cluster__id"]) == set(fitted.names_)
    assert (table["fidelity"] > 0.85).all()
    assert table["description"].str.len().gt(0).all()
    assert set(table["direction"]) <= {"+", "-"}

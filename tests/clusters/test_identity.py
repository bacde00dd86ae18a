"""Stable ids across refits (Hungarian matching) and the transition table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segml.clusters import CustomerClusterer, match_ids, transition_table


def test_match_ids_by_overlap() -> None:
    previous = np.array([3, 3, 3, 7, 7, 7, 1, 1, -1])
    raw = np.array([2, 2, 2, 0, 0, 1, 1, 1, 1])  # raw 2 ~ 3, raw 0 ~ 7, raw 1 ~ 1
    assert match_ids(raw, previous, n_clusters=3).tolist() == [7, 1, 3]
    grown = np.array([0, 0, 0, 1, 1, 1, 2, 2, 3])
    assert match_ids(grown, previous, n_clusters=4).tolist() == [3, 7, 1, 8]  # fresh id 8


def test_refit_keeps_ids(synthetic, fitted) -> None:  # type: ignore[no-untyped-def]
    features, _ = synthetic
    later = features.sample(frac=0.9, random_state=1).reset_index(drop=True)
    refit = CustomerClusterer(n_clusters=fitted.n_clusters_, random_state=5)
    refit.fit(later, previous=fitted)
    agree = (refit.predict(later) == fitted.predict(later)).mean()
    assert agree > 0.9
    table = transition_table(fitted.assign(features), refit.assign(later))
    assert table.loc["total", "total"] == len(features)
    assert table.loc[:, "(gone)"].iloc[:-1].sum() == len(features) - len(later)


def test_transition_table_counts_new_and_gone() -> None:
    before = pd.DataFrame({"customer_id": ["a", "b", "c"], "cluster__name": ["x", "x", "y"]})
    after = pd.DataFrame({"customer_id": ["a", "b", "d"], "cluster__name": ["x", "y", "y"]})
    table = transition_table(before, after)
    assert table.loc["x", "x"] == 1 and table.loc["x", "y"] == 1
    assert table.loc["y", "(gone)"] == 1 and table.loc["(new)", "y"] == 1

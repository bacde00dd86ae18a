"""Stable segment identities across refits, and the table of customers moving between them.

When the clusterer is refitted (next month), each new cluster takes the id of the previous
segment it overlaps most: both models assign the same customers (the new training table), the
overlap counts form a contingency table, and the Hungarian algorithm
(``scipy.optimize.linear_sum_assignment``) picks the one-to-one matching with the largest total
overlap. Clusters left over (k grew) get fresh ids above every previous one; ids of segments
that vanished (k shrank) are not reused. Comparing assignments rather than centroids works for
every algorithm and does not depend on the two fits' scalers agreeing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from segml.clusters.algorithms import NOISE

__all__ = ["match_ids", "transition_table"]


def match_ids(raw: np.ndarray, previous_ids: np.ndarray, *, n_clusters: int) -> np.ndarray:
    """``out[j]`` is the stable id of raw cluster ``j`` (0..n_clusters-1), matched to
    ``previous_ids`` (the previous model's ids for the same rows; -1 = unclustered)."""
    prev = sorted(set(previous_ids.tolist()) - {NOISE})
    keep = (raw != NOISE) & (previous_ids != NOISE)
    overlap = np.zeros((n_clusters, max(len(prev), 1)))
    if prev:
        col = {p: i for i, p in enumerate(prev)}
        np.add.at(overlap, (raw[keep], np.array([col[p] for p in previous_ids[keep]])), 1)
    rows, cols = linear_sum_assignment(-overlap)
    out = np.full(n_clusters, NOISE, dtype=np.int64)
    for r, c in zip(rows, cols, strict=True):
        if prev and overlap[r, c] > 0:
            out[r] = prev[c]
    fresh = max(prev, default=-1) + 1
    for j in range(n_clusters):
        if out[j] == NOISE:
            out[j], fresh = fresh, fresh + 1
    return out


def transition_table(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Customers by segment before (rows) and after (columns) a refit.

    Both frames have ``customer_id`` and ``cluster__name`` (e.g. two assignment tables). Rows
    and columns use the names; customers present on one side only are counted under "(new)"
    or "(gone)". The last row and column are totals.
    """
    for label, frame in (("before", before), ("after", after)):
        missing = {"customer_id", "cluster__name"} - set(frame.columns)
        if missing:
            raise ValueError(
                f"transition_table: {label} lacks columns {sorted(missing)}; pass assignment "
                "tables with customer_id and cluster__name (CustomerClusterer.assign)."
            )
    merged = before[["customer_id", "cluster__name"]].merge(
        after[["customer_id", "cluster__name"]],
        on="customer_id",
        how="outer",
        suffixes=("_before", "_after"),
    )
    return pd.crosstab(
        merged["cluster__name_before"].fillna("(new)"),
        merged["cluster__name_after"].fillna("(gone)"),
        rownames=["before"],
        colnames=["after"],
        margins=True,
        margins_name="total",
    )

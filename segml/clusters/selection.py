"""Choosing the number of segments: sweep k, score each, apply a documented rule.

For each k in the range the back-end is fitted on (a sample of) the preprocessed customers and
scored by:

- ``silhouette`` on a random sample (higher is better; exact silhouette is quadratic);
- ``calinski_harabasz`` (higher is better) and ``davies_bouldin`` (lower is better);
- ``bic`` for the Gaussian mixture (lower is better);
- ``stability``: the median adjusted Rand index between the fit on all rows and refits on
  ``n_bootstrap`` bootstrap resamples, both assigning the same rows (1 = the same partition
  every time); ``stability_std`` is their spread. Unstable k are ones whose segments would
  reshuffle from month to month. The median, not the mean, so that one refit stuck in a poor
  local optimum does not condemn a k that is otherwise reproduced.

Rules (``selection_rule``):

- ``"stability"`` (default): the largest k whose stability is at least ``stability_threshold``
  and within ``tolerance`` (0.02) of the most stable k, so the segments are both reproducible
  and as detailed as the data supports; when no k reaches the threshold, the most stable k.
  (k = 2 is nearly always very stable; the rule prefers a larger k that is as stable.)
- ``"silhouette"``: the k with the highest silhouette.
- ``"bic"``: the k with the lowest BIC (gmm only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)

from segml.clusters.algorithms import NOISE, assign, fit_algorithm

__all__ = ["RULES", "choose_k", "sweep_k"]

RULES = ("stability", "silhouette", "bic")


def sweep_k(
    Z: np.ndarray,
    *,
    k_values: Sequence[int],
    algorithm: str,
    options: dict[str, Any],
    n_bootstrap: int = 3,
    silhouette_sample: int = 5000,
    random_state: int = 0,
) -> pd.DataFrame:
    """One row per k: silhouette, calinski_harabasz, davies_bouldin, bic, stability (+ std)."""
    rng = np.random.default_rng(random_state)
    rows = []
    for k in k_values:
        labels, state = fit_algorithm(
            Z, algorithm=algorithm, k=k, random_state=random_state, options=options
        )
        row: dict[str, Any] = {"k": int(k), **_scores(Z, labels, rng, silhouette_sample)}
        row["bic"] = state.get("bic", np.nan)
        aris = []
        for b in range(n_bootstrap):
            idx = rng.integers(0, len(Z), len(Z))
            _, boot = fit_algorithm(
                Z[idx], algorithm=algorithm, k=k, random_state=random_state + 1 + b,
                options=options,
            )  # fmt: skip
            aris.append(adjusted_rand_score(labels, assign(Z, boot)))
        row["stability"] = float(np.median(aris)) if aris else np.nan
        row["stability_std"] = float(np.std(aris)) if aris else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _scores(
    Z: np.ndarray, labels: np.ndarray, rng: np.random.Generator, sample: int
) -> dict[str, float]:
    keep = labels != NOISE
    Zc, lc = Z[keep], labels[keep]
    if len(np.unique(lc)) < 2 or len(lc) <= len(np.unique(lc)):
        return {"silhouette": np.nan, "calinski_harabasz": np.nan, "davies_bouldin": np.nan}
    idx = rng.choice(len(Zc), min(sample, len(Zc)), replace=False)
    sil = silhouette_score(Zc[idx], lc[idx]) if len(np.unique(lc[idx])) > 1 else np.nan
    return {
        "silhouette": float(sil),
        "calinski_harabasz": float(calinski_harabasz_score(Zc, lc)),
        "davies_bouldin": float(davies_bouldin_score(Zc, lc)),
    }


def choose_k(
    table: pd.DataFrame, *, rule: str = "stability", threshold: float = 0.8, tolerance: float = 0.02
) -> int:
    """Apply a selection rule (see the module docstring) to a ``sweep_k`` table."""
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}; expected one of {RULES}")
    if rule == "silhouette":
        return int(table.loc[table["silhouette"].idxmax(), "k"])
    if rule == "bic":
        if table["bic"].isna().all():
            raise ValueError("selection rule 'bic' needs algorithm 'gmm' (only it has a BIC).")
        return int(table.loc[table["bic"].idxmin(), "k"])
    best = table["stability"].max()
    ok = table[(table["stability"] >= threshold) & (table["stability"] >= best - tolerance)]
    if ok.empty:
        return int(table.loc[table["stability"].idxmax(), "k"])
    return int(ok["k"].max())

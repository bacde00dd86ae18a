"""Choosing the number of segments: sweep k, score each, apply a documented rule.

For each k the back-end is fitted ``n_subsamples`` times (default 4), each time on a fixed
random subsample (``subsample``, default 80%, of the selection sample; the same subsamples for
every k) with its own seed, and every fit assigns the whole selection sample. Then:

- ``stability``: the mean adjusted Rand index over all pairs of these fits (1 = every
  subsample and seed gives the same partition); ``stability_std`` is its spread over the pairs.
  Unstable k are ones whose segments would reshuffle from month to month;
- the fit with the lowest within-cluster dispersion ``W(k)`` on the selection sample is kept
  (a consensus over ``n_subsamples x n_init`` restarts) and, for k-means, polished by one Lloyd
  run on the whole selection sample; the metrics below and the final model come from it:
- ``silhouette`` on a random sample (higher is better; the exact silhouette is quadratic);
- ``calinski_harabasz`` (higher is better) and ``davies_bouldin`` (lower is better);
- ``elbow``: the Krzanowski-Lai index ``|DIFF(k) / DIFF(k+1)|`` with
  ``DIFF(k) = (k-1)^(2/p) W(k-1) - k^(2/p) W(k)`` (p = dimensions): how much sharper the drop
  of ``W`` into k is than the drop after it (higher is better; ``W(1)`` is the total sum of
  squares; one extra k below and above the range give ``W(k_min - 1)`` and ``W(k_max + 1)``);
- ``bic`` for the Gaussian mixture (lower is better).

Rules (``selection_rule``):

- ``"stable_elbow"`` (default): among the k whose stability is at least
  ``stability_threshold`` (0.8), the one with the highest ``elbow``; when no k reaches the
  threshold, the most stable k. Stability alone cannot choose (k = 2 is nearly always the most
  stable, and splitting a real segment in two consistently is stable too); the elbow alone
  can pick a k whose partition does not reproduce. On the synthetic store (six latent types)
  k = 5, 6 and 7 are all stable and the elbow is sharpest at 6 for every seed and size tried.
- ``"stability"``: the largest k whose stability is at least the threshold and within
  ``tolerance`` (0.02) of the most stable k; when none reaches the threshold, the most stable k.
- ``"silhouette"``: the k with the highest silhouette.
- ``"bic"``: the k with the lowest BIC (gmm only).

Every random step is seeded from ``random_state`` and the rows arrive in a canonical order
(``CustomerClusterer`` sorts them by a hash of ``customer_id``), so the chosen k does not depend
on the order of the input rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
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
from segml.progress import track

__all__ = ["RULES", "Consensus", "choose_k", "fit_consensus", "subsamples", "sweep_k"]

RULES = ("stable_elbow", "stability", "silhouette", "bic")


@dataclass
class Consensus:
    """The best of the subsample fits at one k, with the stability of all of them."""

    labels: np.ndarray
    state: dict[str, Any]
    dispersion: float
    stability: float
    stability_std: float


def subsamples(n: int, *, count: int, fraction: float, least: int, seed: int) -> list[np.ndarray]:
    """``count`` fixed random subsets of ``range(n)`` (sorted), each of ``fraction * n`` rows
    but at least ``least`` (and at most n)."""
    rng = np.random.default_rng(seed)
    size = min(n, max(round(fraction * n), least))
    return [np.sort(rng.choice(n, size, replace=False)) for _ in range(count)]


def dispersion(Z: np.ndarray, labels: np.ndarray) -> float:
    """Within-cluster sum of squared distances to the cluster means (noise left out)."""
    total = 0.0
    for j in np.unique(labels[labels != NOISE]):
        part = Z[labels == j]
        total += float(((part - part.mean(axis=0)) ** 2).sum())
    return total


def fit_consensus(
    Z: np.ndarray,
    *,
    k: int,
    algorithm: str,
    options: dict[str, Any],
    subsets: Sequence[np.ndarray],
    random_state: int,
) -> Consensus:
    """Fit on each subset (seed ``random_state + b``), assign all of ``Z``, keep the fit with
    the lowest dispersion (polished on all of ``Z`` for k-means) and the pairwise stability."""
    labels, states = [], []
    for b, rows in enumerate(subsets):
        _, state = fit_algorithm(
            Z[rows], algorithm=algorithm, k=k, random_state=random_state + b, options=options
        )
        states.append(state)
        labels.append(assign(Z, state))
    aris = [adjusted_rand_score(a, b) for a, b in itertools.combinations(labels, 2)]
    spread = [dispersion(Z, lab) for lab in labels]
    best = int(np.argmin(spread))
    best_labels, best_state = labels[best], states[best]
    if algorithm in ("kmeans", "gmm"):
        init = best_state["centers"] if algorithm == "kmeans" else best_state["means"]
        best_labels, best_state = fit_algorithm(
            Z,
            algorithm=algorithm,
            k=k,
            random_state=random_state,
            options={**options, "init": init},
        )
    return Consensus(
        labels=best_labels,
        state=best_state,
        dispersion=dispersion(Z, best_labels),
        stability=float(np.mean(aris)) if aris else np.nan,
        stability_std=float(np.std(aris)) if aris else np.nan,
    )


def sweep_k(
    Z: np.ndarray,
    *,
    k_values: Sequence[int],
    algorithm: str,
    options: dict[str, Any],
    n_subsamples: int = 4,
    subsample: float = 0.8,
    silhouette_sample: int = 2000,
    random_state: int = 0,
) -> pd.DataFrame:
    """One row per k: stability (+ std), silhouette, calinski_harabasz, davies_bouldin,
    dispersion, elbow, bic (see the module docstring)."""
    table, _ = sweep(
        Z,
        k_values=k_values,
        algorithm=algorithm,
        options=options,
        n_subsamples=n_subsamples,
        subsample=subsample,
        silhouette_sample=silhouette_sample,
        random_state=random_state,
    )
    return table


def sweep(
    Z: np.ndarray,
    *,
    k_values: Sequence[int],
    algorithm: str,
    options: dict[str, Any],
    n_subsamples: int,
    subsample: float,
    silhouette_sample: int,
    random_state: int,
    elbow: bool = True,
) -> tuple[pd.DataFrame, dict[int, Consensus]]:
    """``sweep_k`` plus the consensus fit of every k (the estimator reuses the chosen one)."""
    ks = sorted(int(k) for k in k_values)
    top = ks[-1] + 1
    subsets = subsamples(
        len(Z),
        count=n_subsamples,
        fraction=subsample,
        least=min(len(Z), 2 * top),
        seed=random_state,
    )
    rng = np.random.default_rng(random_state)
    fits: dict[int, Consensus] = {}
    rows = []
    for k in track(ks, "k sweep", unit="k"):
        fits[k] = fit_consensus(
            Z, k=k, algorithm=algorithm, options=options, subsets=subsets, random_state=random_state
        )
        row: dict[str, Any] = {
            "k": k,
            "stability": fits[k].stability,
            "stability_std": fits[k].stability_std,
        }
        row.update(_scores(Z, fits[k].labels, rng, silhouette_sample))
        row["dispersion"] = fits[k].dispersion
        row["bic"] = fits[k].state.get("bic", np.nan)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["elbow"] = (
        _elbow(Z, table, ks, top, algorithm, options, subsets, random_state) if elbow else np.nan
    )
    return table[
        [
            "k",
            "stability",
            "stability_std",
            "silhouette",
            "calinski_harabasz",
            "davies_bouldin",
            "dispersion",
            "elbow",
            "bic",
        ]
    ], fits


def _elbow(
    Z: np.ndarray,
    table: pd.DataFrame,
    ks: list[int],
    top: int,
    algorithm: str,
    options: dict[str, Any],
    subsets: Sequence[np.ndarray],
    random_state: int,
) -> np.ndarray:
    """The Krzanowski-Lai index of each k (NaN where a neighbouring W is unknown)."""
    W = dict(zip(ks, table["dispersion"], strict=True))
    for k in (ks[0] - 1, top):
        if k == 1:
            W[1] = float(((Z - Z.mean(axis=0)) ** 2).sum())
        elif k not in W and len(Z) > k:
            W[k] = fit_consensus(
                Z,
                k=k,
                algorithm=algorithm,
                options=options,
                subsets=subsets,
                random_state=random_state,
            ).dispersion
    p = Z.shape[1]

    def diff(k: int) -> float:
        if k - 1 not in W or k not in W:
            return np.nan
        return (k - 1) ** (2 / p) * W[k - 1] - k ** (2 / p) * W[k]

    out = []
    for k in ks:
        num, den = diff(k), diff(k + 1)
        out.append(abs(num / den) if np.isfinite(num) and np.isfinite(den) and den else np.nan)
    return np.array(out)


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
    table: pd.DataFrame,
    *,
    rule: str = "stable_elbow",
    threshold: float = 0.8,
    tolerance: float = 0.02,
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
    stable = table[table["stability"] >= threshold]
    if stable.empty:
        return int(table.loc[table["stability"].idxmax(), "k"])
    if rule == "stable_elbow" and stable["elbow"].notna().any():
        return int(stable.loc[stable["elbow"].idxmax(), "k"])
    ok = stable[stable["stability"] >= best - tolerance]
    return int((ok if not ok.empty else stable)["k"].max())

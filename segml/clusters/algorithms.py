"""The clustering back-ends, each reduced to plain arrays once fitted.

A fitted back-end is a ``state`` dict of numpy arrays (centres, mixture parameters, radii), and
assignment is computed from those arrays alone, so the JSON model file that MLflow stores
assigns exactly like the estimator that wrote it.

- ``kmeans``: scikit-learn's KMeans (Lloyd). Measured against MiniBatchKMeans in
  docs/decisions.md: plain KMeans is both faster and better at this size.
- ``minibatch_kmeans``: MiniBatchKMeans, for memory-bound data.
- ``gmm``: GaussianMixture; soft membership probabilities (``predict_proba``).
- ``hdbscan``: scikit-learn's HDBSCAN, fitted on a sample (it is quadratic in the worst case);
  its noise points are the explicit "unclustered" segment (id -1). New customers join the
  nearest cluster centroid when they are within that cluster's radius (the 95th percentile of
  its members' distances), else they are unclustered too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ALGORITHMS", "NOISE", "assign", "fit_algorithm", "membership"]

ALGORITHMS = ("kmeans", "minibatch_kmeans", "gmm", "hdbscan")
NOISE = -1
_CHUNK = 200_000


def fit_algorithm(
    Z: np.ndarray, *, algorithm: str, k: int, random_state: int, options: dict[str, Any]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fit one back-end on ``Z``; returns its labels on ``Z`` (0..k-1, or -1) and its state."""
    if algorithm == "kmeans":
        from sklearn.cluster import KMeans

        init = options.get("init")
        km = KMeans(
            n_clusters=k,
            init="k-means++" if init is None else init,
            n_init=options["n_init"] if init is None else 1,
            random_state=random_state,
        ).fit(Z)
        return km.labels_.astype(np.int64), {"centers": km.cluster_centers_}
    if algorithm == "minibatch_kmeans":
        from sklearn.cluster import MiniBatchKMeans

        init = options.get("init")
        mb = MiniBatchKMeans(
            n_clusters=k,
            init="k-means++" if init is None else init,
            n_init=options["n_init"] if init is None else 1,
            batch_size=4096,
            random_state=random_state,
        ).fit(Z)
        return assign(Z, {"centers": mb.cluster_centers_}), {"centers": mb.cluster_centers_}
    if algorithm == "gmm":
        return _fit_gmm(Z, k=k, random_state=random_state, options=options)
    if algorithm == "hdbscan":
        return _fit_hdbscan(Z, random_state=random_state, options=options)
    raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}")


def _fit_gmm(
    Z: np.ndarray, *, k: int, random_state: int, options: dict[str, Any]
) -> tuple[np.ndarray, dict[str, Any]]:
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(
        n_components=k,
        covariance_type=options["covariance_type"],
        n_init=1,
        means_init=options.get("init"),
        reg_covar=1e-4,
        random_state=random_state,
    ).fit(Z)
    state = {
        "covariance_type": gm.covariance_type,
        "weights": gm.weights_,
        "means": gm.means_,
        "covariances": gm.covariances_,
        "precisions_cholesky": gm.precisions_cholesky_,
        "bic": float(gm.bic(Z)),
    }
    return gm.predict(Z).astype(np.int64), state


def _fit_hdbscan(
    Z: np.ndarray, *, random_state: int, options: dict[str, Any]
) -> tuple[np.ndarray, dict[str, Any]]:
    from sklearn.cluster import HDBSCAN

    rng = np.random.default_rng(random_state)
    n = len(Z)
    sample = (
        np.sort(rng.choice(n, options["hdbscan_sample"], replace=False))
        if (n > options["hdbscan_sample"])
        else np.arange(n)
    )
    min_size = options["min_cluster_size"] or max(10, len(sample) // 100)
    hd = HDBSCAN(min_cluster_size=min_size, store_centers="centroid", copy=True).fit(Z[sample])
    labels = hd.labels_.astype(np.int64)
    found = sorted(set(labels.tolist()) - {NOISE})
    centers = np.asarray(hd.centroids_)[: len(found)] if found else np.zeros((0, Z.shape[1]))
    radius = np.array(
        [
            np.percentile(np.linalg.norm(Z[sample][labels == j] - centers[j], axis=1), 95)
            for j in range(len(found))
        ]
    )
    state = {"centers": centers, "radius": radius}
    full = assign(Z, state)
    full[sample] = labels  # the sample keeps HDBSCAN's own verdict, noise included
    return full, state


def assign(Z: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """Labels of new rows from a fitted state alone (chunked, so 1M rows stay small)."""
    if "means" in state:
        return membership(Z, state).argmax(axis=1).astype(np.int64)
    centers = np.asarray(state["centers"], dtype=np.float64)
    out = np.empty(len(Z), dtype=np.int64)
    if len(centers) == 0:
        out.fill(NOISE)
        return out
    c2 = (centers**2).sum(axis=1)
    for lo in range(0, len(Z), _CHUNK):
        z = Z[lo : lo + _CHUNK]
        d2 = c2[None, :] - 2.0 * z @ centers.T
        best = d2.argmin(axis=1)
        out[lo : lo + _CHUNK] = best
        if "radius" in state:
            dist = np.sqrt(np.maximum(d2[np.arange(len(z)), best] + (z**2).sum(axis=1), 0.0))
            out[lo : lo + _CHUNK][dist > np.asarray(state["radius"])[best]] = NOISE
    return out


def membership(Z: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """Gaussian-mixture membership probabilities of each row (rows sum to 1)."""
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(
        n_components=len(state["weights"]), covariance_type=state["covariance_type"]
    )
    gm.weights_ = np.asarray(state["weights"], dtype=np.float64)
    gm.means_ = np.asarray(state["means"], dtype=np.float64)
    gm.covariances_ = np.asarray(state["covariances"], dtype=np.float64)
    gm.precisions_cholesky_ = np.asarray(state["precisions_cholesky"], dtype=np.float64)
    return np.vstack(
        [gm.predict_proba(Z[lo : lo + _CHUNK]) for lo in range(0, max(len(Z), 1), _CHUNK)]
    )

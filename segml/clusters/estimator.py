"""``CustomerClusterer``: data-driven customer segments with stable ids, profiles and names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, check_is_fitted

from segml.clusters.algorithms import ALGORITHMS, NOISE, assign, fit_algorithm, membership
from segml.clusters.identity import match_ids
from segml.clusters.preprocess import (
    DEFAULT_EXCLUDE,
    DEFAULT_FEATURES,
    ID_COLUMN,
    CustomerPreprocessor,
    as_pandas,
)
from segml.clusters.profiles import UNCLUSTERED, name_segments, profile_segments
from segml.clusters.quality import cluster_quality
from segml.clusters.selection import RULES, Consensus, choose_k, sweep
from segml.errors import DataError

__all__ = ["CustomerClusterer"]


class CustomerClusterer(ClusterMixin, TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Cluster the customer feature table (``segml.build_features``) into named segments.

    ``fit`` preprocesses (``CustomerPreprocessor``), picks k when ``n_clusters="auto"`` (see
    ``segml.clusters.selection``), fits the back-end, numbers the segments (largest first, or
    matched to ``previous``), names and profiles them. ``predict`` returns segment ids (-1 =
    unclustered, HDBSCAN only); ``assign`` returns ``customer_id, cluster__id, cluster__name``.
    ``quality_`` (``segml.clusters.quality``) has the silhouette and stability of the chosen k
    and the warnings a user must see: weak structure, k at the edge of ``k_range``.
    ``transform`` gives each customer's distance to every segment's centre in the preprocessed
    space (columns ``cluster__distance_<id>``, by segment id; ``set_output`` applies). A 2-d
    array (no column names) is clustered on all its columns: ``features`` and ``exclude``
    select columns of a feature table by name.

    Parameters
    ----------
    algorithm : "kmeans" (default), "minibatch_kmeans", "gmm" or "hdbscan".
    n_clusters : an int, or "auto" to choose from ``k_range`` (ignored by hdbscan).
    k_range : (smallest, largest) k to sweep, both included.
    selection_rule : "stable_elbow" (default), "stability", "silhouette" or "bic" (gmm).
    stability_threshold : the least stability (mean pairwise ARI) the rules accept.
    n_subsamples : fits per k, each on its own fixed subsample and seed (stability compares
        them; the best of them is kept).
    subsample : the fraction of the selection sample each of those fits sees.
    selection_sample : customers k is chosen and the centres are found on (a random sample
        drawn by a hash of ``customer_id``, so independent of row order; None = all). With
        kmeans, the final fit on all customers is one Lloyd run from the sample's centres.
    silhouette_sample : customers the silhouette is computed on.
    features, exclude, log_transform, clip, balance_families, pca_components : preprocessing.
    n_init : restarts of each subsample fit (k-means). covariance_type : of the mixture.
    min_cluster_size, hdbscan_sample : HDBSCAN's minimum cluster size (None = 1% of the
        sample, at least 10) and the number of customers it is fitted on.
    names : segment id -> name, overriding generated names.
    random_state : seed of every random step.
    """

    def __init__(
        self,
        *,
        algorithm: str = "kmeans",
        n_clusters: int | str = "auto",
        k_range: Sequence[int] = (3, 10),
        selection_rule: str = "stable_elbow",
        stability_threshold: float = 0.8,
        n_subsamples: int = 3,
        subsample: float = 0.8,
        selection_sample: int | None = 3000,
        silhouette_sample: int = 2000,
        features: Sequence[str] | None = DEFAULT_FEATURES,
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
        log_transform: str | Sequence[str] | None = "auto",
        clip: float | None = 5.0,
        balance_families: bool = True,
        pca_components: int | None = None,
        n_init: int = 10,
        covariance_type: str = "full",
        min_cluster_size: int | None = None,
        hdbscan_sample: int = 20_000,
        names: Mapping[int, str] | None = None,
        random_state: int = 0,
    ) -> None:
        self.algorithm = algorithm
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.selection_rule = selection_rule
        self.stability_threshold = stability_threshold
        self.n_subsamples = n_subsamples
        self.subsample = subsample
        self.selection_sample = selection_sample
        self.silhouette_sample = silhouette_sample
        self.features = features
        self.exclude = exclude
        self.log_transform = log_transform
        self.clip = clip
        self.balance_families = balance_families
        self.pca_components = pca_components
        self.n_init = n_init
        self.covariance_type = covariance_type
        self.min_cluster_size = min_cluster_size
        self.hdbscan_sample = hdbscan_sample
        self.names = names
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None, *, previous: CustomerClusterer | None = None) -> Any:
        """Fit on the feature table ``X``; with ``previous`` (last month's fitted clusterer),
        segments take the ids of the previous segments they overlap most."""
        self._check_params()
        named = hasattr(X, "columns")  # an array's columns have no names to select by
        X = self._checked(X, fitting=True)
        frame = as_pandas(X)  # an array's columns have no names to select by
        self.preprocessor_ = CustomerPreprocessor(
            features=self.features if named else None,
            exclude=self.exclude if named else (),
            log_transform=self.log_transform,
            clip=self.clip,
            balance_families=self.balance_families,
            pca_components=self.pca_components,
        )
        Z = self.preprocessor_.fit_transform(frame)
        self.feature_names_in_ = self.preprocessor_.feature_names_in_
        self.n_features_in_ = self.preprocessor_.n_features_in_ if named else frame.shape[1]
        self.dropped_features_ = self.preprocessor_.dropped_features_
        order = canonical_order(frame, Z, seed=self.random_state)
        sample = order if self.selection_sample is None else order[: self.selection_sample]
        raw, self.state_, k = self._fit_backend(Z, order, sample)
        found = int(raw.max()) + 1 if (raw != NOISE).any() else 0
        self.n_clusters_ = found if self.algorithm == "hdbscan" else k
        if previous is not None:
            self.cluster_ids_ = match_ids(raw, previous.predict(frame), n_clusters=found)
        else:
            sizes = np.bincount(raw[raw != NOISE], minlength=found)
            self.cluster_ids_ = np.argsort(np.argsort(-sizes, kind="stable"), kind="stable")
        self.labels_ = self._ids(raw)
        self.names_ = {**name_segments(frame, self.labels_), **dict(self.names or {})}
        self.profile_ = profile_segments(frame, self.labels_, names=self.names_)
        self.quality_ = cluster_quality(self)
        return self

    def _options(self, init: np.ndarray | None = None) -> dict[str, Any]:
        return {
            "n_init": self.n_init,
            "covariance_type": self.covariance_type,
            "min_cluster_size": self.min_cluster_size,
            "hdbscan_sample": self.hdbscan_sample,
            "init": init,
        }

    def _fit_backend(
        self, Z: np.ndarray, order: np.ndarray, sample: np.ndarray
    ) -> tuple[np.ndarray, dict[str, Any], int]:
        """Raw labels of all rows, the back-end state and k. Rows are visited in the
        canonical ``order``, so the result does not depend on the input's row order."""
        self.k_selection_ = None
        self.stability_: float | None = None
        self.silhouette_: float | None = None
        if self.algorithm == "hdbscan":
            labels, state = fit_algorithm(
                Z[order],
                algorithm="hdbscan",
                k=0,
                random_state=self.random_state,
                options=self._options(),
            )
            raw = np.empty_like(labels)
            raw[order] = labels
            return raw, state, 0
        Zs = Z[sample]
        fit, k = self._consensus(Zs)
        if len(sample) == len(Z):
            return assign(Z, fit.state), fit.state, k
        if self.algorithm in ("kmeans", "minibatch_kmeans", "gmm"):
            init = fit.state["means"] if self.algorithm == "gmm" else fit.state["centers"]
            raw, state = fit_algorithm(
                Z,
                algorithm=self.algorithm,
                k=k,
                random_state=self.random_state,
                options=self._options(init),
            )
            return raw, state, k
        raise AssertionError(self.algorithm)  # pragma: no cover

    def _consensus(self, Zs: np.ndarray) -> tuple[Consensus, int]:
        """The chosen k's best subsample fit (the sweep's, or one run at a fixed k)."""
        lo, hi = (
            self.k_range
            if self.n_clusters == "auto"
            else (int(self.n_clusters), int(self.n_clusters))
        )
        _check_enough(Zs, hi)
        table, fits = sweep(
            Zs,
            k_values=range(lo, hi + 1),
            algorithm=self.algorithm,
            options=self._options(),
            n_subsamples=self.n_subsamples,
            subsample=self.subsample,
            silhouette_sample=self.silhouette_sample,
            random_state=self.random_state,
            elbow=self.n_clusters == "auto",
        )
        k = hi
        if self.n_clusters == "auto":
            self.k_selection_ = table
            k = choose_k(table, rule=self.selection_rule, threshold=self.stability_threshold)
        row = table.set_index("k").loc[k]
        self.stability_, self.silhouette_ = float(row["stability"]), float(row["silhouette"])
        return fits[k], k

    def _check_params(self) -> None:
        def bad(name: str, expected: str) -> ValueError:
            value = getattr(self, name)
            return ValueError(
                f"The {name!r} parameter of CustomerClusterer must be {expected}. "
                f"Got {value!r} instead."
            )

        if self.algorithm not in ALGORITHMS:
            raise bad("algorithm", f"one of {list(ALGORITHMS)}")
        if self.n_clusters != "auto" and (
            not isinstance(self.n_clusters, int | np.integer) or self.n_clusters < 2
        ):
            raise bad("n_clusters", "an int in the range [2, inf) or 'auto'")
        k_range = list(self.k_range)
        if len(k_range) != 2 or not 2 <= k_range[0] <= k_range[1]:
            raise bad("k_range", "a pair (smallest, largest) with 2 <= smallest <= largest")
        if self.selection_rule not in RULES:
            raise bad("selection_rule", f"one of {list(RULES)}")
        if self.selection_rule == "bic" and self.algorithm != "gmm":
            raise bad("selection_rule", "'stability' or 'silhouette' unless algorithm is 'gmm'")
        if not isinstance(self.n_subsamples, int) or self.n_subsamples < 2:
            raise bad("n_subsamples", "an int in the range [2, inf)")
        if not 0 < self.subsample <= 1:
            raise bad("subsample", "a float in the range (0, 1]")
        if self.selection_sample is not None and self.selection_sample < 100:
            raise bad("selection_sample", "an int in the range [100, inf) or None")
        if not isinstance(self.n_init, int) or self.n_init < 1:
            raise bad("n_init", "an int in the range [1, inf)")

    # -- using a fitted model ----------------------------------------------------------------

    def _ids(self, raw: np.ndarray) -> np.ndarray:
        ids = np.asarray(self.cluster_ids_, dtype=np.int64)
        return np.where(raw == NOISE, NOISE, ids[np.maximum(raw, 0)])

    def predict(self, X: Any) -> np.ndarray:
        """Segment id of each customer (int; -1 = unclustered)."""
        check_is_fitted(self, "state_")
        Z = self.preprocessor_.transform(as_pandas(self._checked(X)))
        return self._ids(assign(Z, self.state_))

    @available_if(lambda self: self.algorithm == "gmm")
    def predict_proba(self, X: Any) -> np.ndarray:
        """Membership probabilities, columns in the order of ``segment_ids_`` (gmm only)."""
        check_is_fitted(self, "state_")
        proba = membership(self.preprocessor_.transform(as_pandas(self._checked(X))), self.state_)
        return proba[:, np.argsort(self.cluster_ids_)]

    @property
    def segment_ids_(self) -> list[int]:
        check_is_fitted(self, "state_")
        return sorted(int(i) for i in self.cluster_ids_)

    def assign(self, X: Any) -> pd.DataFrame:
        """``customer_id`` (when ``X`` has it), ``cluster__id`` (int) and ``cluster__name``."""
        frame = as_pandas(X)
        ids = self.predict(frame)
        out = pd.DataFrame({"cluster__id": ids})
        out["cluster__name"] = [self.names_.get(int(i), UNCLUSTERED) for i in ids]
        if ID_COLUMN in frame.columns:
            out.insert(0, ID_COLUMN, frame[ID_COLUMN].to_numpy())
        return out

    def transform(self, X: Any) -> np.ndarray:
        """Distance of each customer to each segment's centre (the preprocessed space), one
        column per segment in the order of ``segment_ids_``."""
        check_is_fitted(self, "state_")
        Z = self.preprocessor_.transform(as_pandas(self._checked(X)))
        centers = np.asarray(self.state_.get("means", self.state_.get("centers")), dtype=float)
        centers = centers.reshape(len(centers), Z.shape[1])[np.argsort(self.cluster_ids_)]
        d2 = (Z**2).sum(axis=1)[:, None] - 2.0 * Z @ centers.T + (centers**2).sum(axis=1)
        return np.sqrt(np.maximum(d2, 0.0))

    def _checked(self, X: Any, *, fitting: bool = False) -> Any:
        """A feature table as it is; an array checked as scikit-learn does (2-d, numeric, not
        sparse, missing values allowed: they are imputed) with the width seen in ``fit``."""
        if hasattr(X, "columns"):
            return X
        M = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan")
        if not fitting and M.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {M.shape[1]} features, but CustomerClusterer is expecting "
                f"{self.n_features_in_} features as input; pass the columns used in fit."
            )
        return M

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are imputed by the preprocessor
        return tags

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``cluster__distance_<segment id>``, the columns of ``transform``."""
        return np.asarray([f"cluster__distance_{i}" for i in self.segment_ids_], dtype=object)

    # -- plain-data form (JSON), read without executing code ---------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything ``predict`` needs, as JSON-ready lists and numbers (no pickle)."""
        from segml.clusters.serialize import clusterer_to_dict

        check_is_fitted(self, "state_")
        return clusterer_to_dict(self)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> CustomerClusterer:
        from segml.clusters.serialize import clusterer_from_dict

        return clusterer_from_dict(cls, payload)


def _check_enough(Z: np.ndarray, k: int) -> None:
    n = len(Z)
    if n <= k:
        raise DataError(
            f"too few customers for {k} clusters: got {n}, need at least {k + 1}. Lower "
            "clustering.n_clusters (or the top of clustering.k_range) or use more data."
        )
    distinct = int(pd.util.hash_pandas_object(pd.DataFrame(Z), index=False).nunique())
    if distinct < k:
        raise DataError(
            f"only {distinct} distinct customers (after preprocessing) among {n}, fewer than "
            f"the {k} clusters asked for; lower clustering.n_clusters or k_range."
        )


def canonical_order(frame: pd.DataFrame, Z: np.ndarray, *, seed: int) -> np.ndarray:
    """Row positions sorted by a seeded hash of ``customer_id`` (of the rounded preprocessed
    row when there is no id column): a random order that is the same whatever order the rows
    came in, so samples, subsamples and k-means++ seeding see the same customers in the same
    order and the fit does not depend on row order."""
    key = f"segml{seed:011d}"[-16:]
    if ID_COLUMN in frame.columns:
        hashed = pd.util.hash_array(frame[ID_COLUMN].to_numpy(), hash_key=key)
    else:
        hashed = pd.util.hash_pandas_object(
            pd.DataFrame(np.round(Z, 6)), index=False, hash_key=key
        ).to_numpy()
    return np.argsort(hashed, kind="stable")

"""Clustering benchmark and evidence (run once; figures go into docs/clusters.md).

    python benchmarks/clusters_bench.py speed      # 1M x ~40 fit + assign, 200k k sweep
    python benchmarks/clusters_bench.py ari        # ARI vs the synthetic latent types
    python benchmarks/clusters_bench.py retail     # Online Retail profile + k-selection plot
    python benchmarks/clusters_bench.py kmeans     # KMeans vs MiniBatchKMeans at 1M x 40

Speed data: the synthetic store's customer features (5,000 customers, the ~40 default
clustering columns) resampled to 1M / 200k rows with 5% multiplicative jitter, so the data has
the real marginals and cluster structure, not Gaussian noise.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import segml
from segml.clusters import CustomerClusterer
from segml.datasets import make_shop

ROOT = Path(__file__).resolve().parents[1]


def _synthetic(n: int, seed: int, as_of: str = "2025-01-01") -> tuple[pd.DataFrame, np.ndarray]:
    shop = make_shop(n, seed=seed)
    tables = {"orders": shop.orders, "events": shop.events, "customers": shop.customers}
    features = segml.build_features(tables, as_of=as_of)
    truth = shop.truth.set_index("customer_id").loc[features["customer_id"], "latent_type"]
    return features, truth.to_numpy()


def _scaled(n_rows: int) -> pd.DataFrame:
    base, _ = _synthetic(5000, 0)
    cols = list(CustomerClusterer(n_clusters=6).fit(base).feature_names_in_)
    rng = np.random.default_rng(0)
    values = base[cols].to_numpy()[rng.integers(0, len(base), n_rows)]
    values = values * rng.normal(1.0, 0.05, values.shape)
    frame = pd.DataFrame(values, columns=cols)
    frame.insert(0, "customer_id", np.arange(n_rows).astype(str))
    return frame


def speed() -> None:
    big = _scaled(1_000_000)
    print(f"data: {big.shape[0]:,} x {big.shape[1] - 1} features")
    t = time.perf_counter()
    model = CustomerClusterer().fit(big)
    fit = time.perf_counter() - t
    t = time.perf_counter()
    model.predict(big)
    assign = time.perf_counter() - t
    print(f"fit 1M, default settings (auto k on a 20k sample, then all): {fit:.1f} s, "
          f"k={model.n_clusters_}")  # fmt: skip
    print(f"assign 1M: {assign:.1f} s")
    mid = big.iloc[:200_000]
    t = time.perf_counter()
    full = CustomerClusterer(selection_sample=None, n_bootstrap=3).fit(mid)
    print(f"k sweep 2..10 with stability (3 bootstraps) on all 200k: "
          f"{time.perf_counter() - t:.1f} s, k={full.n_clusters_}")  # fmt: skip
    print(full.k_selection_.round(3).to_string(index=False))


def kmeans() -> None:
    big = _scaled(1_000_000)
    for algorithm in ("kmeans", "minibatch_kmeans"):
        t = time.perf_counter()
        m = CustomerClusterer(algorithm=algorithm, n_clusters=6, selection_sample=None).fit(big)
        seconds = time.perf_counter() - t
        Z, centers = m.preprocessor_.transform(big), m.state_["centers"]
        inertia = sum(float(((Z[m.labels_ == j] - c) ** 2).sum())
                      for j, c in zip(m.cluster_ids_, centers, strict=True))  # fmt: skip
        print(f"{algorithm}: fit 1M x {m.n_features_in_} k=6 in {seconds:.1f} s, "
              f"inertia {inertia:,.0f}")  # fmt: skip


def ari() -> None:
    from sklearn.metrics import adjusted_rand_score

    for n, seed in ((2000, 0), (5000, 1), (2000, 3)):
        features, truth = _synthetic(n, seed)
        for algorithm in ("kmeans",):
            t = time.perf_counter()
            m = CustomerClusterer(algorithm=algorithm).fit(features)
            score = adjusted_rand_score(truth, m.labels_)
            print(f"make_shop({n}, seed={seed}) {algorithm} defaults: k={m.n_clusters_} "
                  f"ARI={score:.3f} ({time.perf_counter() - t:.0f} s)", flush=True)  # fmt: skip


def retail() -> None:
    from segml.clusters.plots import plot_k_selection
    from segml.clusters.profiles import format_profile
    from segml.datasets import load_tables
    from segml.schema import prepare

    cfg = segml.load_config(ROOT / "configs" / "online_retail.yaml")
    shop = prepare(load_tables(cfg), config=cfg)
    features = segml.build_features(shop, as_of="2011-12-10", windows_days=(30, 90, 180, 365))
    model = CustomerClusterer().fit(features)
    print(f"{len(features):,} customers, {model.n_features_in_} features, k={model.n_clusters_}")
    print(model.k_selection_.round(3).to_string(index=False))
    print(format_profile(model.profile_))
    fig = plot_k_selection(model.k_selection_, chosen=model.n_clusters_,
                           title=f"Online Retail, as of 2011-12-10: choosing k "
                                 f"(chosen {model.n_clusters_}, dashed)")  # fmt: skip
    out = ROOT / "docs" / "img" / "clusters_k_selection_online_retail.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"plot: {out}")


if __name__ == "__main__":
    {"speed": speed, "ari": ari, "retail": retail, "kmeans": kmeans}[sys.argv[1]]()

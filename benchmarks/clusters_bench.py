"""Clustering benchmark and evidence (run once; figures go into docs/clusters.md).

    python benchmarks/clusters_bench.py speed      # 1M x ~40 fit + assign, 200k k sweep
    python benchmarks/clusters_bench.py ari        # ARI vs the synthetic latent types
    python benchmarks/clusters_bench.py heldout [--fast] [--runs N] [--cache DIR] [--only A,B]
                                   # both simulators on held-out seeds: defaults vs candidates,
                                   # intervals over seeds (--cache keeps the feature tables)
    python benchmarks/clusters_bench.py generalise # both simulators: k, ARI, silhouette, ...
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
from typing import Any

import numpy as np
import pandas as pd

import segml
from segml.clusters import CustomerClusterer
from segml.datasets import make_second_store, make_shop
from segml.features.family import registered

ROOT = Path(__file__).resolve().parents[1]


def _synthetic(
    n: int, seed: int, as_of: str = "2025-01-01", *, maker: Any = make_shop
) -> tuple[pd.DataFrame, np.ndarray]:
    """Features (every family) and true types of a simulated store; with ``--cache DIR`` they
    are kept in DIR as Parquet and read back on the next run (the simulation and the feature
    build dominate a heldout run)."""
    cache = Path(sys.argv[sys.argv.index("--cache") + 1]) if "--cache" in sys.argv else None
    path = cache / f"{maker.__name__}_{n}_{seed}_{as_of}.parquet" if cache else None
    if path is not None and path.exists():
        frame = pd.read_parquet(path)
        return frame.drop(columns="_truth"), frame["_truth"].to_numpy()
    features, truth = _simulate(n, seed, as_of, maker=maker)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        features.assign(_truth=truth).to_parquet(path)
    return features, truth


def _simulate(n: int, seed: int, as_of: str, *, maker: Any) -> tuple[pd.DataFrame, np.ndarray]:
    shop = maker(n, seed=seed)
    tables = {"orders": shop.orders, "events": shop.events, "customers": shop.customers}
    # every registered family, the opt-in ones too, so a candidate can read their columns
    families = [f.name for f in registered()]
    features = segml.build_features(tables, as_of=as_of, families=families)
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
    """Default fit and assignment of 1M customers, each against a same-process baseline (a plain
    scikit-learn KMeans, n_init=1, on the preprocessed matrix; argmin over the centres), since
    the shared machine's load changes absolute times by 2-3x; then the k sweep on 200k."""
    from sklearn.cluster import KMeans

    big = _scaled(1_000_000)
    print(f"data: {big.shape[0]:,} x {big.shape[1] - 1} features", flush=True)
    t = time.perf_counter()
    model = CustomerClusterer().fit(big)
    fit = time.perf_counter() - t
    t = time.perf_counter()
    model.predict(big)
    assign = time.perf_counter() - t
    Z = model.preprocessor_.transform(big)
    t = time.perf_counter()
    KMeans(n_clusters=model.n_clusters_, n_init=1, random_state=0).fit(Z)
    base = time.perf_counter() - t
    print(
        f"fit 1M, default settings: {fit:.1f} s, k={model.n_clusters_} "
        f"(baseline KMeans n_init=1 on the same 1M matrix: {base:.1f} s; ratio {fit / base:.1f})"
    )
    print(f"assign 1M (preprocessing included): {assign:.1f} s (ratio {assign / base:.1f})")
    mid = big.iloc[:200_000]
    t = time.perf_counter()
    full = CustomerClusterer(selection_sample=None).fit(mid)
    sweep = time.perf_counter() - t
    t = time.perf_counter()
    KMeans(n_clusters=full.n_clusters_, n_init=1, random_state=0).fit(
        full.preprocessor_.transform(mid)
    )
    base = time.perf_counter() - t
    print(
        f"k sweep 3..10 with stability on all 200k (selection_sample=None): {sweep:.1f} s, "
        f"k={full.n_clusters_} (baseline KMeans on 200k: {base:.2f} s; ratio {sweep / base:.0f})"
    )
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
    """Default settings, rows shuffled, three seeds per store: k chosen and ARI."""
    from sklearn.metrics import adjusted_rand_score

    scores = []
    for n, seed in ((1500, 0), (2000, 0), (2000, 3), (3000, 2), (5000, 1), (10000, 4)):
        features, truth = _synthetic(n, seed)
        order = np.random.default_rng(seed + 7).permutation(len(features))
        features, truth = features.iloc[order].reset_index(drop=True), truth[order]
        for random_state in (0, 1, 2):
            t = time.perf_counter()
            m = CustomerClusterer(random_state=random_state).fit(features)
            score = adjusted_rand_score(truth, m.labels_)
            scores.append(score)
            print(f"make_shop({n}, seed={seed}) random_state={random_state}: k={m.n_clusters_} "
                  f"ARI={score:.3f} ({time.perf_counter() - t:.1f} s)", flush=True)  # fmt: skip
    print(f"ARI min {min(scores):.3f}, mean {np.mean(scores):.3f}, max {max(scores):.3f}")


HELDOUT = tuple((n, seed) for seed in (20, 21, 22, 23, 24) for n in (1500, 3000, 5000))
_DEFAULT = CustomerClusterer().features
CANDIDATES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "before browse": {"features": tuple(p for p in _DEFAULT if p != "browse__*")},
    "+ basket, timing": {"features": (*_DEFAULT, "basket__*", "timing__*")},
    "+ consent flags": {"features": (*_DEFAULT, "attr__*_consent")},
}


def _interval(values: list[float]) -> str:
    """Mean and a 95% t-interval over the runs (seeds x sizes)."""
    from scipy import stats

    v = np.asarray(values)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return f"{v.mean():.3f} [{v.mean() - half:.3f}, {v.mean() + half:.3f}] (min {v.min():.3f})"


def _at_six(features: pd.DataFrame, truth: np.ndarray, params: dict[str, Any]) -> float:
    """ARI of plain KMeans(6, n_init=10) on the candidate's preprocessed matrix."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from segml.clusters import CustomerPreprocessor

    Z = CustomerPreprocessor(**params).fit_transform(features)
    return float(adjusted_rand_score(truth, KMeans(6, n_init=10, random_state=0).fit_predict(Z)))


def heldout() -> None:
    """Seeds 20-24 at 1,500, 3,000 and 5,000 customers of both simulators (never used to choose
    a setting), rows shuffled: per candidate the ARI at k = 6 and, unless ``--fast``, the ARI
    with k chosen by the default rule; then mean [95% interval] over the runs per simulator.
    ``--runs N``: only the first N (size, seed) pairs (seed-major: 20 at each size, then 21);
    ``--only A,B``: only the candidates named (``defaults`` must be one of them)."""
    from sklearn.metrics import adjusted_rand_score

    fast = "--fast" in sys.argv
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else len(HELDOUT)
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
    candidates = {k: v for k, v in CANDIDATES.items() if only is None or k in only}
    scores: dict[tuple[str, str, str], list[float]] = {}
    for n, seed in HELDOUT[:runs]:
        for name, maker in (("second_store", make_second_store), ("make_shop", make_shop)):
            features, truth = _synthetic(n, seed, maker=maker)
            order = np.random.default_rng(seed + 7).permutation(len(features))
            features, truth = features.iloc[order].reset_index(drop=True), truth[order]
            for label, params in candidates.items():
                six = _at_six(features, truth, params)
                scores.setdefault((name, label, "k=6"), []).append(six)
                line = f"{name}({n}, seed={seed}) {label}: ARI at k=6 {six:.3f}"
                if not fast:
                    m = CustomerClusterer(**params).fit(features)
                    auto = adjusted_rand_score(truth, m.labels_)
                    scores.setdefault((name, label, "auto k"), []).append(auto)
                    line += f", auto k={m.n_clusters_} ARI {auto:.3f}"
                print(line, flush=True)
    for (name, label, how), values in sorted(scores.items()):
        print(f"{name:13s} {label:16s} {how:6s} ARI {_interval(values)} over {len(values)} runs")
        base = scores[(name, "defaults", how)]
        if label != "defaults" and len(values) > 1:
            diff = [a - b for a, b in zip(values, base, strict=True)]
            print(f"{'':13s} {label:16s} {how:6s} minus defaults (paired): {_interval(diff)}, "
                  f"better in {sum(d > 0 for d in diff)} of {len(diff)}")  # fmt: skip


def _ceilings(features: pd.DataFrame, truth: np.ndarray) -> tuple[float, float]:
    """What the default features allow at best: the ARI of assigning every customer to the
    nearest *true* type mean (k-means with perfect centres), and of a 3-fold cross-validated
    logistic regression that is told the types (a supervised ceiling)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import adjusted_rand_score
    from sklearn.model_selection import cross_val_predict

    from segml.clusters import CustomerPreprocessor

    Z = CustomerPreprocessor().fit_transform(features)
    types = np.unique(truth)
    centres = np.stack([Z[truth == t].mean(axis=0) for t in types])
    nearest = ((Z[:, None, :] - centres[None]) ** 2).sum(axis=-1).argmin(axis=1)
    told = cross_val_predict(LogisticRegression(max_iter=3000), Z, truth, cv=3)
    return adjusted_rand_score(truth, nearest), adjusted_rand_score(truth, told)


def generalise() -> None:
    """Default settings on both simulators (rows shuffled): k chosen, ARI, ARI at k = 6,
    silhouette and stability of the chosen k, the quality flags, and the two ceilings."""
    from sklearn.metrics import adjusted_rand_score

    runs = [("make_shop", make_shop, n, seed) for n, seed in ((2000, 0), (2000, 3))]
    runs += [("second_store", make_second_store, n, seed)
             for n, seed in ((2000, 0), (2000, 1), (2000, 10), (2000, 11))]  # fmt: skip
    scores: dict[str, list[float]] = {}
    for name, maker, n, seed in runs:
        features, truth = _synthetic(n, seed, maker=maker)
        order = np.random.default_rng(seed + 7).permutation(len(features))
        features, truth = features.iloc[order].reset_index(drop=True), truth[order]
        t = time.perf_counter()
        m = CustomerClusterer().fit(features)
        seconds = time.perf_counter() - t
        score = adjusted_rand_score(truth, m.labels_)
        fixed = adjusted_rand_score(truth, CustomerClusterer(n_clusters=6).fit(features).labels_)
        nearest, told = _ceilings(features, truth)
        q = m.quality_
        scores.setdefault(name, []).append(score)
        print(f"{name}({n}, seed={seed}): k={m.n_clusters_} ARI={score:.3f} (k=6: {fixed:.3f}; "
              f"true-centre {nearest:.3f}, supervised {told:.3f}) silhouette={q['silhouette']:.3f} "
              f"stability={q['stability']:.3f} edge={q['k_at_edge']} weak={q['weak_structure']} "
              f"({seconds:.1f} s)", flush=True)  # fmt: skip
    for name, values in scores.items():
        print(f"{name}: ARI min {min(values):.3f}, mean {np.mean(values):.3f}, "
              f"max {max(values):.3f}")  # fmt: skip


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
    print(f"quality: {model.quality_}")
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
    commands = {"speed": speed, "ari": ari, "retail": retail, "kmeans": kmeans,
                "generalise": generalise, "heldout": heldout}  # fmt: skip
    commands[sys.argv[1]]()

"""Cluster quality: silhouette and stability of the chosen k, the weak-structure flag and the
k-at-the-edge warning, in the model, the job's notes, the saved model and the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segml.clusters import CustomerClusterer
from segml.clusters.job import cluster_customers, summary_metrics
from segml.clusters.quality import WEAK_SILHOUETTE, cluster_quality, null_silhouette
from segml.report.segments import quality_block


def _blobs(n_blobs: int, *, n: int = 300, dims: int = 4, spread: float = 0.3) -> pd.DataFrame:
    """``n_blobs`` well separated groups (or pure noise when ``n_blobs`` is 1), ids shuffled."""
    rng = np.random.default_rng(n_blobs)
    centres = rng.normal(0, 5, (n_blobs, dims))
    X = centres[rng.integers(0, n_blobs, n)] + rng.normal(0, spread, (n, dims))
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(dims)])
    frame.insert(0, "customer_id", [f"C{i:04d}" for i in rng.permutation(n)])
    return frame


FAST = {"features": None, "n_init": 2, "n_subsamples": 2, "log_transform": None}


def test_clear_groups_inside_the_range_give_no_warning() -> None:
    model = CustomerClusterer(k_range=(2, 6), **FAST).fit(_blobs(4))
    q = model.quality_
    assert (q["k"], q["k_range"], q["k_at_edge"], q["weak_structure"]) == (4, [2, 6], None, False)
    assert q["silhouette"] > 0.5 and q["stability"] > 0.95
    assert q["warnings"] == []


@pytest.mark.parametrize(
    ("n_blobs", "k_range", "edge"), [(6, (2, 3), "largest"), (2, (2, 5), "smallest")]
)
def test_k_at_the_edge_of_the_range_is_flagged(n_blobs: int, k_range, edge: str) -> None:
    model = CustomerClusterer(k_range=k_range, **FAST).fit(_blobs(n_blobs))
    q = model.quality_
    assert q["k_at_edge"] == edge
    assert any(f"the {edge} k searched" in w and "widen clustering.k_range" in w
               for w in q["warnings"])  # fmt: skip
    assert summary_metrics(model)["k_at_edge"] == 1.0


def test_a_fixed_k_is_never_at_an_edge() -> None:
    model = CustomerClusterer(n_clusters=3, **FAST).fit(_blobs(6))
    assert model.quality_["k_at_edge"] is None
    assert model.quality_["stability"] == pytest.approx(model.stability_)


def test_noise_is_weak_structure_and_the_job_says_so() -> None:
    noise = _blobs(1, dims=30, spread=1.0)
    result = cluster_customers(noise, params={"k_range": (3, 5), **FAST}, explain=False)
    q = result.model.quality_
    assert q["weak_structure"] and q["silhouette"] < WEAK_SILHOUETTE
    assert any(note.startswith("weak structure: silhouette") for note in result.notes)
    assert summary_metrics(result.model)["weak_structure"] == 1.0


def test_unstable_partitions_are_weak_structure() -> None:
    model = CustomerClusterer(n_clusters=3, **FAST).fit(_blobs(1, dims=30, spread=1.0))
    model.stability_, model.silhouette_ = 0.4, 0.3  # as if the subsample fits disagreed
    q = cluster_quality(model)
    assert q["weak_structure"]
    assert "stability 0.40 < 0.6" in q["warnings"][0]


def test_null_silhouette_is_below_the_line_even_for_data_with_groups() -> None:
    noise = _blobs(1, dims=30, spread=1.0).drop(columns="customer_id").to_numpy()
    groups = _blobs(4, dims=30).drop(columns="customer_id").to_numpy()
    assert null_silhouette(noise, k=4) < WEAK_SILHOUETTE
    assert null_silhouette(groups, k=4) < WEAK_SILHOUETTE  # permuting columns destroys groups
    fitted = CustomerClusterer(n_clusters=4, **FAST).fit(_blobs(4, dims=30))
    assert fitted.quality_["silhouette"] > 5 * WEAK_SILHOUETTE


def test_quality_survives_the_json_form() -> None:
    model = CustomerClusterer(k_range=(2, 3), **FAST).fit(_blobs(6))
    again = CustomerClusterer.from_dict(model.to_dict())
    assert again.quality_ == model.quality_


def test_report_block_shows_numbers_and_warnings_in_red() -> None:
    model = CustomerClusterer(k_range=(2, 3), **FAST).fit(_blobs(6))
    html = quality_block(model.quality_)
    assert "Cluster quality" in html and "searched 2..3" in html
    assert '<p class="lose">Warning: k = 3 is the largest k searched' in html
    calm = quality_block(CustomerClusterer(k_range=(2, 6), **FAST).fit(_blobs(4)).quality_)
    assert "No warning" in calm and 'class="lose"' not in calm
    assert "no clusters/quality.json" in quality_block(None)


def test_the_run_summary_names_k_quality_and_flags() -> None:
    from segml.cli import _clusters_line

    edge = CustomerClusterer(k_range=(2, 3), **FAST).fit(_blobs(6)).quality_
    line = _clusters_line(edge)
    assert line.startswith("clusters:  k = 3 (searched 2..3), silhouette 0.")
    assert line.endswith("; k at the largest edge")
    weak = {**edge, "k_at_edge": None, "weak_structure": True, "silhouette": None}
    assert _clusters_line(weak).endswith("silhouette n/a, stability 1.000; WEAK STRUCTURE")
    calm = CustomerClusterer(k_range=(2, 6), **FAST).fit(_blobs(4)).quality_
    assert ";" not in _clusters_line(calm)

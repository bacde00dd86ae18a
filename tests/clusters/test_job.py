"""The clustering job: logged to MLflow, registered with the champion alias, reloaded without
pickle, refits matched to the champion; and the `segml cluster` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segml.cli import main
from segml.clusters.job import (
    ALIAS,
    check_clusterer_point_in_time,
    cluster_customers,
    load_clusterer,
)
from segml.datasets import make_shop
from segml.errors import FutureModelError
from segml.tracking import default_tracking_uri, find_model, load_pyfunc, load_run_json

PARAMS = {"n_clusters": 4, "n_init": 3, "n_subsamples": 2}


def test_job_logs_registers_and_refits_matched(synthetic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    features, _ = synthetic
    uri = default_tracking_uri(tmp_path / "runs")
    first = cluster_customers(features, params=PARAMS, explain=True, tracking_uri=uri,
                              registry_name="clusters-test", as_of="2025-01-01")  # fmt: skip
    ref = find_model(tracking_uri=uri, name="clusters-test", alias=ALIAS)
    assert ref is not None and ref.version == first.model_ref.version == "1"
    run = mlflow.MlflowClient(tracking_uri=uri).get_run(ref.run_id)
    assert run.data.metrics["n_clusters"] == 4 and "stability" in run.data.metrics
    assert run.data.params["n_clusters"] == "4" and run.data.tags["segml.kind"] == "clusterer"
    client = mlflow.MlflowClient(tracking_uri=uri)
    logged = {a.path for a in client.list_artifacts(ref.run_id, "clusters")}
    assert {"clusters/profile.json", "clusters/explanations.json",
            "clusters/explanations.png"} <= logged  # fmt: skip

    # the scoring job's call: the registered champion assigns exactly like the fitted model
    loaded = load_clusterer(tracking_uri=uri, name="clusters-test")
    out = loaded.assign(features)
    assert list(out.columns) == ["customer_id", "cluster__id", "cluster__name"]
    assert (out["cluster__id"].to_numpy() == first.model.labels_).all()
    pyfunc, _ = load_pyfunc(tracking_uri=uri, name="clusters-test", alias=ALIAS)
    assert pyfunc.predict(features.head(50)).equals(out.head(50))

    later = features.sample(frac=0.9, random_state=3).reset_index(drop=True)
    second = cluster_customers(later, params={**PARAMS, "random_state": 4}, explain=False,
                               tracking_uri=uri, registry_name="clusters-test")  # fmt: skip
    assert second.previous_version == "1" and second.model_ref.version == "2"
    assert find_model(tracking_uri=uri, name="clusters-test", alias=ALIAS).version == "2"
    new_ids, old_ids = second.model.predict(later), first.model.predict(later)
    agree = np.mean(new_ids == old_ids)
    # ids matched to the champion, not renumbered: no relabelling agrees better (k = 4 merges
    # make_shop's six types, so the refit on another 90% reproduces 84-95% of the partition)
    from scipy.optimize import linear_sum_assignment

    table = pd.crosstab(new_ids, old_ids).to_numpy()
    rows, cols = linear_sum_assignment(-table)
    assert agree == pytest.approx(table[rows, cols].sum() / len(later)) and agree > 0.8
    assert second.transitions is not None
    assert second.transitions.loc["total", "total"] == len(later)


def test_backfill_guard_refuses_a_clusterer_fitted_after_as_of(synthetic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    features = synthetic[0].head(400)
    uri = default_tracking_uri(tmp_path / "runs")
    check = {"tracking_uri": uri, "name": "clusters-test"}
    assert check_clusterer_point_in_time(**check, as_of="2024-06-01") == []  # none registered
    params = {**PARAMS, "n_clusters": 3}
    cluster_customers(features, params=params, explain=False, tracking_uri=uri,
                      registry_name="clusters-test", as_of="2025-01-01")  # fmt: skip
    assert check_clusterer_point_in_time(**check, as_of="2025-01-01") == []  # same cutoff: fine
    assert check_clusterer_point_in_time(**check, as_of="2025-03-01") == []
    with pytest.raises(FutureModelError, match=r"clusters-test version 1 \(features built as "
                       r"of 2025-01-01\), after the as-of 2024-12-01") as err:  # fmt: skip
        check_clusterer_point_in_time(**check, as_of="2024-12-01")
    assert err.value.exit_code == 9
    found = check_clusterer_point_in_time(**check, as_of="2024-12-01", allow=True)
    assert [(f["name"], f["version"], f["data_end"][:10]) for f in found] == [
        ("clusters-test", "1", "2025-01-01")
    ]
    # no cutoff recorded (fitted from Python without as_of): the registration time bounds it
    cluster_customers(features, params=params, explain=False, tracking_uri=uri,
                      registry_name="clusters-test")  # fmt: skip
    with pytest.raises(FutureModelError, match="version 2 \\(no feature cutoff recorded; regis"):
        check_clusterer_point_in_time(**check, as_of="2025-03-01")


@pytest.fixture(scope="module")
def shop_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cluster-cli")
    shop = make_shop(1500, seed=5)
    for name in ("orders", "events", "customers"):
        getattr(shop, name).to_csv(folder / f"{name}.csv", index=False)
    config = folder / "shop.yaml"
    config.write_text(
        "data:\n"
        + "".join(f"  {t}: {{path: {t}.csv}}\n" for t in ("orders", "events", "customers"))
        + "clustering: {k_range: [3, 7], n_init: 4, explain: false, names: {0: Core}}\n"
        + "output_dir: runs\n"
    )
    return config


def test_cluster_command(shop_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "--config", str(shop_config), "--as-of", "2024-10-01"]) == 0
    printed = capsys.readouterr().out
    assert "(kmeans, chosen by stable_elbow)" in printed
    assert "stability" in printed and "elbow" in printed  # the k-selection table
    assert "all customers" in printed and " Core " in printed  # profile, config name override
    assert "registered segml-clusters version 1 (alias champion)" in printed
    assert '"weak_structure": 0.0' in printed and '"k_at_edge"' in printed
    uri = default_tracking_uri(shop_config.parent / "runs")
    model = load_clusterer(tracking_uri=uri, name="segml-clusters")
    assert model.names_[0] == "Core"
    ref = find_model(tracking_uri=uri, name="segml-clusters", alias=ALIAS)
    quality = load_run_json(tracking_uri=uri, run_id=ref.run_id, path="clusters/quality.json")
    assert quality == model.quality_ and quality["k_range"] == [3, 7]
    edge = quality["k_at_edge"] is not None
    assert any("the best k may lie outside" in line for line in printed.splitlines()) == edge


def test_cluster_command_errors(shop_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "--config", str(shop_config)]) == 2  # no cutoff: ConfigError
    assert "no cutoff: pass --as-of DATE" in capsys.readouterr().err
    bad = shop_config.with_name("bad.yaml")
    bad.write_text(shop_config.read_text().replace("n_init: 4", "n_inits: 4"))
    assert main(["cluster", "--config", str(bad), "--as-of", "2024-10-01"]) == 2
    assert "n_inits" in capsys.readouterr().err

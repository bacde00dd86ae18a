"""A small scored store with two runs a month apart: trained models, a registered clusterer,
rule segments; the report reads what these jobs wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from segml import tracking
from segml.cli import main
from segml.datasets import make_shop

ROOT = Path(__file__).resolve().parents[2]
RUNS = ("2024-10-01", "2024-11-01")


@pytest.fixture(scope="session")
def scored_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<folder>/runs/scores/as_of=2024-10-01`` and ``as_of=2024-11-01``, store in runs/."""
    folder = tmp_path_factory.mktemp("report-shop")
    shop = make_shop(1000, seed=11)
    for name in ("orders", "events", "customers"):
        getattr(shop, name).to_csv(folder / f"{name}.csv", index=False)
    config = folder / "shop.yaml"
    config.write_text("\n".join([
        "data:", *[f"  {t}: {{path: {t}.csv}}" for t in ("orders", "events", "customers")],
        'training: {now: "2024-10-01", cutoffs: 2, lightgbm: {n_estimators: 25}}',
        "scoring: {fail_on_drift: false}",
        f"segments: {ROOT / 'configs' / 'segments.yaml'}",
        "output_dir: runs",
    ]) + "\n")  # fmt: skip
    assert main(["train", "--config", str(config)]) == 0
    uri = tracking.default_tracking_uri(folder / "runs")
    for target in ("purchase", "lapse", "value"):  # scoring needs a champion for each target
        if tracking.find_model(tracking_uri=uri, name=f"segml-{target}", alias="champion") is None:
            tracking.set_alias(tracking_uri=uri, name=f"segml-{target}", alias="champion",
                               version="1")  # fmt: skip
    _cluster(config, uri)
    for as_of in RUNS:
        argv = ["score", "--config", str(config), "--as-of", as_of,
                "--out", str(folder / "runs" / "scores")]  # fmt: skip
        assert main(argv) == 0
    return folder


def _cluster(config: Path, uri: str) -> None:
    """Register a 3-segment clusterer (what `segml cluster` does, with a fixed k for speed)."""
    from segml.clusters.job import cluster_customers
    from segml.config import load_config
    from segml.datasets import load_tables
    from segml.jobs import build_feature_table
    from segml.schema import prepare

    cfg = load_config(config)
    features, _ = build_feature_table(prepare(load_tables(cfg), config=cfg), cfg, as_of=RUNS[0])
    cluster_customers(features, params={"n_clusters": 3}, explain=False, tracking_uri=uri,
                      as_of=RUNS[0])  # fmt: skip

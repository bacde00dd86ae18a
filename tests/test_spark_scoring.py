"""`segml score --engine spark` gives the default engine's scores, deciles and clusters."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from segml.cli import main
from tests.jobs.fixtures import shop_config, trained_shop

pytest.importorskip("pyspark", reason="install the spark extra: pip install 'segml[spark]'")
pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]
pytest_plugins = ["tests.jobs.fixtures"]  # the spark fixture
AS_OF = "2024-11-01"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny models (and a clusterer) trained once into a temporary MLflow store."""
    return trained_shop(
        tmp_path_factory.mktemp("spark-shop"),
        'training: {now: "2024-10-01", cutoffs: 2, lightgbm: {n_estimators: 30}}',
        "scoring: {missing_model: skip, reasons_for: all, reasons_top_k: 2}",
        customers=800,
        seed=5,
    )


def _read(path: Path) -> pl.DataFrame:
    files = [path] if path.is_file() else sorted(path.glob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]).sort("customer_id")


def test_spark_engine_gives_the_default_engines_scores(spark, trained: Path) -> None:
    config = str(trained / "shop.yaml")
    frames = {}
    for engine in ("polars", "spark"):
        out = trained / f"scores-{engine}"
        argv = ["score", "--config", config, "--as-of", AS_OF, "--out", str(out)]
        assert main([*argv, "--engine", engine]) == 0
        frames[engine] = _read(out / f"as_of={AS_OF}" / "scores.parquet")
    local, remote = frames["polars"], frames["spark"]
    assert remote.columns == local.columns
    assert remote["customer_id"].to_list() == local["customer_id"].to_list()
    assert local.height > 500
    scores = [c for c in local.columns if c.startswith("score__")]
    assert scores and "cluster__id" in local.columns
    for col in scores:
        diff = (remote[col] - local[col]).abs().max()
        assert diff is not None and diff <= 1e-9, col
    same = ["customer_id", "cluster__id", "cluster__name"]
    same += [c for c in local.columns if c.startswith(("decile__", "reasons__"))]
    assert remote.select(same).equals(local.select(same))
    # features agree to the bit but for float sums; Gamma-Gamma's fit (btyd__expected_value_*)
    # then lands within about 2e-6 relative of the default engine's
    features = [c for c in local.columns if c.startswith(("rfm__", "btyd__", "clv__"))]
    assert "clv__btyd_12m" in features and remote["churn__tier"].equals(local["churn__tier"])
    for col in features:
        a, b = local[col].cast(pl.Float64), remote[col].cast(pl.Float64)
        close = (a - b).abs() <= 1e-5 * a.abs() + 1e-9
        assert close.fill_null(True).all() and a.is_null().equals(b.is_null()), col


def test_spark_engine_with_a_rule_set_gives_the_default_engines_segments(
    spark, trained: Path
) -> None:
    """With a rule set (evaluated on the driver over the columns it reads, docs/spark.md) and
    reason codes for the segmented customers only (on the executors): the same members,
    audiences and reason codes; the scored table stays on Spark (part files, customer order)."""
    config = shop_config(
        trained,
        f"segments: {ROOT / 'configs' / 'segments.yaml'}",
        "scoring: {missing_model: skip, reasons_for: segmented, reasons_top_k: 2}",
        name="rules.yaml",
    )
    parts = {}
    for engine in ("polars", "spark"):
        out = trained / f"rules-{engine}"
        argv = ["score", "--config", str(config), "--as-of", AS_OF, "--out", str(out)]
        assert main([*argv, "--engine", engine]) == 0
        parts[engine] = out / f"as_of={AS_OF}"
    local, remote = parts["polars"], parts["spark"]
    members = [pl.read_parquet(p / "segments" / "members.parquet") for p in (local, remote)]
    assert members[0].height > 500 and members[1].equals(members[0])
    files = sorted(f.relative_to(local) for f in (local / "segments").rglob("*.parquet"))
    assert files == sorted(f.relative_to(remote) for f in (remote / "segments").rglob("*.parquet"))
    reasons = [c for c in _read(local / "scores.parquet").columns if c.startswith("reasons__")]
    assert reasons
    got = [_read(p / "scores.parquet").select("customer_id", *reasons) for p in (local, remote)]
    assert got[1].equals(got[0])
    parts = sorted((remote / "scores.parquet").glob("*.parquet"))
    assert (remote / "scores.parquet").is_dir() and parts
    assert pl.concat([pl.read_parquet(f, columns=["customer_id"]) for f in parts])[
        "customer_id"
    ].is_sorted()

"""`segml score`: models from the registry, one partition per date, documented exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from segml.cli import main
from segml.datasets import make_shop

pytestmark = pytest.mark.xdist_group("score-job")
ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2024-11-01"


def _config(folder: Path, **extra: str) -> Path:
    lines = [
        "data:",
        *[f"  {t}: {{path: {t}.csv}}" for t in ("orders", "events", "customers")],
        'training: {now: "2024-10-01", cutoffs: 2, lightgbm: {n_estimators: 40}}',
        f"segments: {ROOT / 'configs' / 'segments.yaml'}",
        "output_dir: runs",
        *[f"{k}: {v}" for k, v in extra.items()],
    ]
    path = folder / "shop.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shop")
    shop = make_shop(1500, seed=11)
    for name in ("orders", "events", "customers"):
        getattr(shop, name).to_csv(folder / f"{name}.csv", index=False)
    assert main(["train", "--config", str(_config(folder))]) == 0
    return folder


def test_score_writes_partition_and_reruns_identically(trained: Path) -> None:
    out = trained / "scores"
    argv = ["score", "--config", str(trained / "shop.yaml"), "--as-of", AS_OF, "--out", str(out)]
    assert main(argv) == 0
    part = out / f"as_of={AS_OF}"
    names = sorted(p.name for p in part.iterdir())
    assert names == ["_manifest.json", "drift.csv", "scores.parquet", "segments"]
    scores = pl.read_parquet(part / "scores.parquet")
    assert scores["customer_id"].n_unique() == scores.height > 1000
    for target in ("purchase", "lapse"):
        assert scores[f"score__{target}"].is_between(0, 1).all()
        assert set(scores[f"decile__{target}"].unique()) <= set(range(1, 11))
    assert (scores["score__value"] >= 0).all()
    first = (part / "scores.parquet").read_bytes()
    assert main(argv) == 0
    assert (part / "scores.parquet").read_bytes() == first


def test_missing_champion_exits_4(trained: Path, tmp_path: Path, capsys) -> None:
    for name in ("orders", "events", "customers"):
        shutil.copy(trained / f"{name}.csv", tmp_path)
    config = _config(tmp_path)  # a fresh, empty registry under tmp_path/runs
    assert main(["score", "--config", str(config), "--as-of", AS_OF,
                 "--out", str(tmp_path / "s")]) == 4  # fmt: skip
    err = capsys.readouterr().err
    assert "no 'champion' model for ['purchase', 'lapse', 'value']" in err
    assert "segml train" in err and "Traceback" not in err


def test_renamed_input_column_exits_3(trained: Path, tmp_path: Path, capsys) -> None:
    for name in ("events", "customers"):
        shutil.copy(trained / f"{name}.csv", tmp_path)
    orders = pl.read_csv(trained / "orders.csv").rename({"order_time": "ordered_at"})
    orders.write_csv(tmp_path / "orders.csv")
    config = _config(tmp_path, tracking_uri=f"sqlite:///{trained / 'runs' / 'mlflow.db'}")
    code = main(["score", "--config", str(config), "--as-of", AS_OF, "--out", str(tmp_path / "s")])
    assert code == 3
    assert "orders is missing required columns ['order_time']" in capsys.readouterr().err
    assert not (tmp_path / "s" / f"as_of={AS_OF}").exists()

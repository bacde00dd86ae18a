"""`segml score`: models from the registry, one partition per date, documented exit codes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from segml.cli import main
from segml.io import exclusive_lock
from tests.jobs.fixtures import shop_config, trained_shop

pytestmark = pytest.mark.xdist_group("score-job")
ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2024-11-01"


LINES = (
    'training: {now: "2024-10-01", cutoffs: 2, lightgbm: {n_estimators: 40}}',
    f"segments: {ROOT / 'configs' / 'segments.yaml'}",
)


def _config(folder: Path, name: str = "shop.yaml", **extra: str) -> Path:
    return shop_config(folder, *LINES, *[f"{k}: {v}" for k, v in extra.items()], name=name)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # tiny data: a model may lose to its baselines and get no champion; score the others
    return trained_shop(tmp_path_factory.mktemp("shop"), *LINES, "scoring: {missing_model: skip}",
                        customers=1500, seed=11)  # fmt: skip


def test_score_writes_partition_and_reruns_identically(trained: Path) -> None:
    out = trained / "scores"
    argv = ["score", "--config", str(trained / "shop.yaml"), "--as-of", AS_OF, "--out", str(out)]
    assert main(argv) == 0
    part = out / f"as_of={AS_OF}"
    names = sorted(p.name for p in part.iterdir())
    assert names == ["_manifest.json", "drift.csv", "scores.parquet", "segments"]
    scores = pl.read_parquet(part / "scores.parquet")
    assert scores["customer_id"].n_unique() == scores.height > 1000
    manifest = json.loads((part / "_manifest.json").read_text())
    scored = set(manifest["models"])
    assert "purchase" in scored and scored | set(manifest["models_skipped"]) == {
        "purchase", "lapse", "value"}  # fmt: skip
    for target in scored & {"purchase", "lapse"}:
        assert scores[f"score__{target}"].is_between(0, 1).all()
        assert set(scores[f"decile__{target}"].unique()) <= set(range(1, 11))
    if "value" in scored:
        assert (scores["score__value"] >= 0).all()
    assert scores["cluster__name"].null_count() == 0
    first = (part / "scores.parquet").read_bytes()
    assert main(argv) == 0
    assert (part / "scores.parquet").read_bytes() == first


def test_missing_champion_exits_4(trained: Path, tmp_path: Path, capsys) -> None:
    for name in ("orders", "events", "customers"):
        shutil.copy(trained / f"{name}.csv", tmp_path)
    config = _config(tmp_path)  # a fresh, empty registry under tmp_path/runs
    from segml.tracking import default_tracking_uri, find_model

    # an existing store without models (with no store at all the job says "no tracking store")
    find_model(tracking_uri=default_tracking_uri(tmp_path / "runs"), name="x", alias="champion")
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
    config = _config(tmp_path, tracking_uri=f"sqlite:///{trained / 'runs' / 'mlflow.db'}",
                     scoring="{missing_model: skip}")  # fmt: skip
    code = main(["score", "--config", str(config), "--as-of", AS_OF, "--out", str(tmp_path / "s")])
    assert code == 3
    assert "orders is missing required columns ['order_time']" in capsys.readouterr().err
    assert not (tmp_path / "s" / f"as_of={AS_OF}").exists()


def _score_process(config: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "segml.cli", "score", "--config", str(config), "--as-of", AS_OF,
         "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_kill_at_any_point_keeps_previous_partition(trained: Path) -> None:
    """SIGKILL at several points of a scoring job: the previous partition stays whole."""
    config, out = trained / "shop.yaml", trained / "killed"
    assert main(["score", "--config", str(config), "--as-of", AS_OF, "--out", str(out)]) == 0
    part = out / f"as_of={AS_OF}"
    before = {p.relative_to(part): p.read_bytes() for p in part.rglob("*") if p.is_file()}
    for delay in (1.0, 3.0, 6.0, 9.0, 12.0):
        proc = _score_process(config, out)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = {p.relative_to(part): p.read_bytes() for p in part.rglob("*") if p.is_file()}
        if now != before:
            # killed after the new partition was renamed into place (e.g. while logging to
            # MLflow): it must be complete, with identical scores; only manifests differ
            assert now.keys() == before.keys(), delay
            assert now[Path("scores.parquet")] == before[Path("scores.parquet")], delay
            before = now
        assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == [part.name]


def test_second_job_for_same_partition_is_refused(trained: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "scores"
    with exclusive_lock(out / f"as_of={AS_OF}"):
        code = main(["score", "--config", str(trained / "shop.yaml"), "--as-of", AS_OF,
                     "--out", str(out)])  # fmt: skip
    assert code == 6
    err = capsys.readouterr().err
    assert f"pid {os.getpid()}" in err and "--wait" in err
    assert not (out / f"as_of={AS_OF}").exists()


def test_drift_beyond_threshold_exits_5_and_publishes_nothing(trained: Path, capsys) -> None:
    """A cutoff far from training shifts recency and activity: PSI beyond a strict threshold."""
    config = _config(trained, "strict.yaml", scoring="{missing_model: skip, psi_fail: 0.2}")
    out = trained / "drifted"
    assert main(["score", "--config", str(config), "--as-of", "2025-06-01", "--out", str(out)]) == 5
    err = capsys.readouterr().err
    assert "drifted beyond PSI 0.2 against the training reference" in err, err
    assert not (out / "as_of=2025-06-01").exists()
    assert (out / "_rejected" / "as_of=2025-06-01" / "drift.csv").exists()

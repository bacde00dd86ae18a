"""Registered models that serve: `mlflow models serve` on the champion answers a JSON request
with the scores `segml score` writes; the model takes a feature table, carries segml's code and
pins real dependencies (no `segml==` pin that no index has)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

import segml
from segml.cli import main
from segml.datasets import make_shop
from segml.tracking import load_pyfunc
from tests.jobs.fixtures import TABLES, shop_config

pytestmark = pytest.mark.xdist_group("serving")  # one worker builds the trained store once
ROOT = Path(__file__).resolve().parents[2]
LINES = (
    'training: {now: "2024-10-01", cutoffs: 2, lightgbm: {n_estimators: 40}}',
    "scoring: {targets: [purchase], fail_on_drift: false}",
    "clustering: {n_clusters: 3, explain: false}",
    f"segments: {ROOT / 'configs' / 'segments.yaml'}",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small shop as CSV with a purchase model and a clusterer registered as champions."""
    folder = tmp_path_factory.mktemp("served")
    shop = make_shop(800, seed=5)
    for name in TABLES:
        getattr(shop, name).to_csv(folder / f"{name}.csv", index=False)
    config = str(shop_config(folder, *LINES))
    assert main(["train", "--config", config, "--target", "purchase"]) == 0
    assert main(["cluster", "--config", config, "--as-of", "2024-10-01"]) == 0
    return folder


def _store(folder: Path) -> str:
    return f"sqlite:///{folder / 'runs' / 'mlflow.db'}"


@pytest.fixture(scope="module")
def champion(trained: Path) -> Any:
    """The purchase champion loaded as segml score loads it (a pyfunc)."""
    model, _ = load_pyfunc(tracking_uri=_store(trained), name="segml-purchase", alias="champion")
    return model


def _data(folder: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_csv(folder / f"{t}.csv") for t in ("orders", "events", "customers")}


def _request(folder: Path, model: Any, as_of: str) -> pd.DataFrame:
    """What a user has: the feature table with the model's feature settings, joined with the
    rfm_summary of the history before ``as_of``."""
    meta = model.unwrap_python_model().model.metadata_
    data = _data(folder)
    features = segml.build_features(data, as_of=as_of, **meta["features"])
    end = dt.datetime.fromisoformat(as_of) - dt.timedelta(days=1)
    summary = segml.rfm_summary(data, observation_period_end=end)
    return features.merge(summary, on="customer_id", how="left")


def _free_port() -> int:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    except OSError as err:
        pytest.skip(f"no local port to serve on: {err}")


@pytest.fixture(scope="module")
def served(trained: Path) -> Iterator[str]:
    """`mlflow models serve` for the purchase champion on localhost (local environment)."""
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)  # mlflow starts uvicorn from the PATH
    env = os.environ | {"MLFLOW_TRACKING_URI": _store(trained), "PYTHONPATH": str(ROOT),
                        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    mlflow_cli = [sys.executable, "-m", "mlflow"]
    proc = subprocess.Popen(
        [*mlflow_cli, "models", "serve", "-m", "models:/segml-purchase@champion",
         "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port), "--workers", "1"],
        env=env, cwd=trained, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, url)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def _wait_until_up(proc: subprocess.Popen[str], url: str, timeout: float = 180) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            if "address already in use" in out.lower():  # the port was taken in between
                pytest.skip(f"port of {url} taken before mlflow models serve bound it")
            pytest.fail(f"mlflow models serve exited with {proc.returncode}: {out[-1500:]}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"mlflow models serve did not answer on {url}/ping within {timeout:.0f} s")


def _post(url: str, frame: pd.DataFrame) -> Any:
    body = {"dataframe_split": {"columns": list(frame.columns),
                                "data": frame.astype(object).where(frame.notna(), None)
                                .values.tolist()}}  # fmt: skip
    req = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())["predictions"]


@pytest.fixture(scope="module")
def scored(trained: Path, champion: Any) -> pl.DataFrame:
    """`segml score` as of the purchase champion's data_end (the date of its stored fit)."""
    as_of = champion.unwrap_python_model().model.metadata_["data_end"][:10]
    out = trained / "scores"
    argv = ["score", "--config", str(trained / "shop.yaml"), "--as-of", as_of, "--out", str(out)]
    assert main(argv) == 0
    return pl.read_parquet(out / f"as_of={as_of}" / "scores.parquet")


def test_served_champion_scores_a_feature_table_as_segml_score(
    trained: Path, served: str, scored: pl.DataFrame, champion: Any
) -> None:
    model = champion
    as_of = model.unwrap_python_model().model.metadata_["data_end"][:10]
    scores = scored
    request = _request(trained, model, as_of).sample(60, random_state=0)  # shuffled on purpose
    answer = pd.DataFrame(_post(served, request))
    assert list(answer.columns) == ["customer_id", "score__purchase"]
    assert answer["customer_id"].tolist() == request["customer_id"].astype(str).tolist()
    expected = scores.select("customer_id", "score__purchase").to_pandas().set_index("customer_id")
    np.testing.assert_allclose(
        answer["score__purchase"], expected.loc[answer["customer_id"], "score__purchase"],
        rtol=1e-9, atol=1e-12,
    )  # fmt: skip


def test_served_champion_takes_model_inputs_as_sent(
    trained: Path, served: str, champion: Any
) -> None:
    """``model_inputs`` output keeps its own BG/NBD columns: any date, segml score's scores."""
    inner = champion.unwrap_python_model().model
    meta = inner.metadata_
    as_of = "2024-10-15"  # after data_end: the BG/NBD fit of that date, not the stored one
    inputs = segml.model_inputs(_data(trained), as_of=as_of, feature_params=meta["features"],
                                horizons=meta["btyd_horizons"]).head(40)  # fmt: skip
    answer = pd.DataFrame(_post(served, inputs.to_pandas()))
    np.testing.assert_allclose(answer["score__purchase"], inner.predict_score(inputs), rtol=1e-12)


def test_the_clusterer_takes_the_feature_table(
    trained: Path, scored: pl.DataFrame, champion: Any
) -> None:
    """The registered clusterer on ``build_features`` output (every column, shuffled): the
    segments `segml score` assigns (the clusterer and the scores are both as of 2024-10-01)."""
    import mlflow

    as_of = champion.unwrap_python_model().model.metadata_["data_end"][:10]
    assert as_of == "2024-10-01"
    mlflow.set_tracking_uri(_store(trained))
    clusterer = mlflow.pyfunc.load_model("models:/segml-clusters@champion")
    table = segml.build_features(_data(trained), as_of=as_of).sample(frac=1.0, random_state=2)
    got = clusterer.predict(table)
    assert list(got.columns) == ["customer_id", "cluster__id", "cluster__name"]
    expected = scored.select("customer_id", "cluster__id").to_pandas().set_index("customer_id")
    assert got["cluster__id"].tolist() == expected.loc[got["customer_id"], "cluster__id"].tolist()


def test_a_request_without_bgnbd_inputs_says_what_to_send(trained: Path, champion: Any) -> None:
    model = champion
    meta = model.unwrap_python_model().model.metadata_
    features = segml.build_features(_data(trained), as_of=meta["data_end"][:10],
                                    **meta["features"])  # fmt: skip
    with pytest.raises(segml.DataError, match=r"rfm_summary columns \['frequency'"):
        model.predict(features.head(5))


def test_bgnbd_columns_from_the_stored_fit_equal_model_inputs(small_shop: Any) -> None:
    """The served path (stored fit + each customer's rfm_summary row) gives the columns
    ``model_inputs`` gives at the fit's date, in any row order; no purchase: missing."""
    from segml.features import rfm_summary
    from segml.models.dataset import btyd_fit, btyd_frame
    from segml.models.serving import add_btyd_columns

    cut = "2024-10-01"
    fit = btyd_fit(small_shop, cut, horizons=[30.0, 60.0])
    assert fit["params"] is not None and fit["as_of"] == "2024-10-01T00:00:00"
    expected = btyd_frame(small_shop, cut, horizons=[30.0, 60.0])
    summary = pl.from_pandas(rfm_summary(small_shop, observation_period_end="2024-09-30"))
    rows = pl.concat([summary.sample(50, seed=1, shuffle=True),
                      pl.DataFrame({"customer_id": ["nobody"]})], how="diagonal")  # fmt: skip
    needed = [c for c in expected.columns if c.startswith("btyd__")]
    got = add_btyd_columns(rows, needed=needed, fit=fit)
    joined = got.join(expected, on="customer_id", how="left", suffix="_expected")
    for col in needed:
        np.testing.assert_allclose(joined[col].to_numpy(), joined[f"{col}_expected"].to_numpy(),
                                   rtol=1e-12)  # fmt: skip
    assert got.filter(pl.col("customer_id") == "nobody")[needed].null_count().row(0) == (
        (1,) * len(needed)
    )


@pytest.mark.parametrize(
    ("columns", "fit", "match"),
    [
        (["rfm__frequency"], None, r"logged without a BG/NBD fit .* segml.model_inputs"),
        (["rfm__frequency", "frequency", "T"], {"params": None, "horizons": [30]},
         r"lacks .*\['btyd__p_alive'\] and the rfm_summary columns \['recency', "
         r"'monetary_value'\].*found \['rfm__frequency', 'frequency', 'T'\] \(1 rows\)"),
    ],
)  # fmt: skip
def test_a_table_without_bgnbd_or_summary_columns_is_refused(
    columns: list[str], fit: Any, match: str
) -> None:
    from segml.models.serving import add_btyd_columns

    frame = pl.DataFrame({c: [1.0] for c in columns})
    with pytest.raises(segml.DataError, match=match):
        add_btyd_columns(frame, needed=["rfm__frequency", "btyd__p_alive"], fit=fit)


def test_the_logged_model_ships_segml_and_pins_real_requirements(trained: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(_store(trained))
    for name in ("segml-purchase", "segml-clusters"):
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}@champion",
                                                         dst_path=str(trained / name)))  # fmt: skip
        reqs = (local / "requirements.txt").read_text().split()
        assert not [r for r in reqs if r.startswith("segml")], reqs
        pinned = {r.split("==")[0] for r in reqs if "==" in r}
        assert {"lightgbm", "polars", "numpy", "pandas", "mlflow-skinny"} <= pinned, reqs
        assert (local / "code" / "segml" / "models" / "serving.py").is_file()
        assert not list((local / "code").rglob("*.csv.gz"))  # not the 7 MB sample data

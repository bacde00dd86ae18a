"""The backfill guard of `segml score`: a champion whose training data reaches past --as-of is
refused (exit 9, a message naming the model, version, last label-window end and as-of) unless
--allow-future-models, which the manifest records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from segml.cli import main
from segml.datasets import make_shop
from segml.errors import FutureModelError
from tests.jobs.fixtures import TABLES, shop_config

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
# now 2025-01-01, purchase horizon 30 days: backtest cutoff 2024-12-01, its window ends 12-31
DATA_END = "2024-12-31"


@pytest.fixture(scope="module")
def shop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("backfill")
    shop = make_shop(1200, seed=5)
    for name in TABLES:
        getattr(shop, name).to_csv(folder / f"{name}.csv", index=False)
    config = shop_config(
        folder,
        'training: {now: "2025-01-01", cutoffs: 2, lightgbm: {n_estimators: 30}}',
        "scoring: {targets: [purchase], clusters: false}",
    )
    assert main(["train", "--config", str(config), "--target", "purchase"]) == 0
    _ensure_champion(folder)
    return folder


def _ensure_champion(folder: Path) -> None:
    """The guard is under test, not the promotion: give the trained model the alias if the
    tiny store's model did not win it."""
    from segml.tracking import default_tracking_uri, find_model, set_alias

    uri = default_tracking_uri(folder / "runs")
    if find_model(tracking_uri=uri, name="segml-purchase", alias="champion") is None:
        set_alias(tracking_uri=uri, name="segml-purchase", alias="champion", version="1")


def _score(folder: Path, as_of: str, *extra: str) -> tuple[int, Path]:
    out = folder / f"scores-{as_of}-{len(extra)}"
    argv = ["score", "--config", str(folder / "shop.yaml"), "--as-of", as_of, "--out", str(out)]
    return main([*argv, *extra]), out / f"as_of={as_of}"


def test_backfill_with_a_future_champion_exits_7_and_names_it(shop_dir: Path, capsys) -> None:
    code, part = _score(shop_dir, "2024-12-15")
    err = capsys.readouterr().err
    assert code == FutureModelError.exit_code == 9
    assert "segml-purchase version 1 (last label-window end 2024-12-31)" in err
    assert "as of 2024-12-15" in err and "after the as-of 2024-12-15" in err
    assert "--allow-future-models" in err and "Traceback" not in err
    assert not part.exists()  # nothing published


def test_the_override_scores_and_is_recorded_in_the_manifest(shop_dir: Path, capsys) -> None:
    code, part = _score(shop_dir, "2024-12-15", "--allow-future-models")
    assert code == 0
    assert "segml-purchase version 1 trained on data up to 2024-12-31" in capsys.readouterr().err
    manifest = json.loads((part / "_manifest.json").read_text())
    assert manifest["point_in_time"] == {
        "allow_future_models": True,
        "future_models": [{"target": "purchase", "name": "segml-purchase", "version": "1",
                           "data_end": f"{DATA_END}T00:00:00", "basis": "last label-window end"}],
    }  # fmt: skip


def test_scoring_as_of_the_data_end_is_not_a_backfill(shop_dir: Path) -> None:
    code, part = _score(shop_dir, DATA_END)  # the window [cutoff, end) closed by the as-of
    assert code == 0
    manifest = json.loads((part / "_manifest.json").read_text())
    assert manifest["point_in_time"] == {"allow_future_models": False, "future_models": []}


def test_a_model_without_a_recorded_span_is_bounded_by_its_registration(shop_dir: Path) -> None:
    """Models with neither ``data_end`` nor ``test_label_window_end`` in their metadata: the
    registration time is what bounds their data; a backfill before it is refused."""
    from segml.scores.job import check_point_in_time, data_end, load_champions
    from segml.tracking import default_tracking_uri, version_details

    uri = default_tracking_uri(shop_dir / "runs")
    champions = load_champions(tracking_uri=uri, prefix="segml", targets=["purchase"])
    model: Any = champions.models["purchase"]
    assert f"{data_end(model):%Y-%m-%d}" == DATA_END
    for key in ("data_end", "test_label_window_end"):
        model.metadata_.pop(key)
    assert data_end(model) is None
    created = version_details(tracking_uri=uri, name="segml-purchase", version="1").created
    before = f"{created:%Y-%m-%d}"  # midnight of the registration day: before it
    with pytest.raises(FutureModelError, match="no training span recorded; registered"):
        check_point_in_time(champions, as_of=before, tracking_uri=uri)
    later = f"{created.year + 1}-01-01"
    assert check_point_in_time(champions, as_of=later, tracking_uri=uri) == []
    allowed = check_point_in_time(champions, as_of=before, tracking_uri=uri, allow=True)
    assert [f["version"] for f in allowed] == ["1"]

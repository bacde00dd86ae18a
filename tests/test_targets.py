"""The target registry, and its worked example: a toy target ``orders_2plus`` (at least two
purchase orders in the horizon) added from this test module, without touching segml's files,
then labelled by hand, configured in YAML, trained, scored, segmented on and reported end to end.

What adding a target takes is exactly the block under "The toy target": a label function and a
``register(TargetSpec(...))`` call.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import narwhals.stable.v2 as nw
import pandas as pd
import polars as pl
import pytest

from segml import targets
from segml.config import Config
from segml.errors import ConfigError
from segml.targets import TargetSpec
from tests.conftest import tiny_customers, tiny_events, tiny_orders


# ------------------------------------------------------------------------------ The toy target
def two_orders(shop: Any, population: Any, *, cut: float, horizon: float) -> Any:
    """1 when the customer places at least two purchase orders in ``[cut, cut + horizon)``."""
    inside = (nw.col("t") >= cut) & (nw.col("t") < cut + horizon)
    bought = ~nw.col("is_return") & (nw.col("revenue") > 0)
    orders = (
        shop.orders.filter(inside & bought)
        .group_by("customer_id")
        .agg(nw.col("order_id").n_unique().alias("_orders"))
    )
    label = nw.when(nw.col("_orders").fill_null(0) >= 2).then(1.0).otherwise(0.0)
    joined = population.join(orders, on="customer_id", how="left")
    return joined.select("customer_id", label.alias("label"))


TOY = TargetSpec(
    name="orders_2plus",
    description="at least two purchase orders in the horizon",
    population="segml.labels:known_population",  # every customer known at the cutoff
    label=two_orders,
    task="classification",
    horizon_days=60,
)


@pytest.fixture
def toy() -> Iterator[TargetSpec]:
    targets.register(TOY)
    yield TOY
    targets.unregister(TOY.name)


# ------------------------------------------------------------------------------ the registry
def test_builtins_come_first_and_keep_their_settings() -> None:
    assert targets.names()[:3] == ("purchase", "lapse", "value")
    purchase, lapse, value = (targets.get(n) for n in ("purchase", "lapse", "value"))
    assert purchase.key_metrics == lapse.key_metrics == ("roc_auc", "log_loss")
    assert value.key_metrics == ("gini", "spearman") and value.objective == "tweedie"
    assert (purchase.horizon_days, lapse.horizon_days, value.horizon_days) == (30, "auto", 90)
    assert lapse.btyd is not None and lapse.btyd.flip and value.calibration == "mean_scale"
    assert value.metrics == ("gini", "spearman", "top_decile_revenue_share", "mae")


def test_register_and_unregister(toy: TargetSpec) -> None:
    assert targets.names()[-1] == "orders_2plus" and targets.get("orders_2plus") is toy
    assert toy.objective == "binary" and toy.primary_metric == "roc_auc"
    with pytest.raises(ConfigError, match="already registered; pick another name"):
        targets.register(toy)
    targets.register(toy, replace=True)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: targets.get("churn"),
         r"one of \['purchase', 'lapse', 'value', 'next_order'\] .*got 'churn'"),
        (lambda: targets.unregister("lapse"), "'lapse' is a built-in target"),
        (lambda: TargetSpec("Two Orders", "x", population=len, label=len), "lower-case letters"),
        (lambda: TargetSpec("t", "x", population=len, label=len, task="ranking"),  # type: ignore[arg-type]
         r"task must be one of \['classification', 'regression', 'time_to_event'\]; "
         "got 'ranking'"),
        (lambda: TargetSpec("t", "x", population=len, label=len, task="time_to_event",
                            baselines=(), btyd=None),
         "a time_to_event target needs estimator=<factory>"),
        (lambda: TargetSpec("t", "x", population=len, label=len, estimator=len),
         "only such a target takes one"),
        (lambda: TargetSpec("t", "x", population=len, label=len, horizon_days="auto"),
         "horizon_days 'auto' needs an auto_horizon"),
        (lambda: TargetSpec("t", "x", population=len, label=len, btyd=None),
         "the 'btyd' baseline needs btyd=BTYDLink"),
        (lambda: targets.resolve("segml.labels:no_such_function"), "cannot import the target"),
        (lambda: TargetSpec("t", "x", population=len, label=len, task="regression",
                            calibration="probability"),
         "a regression target is calibrated with 'mean_scale'; got 'probability'"),
    ],
)  # fmt: skip
def test_bad_specs(call: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call()


def test_installed_packages_register_targets_by_entry_point(monkeypatch: Any) -> None:
    from importlib import metadata

    def entry_points(*, group: str) -> list[metadata.EntryPoint]:
        value = "tests.test_targets:TOY"
        return (
            [metadata.EntryPoint("orders_2plus", value, group)] if group == "segml.targets" else []
        )

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    monkeypatch.setattr(targets, "_REGISTRY", {})  # as in a fresh process
    assert targets.names() == ("purchase", "lapse", "value", "next_order", "orders_2plus")
    loaded = targets.get("orders_2plus")  # pytest may hold this module under another name
    assert loaded.description == TOY.description and loaded.label.__name__ == "two_orders"


def test_a_broken_plugin_is_named(monkeypatch: Any) -> None:
    from importlib import metadata

    broken = metadata.EntryPoint("churn", "no_such_package.targets", "segml.targets")
    monkeypatch.setattr(metadata, "entry_points", lambda *, group: [broken])
    monkeypatch.setattr(targets, "_REGISTRY", {})
    with pytest.raises(ConfigError, match=r"plugin 'churn' .* fails to import: ModuleNotFound"):
        targets.names()


# ------------------------------------------------------------------------------ labels by hand
def _tiny(kind: str) -> dict[str, Any]:
    frames = {"orders": tiny_orders(), "events": tiny_events(), "customers": tiny_customers()}
    return frames if kind == "pandas" else {k: pl.from_pandas(v) for k, v in frames.items()}


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_toy_labels_by_hand(toy: TargetSpec, kind: str) -> None:
    from segml.labels import make_labels

    # Known before 2024-02-02: a (orders), b (signed up 02-01), c (order in 2023).
    # In [02-02, 03-03): a orders o3 (its return o3r is not an order), b orders o4 and o8,
    # c's only order o7 has a zero price (not a purchase).
    data = _tiny(kind)
    two = make_labels(data, as_of="2024-02-02", target="orders_2plus", horizon_days=30)
    one = make_labels(data, as_of="2024-02-02", target="purchase", horizon_days=30)
    # the caller's frame type comes back: pandas in, pandas out; Polars in, Polars out
    assert type(two) is type(one) is (pd.DataFrame if kind == "pandas" else pl.DataFrame)
    as_dict = {r["customer_id"]: r["label"] for r in pl.from_pandas(two).to_dicts()} if kind == (
        "pandas") else dict(zip(two["customer_id"], two["label"], strict=True))  # fmt: skip
    assert as_dict == {"a": 0.0, "b": 1.0, "c": 0.0}
    assert list(one["label"]) == [1.0, 1.0, 0.0]  # purchase: a bought once


# ------------------------------------------------------------------------------ config
def _write_config(folder: Path, extra: list[str]) -> Path:
    config = folder / "shop.yaml"
    config.write_text("\n".join([
        "data:", *[f"  {t}: {{path: {t}.csv}}" for t in ("orders", "events", "customers")],
        *extra, "output_dir: runs",
    ]) + "\n")  # fmt: skip
    return config


def test_config_takes_a_registered_target(toy: TargetSpec, tmp_path: Path) -> None:
    from segml.config import load_config

    cfg = load_config(_write_config(tmp_path, [
        "training: {targets: {orders_2plus: {refit: true}}}", "scoring: {targets: [orders_2plus]}",
    ]))  # fmt: skip
    own = cfg.training.target("orders_2plus")
    assert (own.horizon_days, own.lookback_days, own.refit) == (60, 365, True)  # spec defaults
    assert cfg.training.target("purchase").horizon_days == 30  # training.purchase, as before
    assert cfg.scoring.targets == ["orders_2plus"]


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (["training: {targets: {churn: {horizon_days: 30}}}"],
         r"training.targets: no target named 'churn' is registered"),
        (["scoring: {targets: [purchase, churn]}"],
         r"scoring.targets: no target named 'churn' is registered"),
        (["training: {targets: {purchase: {horizon_days: 30}}}"],
         r"\['purchase'\] have their own keys: set them as training.purchase"),
        (["training: {targets: {orders_2plus: {horizon_days: auto}}}"],
         "orders_2plus: horizon_days 'auto' is not available"),
    ],
)  # fmt: skip
def test_config_rejects(toy: TargetSpec, tmp_path: Path, lines: list[str], match: str) -> None:
    from segml.config import load_config

    with pytest.raises(ConfigError, match=match):
        load_config(_write_config(tmp_path, lines))


def test_auto_horizon_only_for_a_target_that_has_one(tmp_path: Path) -> None:
    from segml.config import load_config
    from segml.jobs.train import target_specs

    cfg = load_config(_write_config(tmp_path, ["training: {purchase: {horizon_days: auto}}"]))
    with pytest.raises(ConfigError, match=r"training.purchase.horizon_days: 'auto' is available"):
        target_specs(None, cfg, now="2025-01-01", targets=["purchase"])  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ end to end
RULES = """\
control: {salt: toy-target, share: 0.1}
segments:
  - name: repeat_buyers
    priority: 1
    when: score__orders_2plus >= 0.3
"""


def test_toy_target_end_to_end(toy: TargetSpec, tmp_path: Path) -> None:
    """segml train / score / report, through the CLI and a YAML config, on 400 customers."""
    from segml import tracking
    from segml.cli import main
    from segml.datasets import make_shop
    from segml.report.build import build_report

    shop = make_shop(400, seed=5)
    for name in ("orders", "events", "customers"):
        getattr(shop, name).to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "rules.yaml").write_text(RULES)
    config = _write_config(tmp_path, [
        'training: {now: "2024-10-01", cutoffs: 2, lightgbm: {n_estimators: 15}, '
        "promotion: {n_boot: 50, max_rows: 1000}, targets: {orders_2plus: {horizon_days: 45}}}",
        "scoring: {targets: [orders_2plus], clusters: false, fail_on_drift: false}",
        "segments: rules.yaml",
    ])  # fmt: skip
    assert main(["train", "--config", str(config), "--target", "orders_2plus"]) == 0
    uri = tracking.default_tracking_uri(tmp_path / "runs")
    name = "segml-orders_2plus"
    if tracking.find_model(tracking_uri=uri, name=name, alias="champion") is None:
        tracking.set_alias(tracking_uri=uri, name=name, alias="champion", version="1")
    out = tmp_path / "runs" / "scores"
    assert main(["score", "--config", str(config), "--as-of", "2024-10-01", "--out", str(out)]) == 0

    run = out / "as_of=2024-10-01"
    scores = pl.read_parquet(run / "scores.parquet")
    p = scores["score__orders_2plus"]
    assert scores.height == scores["customer_id"].n_unique() > 0
    assert p.null_count() == 0 and 0 <= p.min() <= p.max() <= 1 and p.n_unique() > 5
    assert set(scores["decile__orders_2plus"].unique()) <= set(range(1, 11))
    manifest = json.loads((run / "_manifest.json").read_text())
    assert manifest["models"]["orders_2plus"]["name"] == name

    model = tracking.load_pyfunc(tracking_uri=uri, name=name, alias="champion")[0]
    meta = model.unwrap_python_model().model.metadata_
    assert meta["target"] == "orders_2plus" and meta["horizon_days"] == 45
    record = tracking.run_record(
        tracking_uri=uri, run_id=manifest["models"]["orders_2plus"]["run_id"]
    )
    assert {"model_roc_auc", "rfm_roc_auc", "btyd_roc_auc"} <= set(record["metrics"])

    html = build_report(run, tracking_uri=uri)
    assert "<h3>orders_2plus: segml-orders_2plus v1" in html
    assert "roc_auc* ↑" in html and "BG/NBD baseline" in html  # the classifier table, starred
    assert "orders_2plus: calibration and cumulative gain" in html
    assert dt.date.fromisoformat(meta["test_cutoff"]) < dt.date(2024, 10, 1)


def test_an_empty_targets_mapping_leaves_the_config_hash_of_existing_configs_unchanged() -> None:
    """``training.targets`` is new: while empty it is not in the dump a run's config_hash is
    taken from, so the shipped configs keep the hash their earlier runs recorded."""
    default = Config()
    assert '"targets"' not in default.training.model_dump_json()
    assert Config.model_validate(default.model_dump()) == default

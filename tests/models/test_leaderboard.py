"""Per-metric winners of the backtest table: a clear lead wins, a lead inside the noise does
not, and the demo's lapse case (RFM ahead on capture only through a merged tie) has no winner."""

from __future__ import annotations

import numpy as np
import polars as pl

from segml.models.leaderboard import REPORTED, metric_winners


def _frame(n: int = 1000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (signal + rng.normal(size=n) > 0).astype(float)
    good = 1 / (1 + np.exp(-signal))
    return pl.DataFrame({
        "label": y,
        "score__model": good,
        "score__rfm": np.round(good + rng.normal(scale=1e-4, size=n), 3),  # ties, same order
        "score__btyd": rng.uniform(size=n),  # no signal
    })  # fmt: skip


def test_a_clear_lead_wins_and_a_close_call_has_no_winner() -> None:
    w = metric_winners(_frame(), target="purchase", n_boot=60)
    assert set(w["metrics"]) == set(REPORTED["classifier"])
    auc = w["metrics"]["roc_auc"]
    # the model and its rounded copy are within noise of each other: either may lead, neither
    # wins; both beat the noise score
    assert auc["best"] in ("model", "rfm") and auc["winner"] is None
    twin = "rfm" if auc["best"] == "model" else "model"
    assert auc["versus"][twin]["verdict"] == "ties" and auc["versus"]["btyd"]["verdict"] == "beats"


def test_against_noise_only_the_model_wins() -> None:
    frame = _frame().drop("score__rfm")
    w = metric_winners(frame, target="purchase", who=("model", "btyd"), n_boot=60)
    for name in ("roc_auc", "pr_auc", "top_decile_capture"):
        assert w["metrics"][name]["winner"] == "model", name


def test_value_targets_and_subsampling() -> None:
    rng = np.random.default_rng(1)
    v = rng.gamma(1.0, 100, size=3000) * (rng.uniform(size=3000) < 0.5)
    frame = pl.DataFrame({"label": v, "score__model": v + rng.normal(scale=10, size=3000),
                          "score__rfm": rng.uniform(size=3000)})  # fmt: skip
    w = metric_winners(frame, target="value", who=("model", "rfm"), n_boot=50, max_rows=1000)
    assert w["rows"] == 1000 and set(w["metrics"]) == set(REPORTED["value"])
    assert w["metrics"]["gini"]["winner"] == "model"
    assert w["metrics"]["mae"]["winner"] == "model"

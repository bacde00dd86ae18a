"""The next_order target: the censored label by hand and point-in-time, the survival arithmetic
against brute force and closed forms, the hazard model, both baselines, and a backtest."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from segml.errors import DataError
from segml.models.survival import (
    concordance,
    coverage,
    curve_quantiles,
    curve_restricted_mean,
    mae_days,
    timing_metrics,
)
from segml.models.timing import (
    BTYDTimingBaseline,
    GapBaseline,
    NextOrderModel,
    bgnbd_crossing,
    bgnbd_restricted_mean,
    next_order_columns,
)
from tests.conftest import tiny_customers, tiny_events, tiny_orders
from tests.models.conftest import FAST


def _pred(days: Any = None, lo50: Any = None, hi50: Any = None, lo80: Any = None,
          hi80: Any = None, rank: Any = None, n: int = 0) -> np.ndarray:  # fmt: skip
    cols = [days, lo50, hi50, lo80, hi80, rank]
    n = n or len(next(c for c in cols if c is not None))
    return np.column_stack([np.full(n, np.nan) if c is None else np.asarray(c, float)
                            for c in cols])  # fmt: skip


# ------------------------------------------------------------------------------ the label
def _labels(orders: pd.DataFrame, *, as_of: str = "2024-03-01", horizon: float = 10) -> dict:
    from segml.labels import make_labels

    data = {"orders": orders, "events": tiny_events(), "customers": tiny_customers()}
    out = make_labels(data, as_of=as_of, target="next_order", horizon_days=horizon,
                      lookback_days=3650)  # fmt: skip
    return dict(zip(out["customer_id"], out["label"], strict=True))


def test_label_by_hand() -> None:
    # Buyers before 03-01: a (o1-o3), b (o4), c (o5; o7 has a zero price but is an order).
    # In [03-01, 03-11): b's o8 at exactly 03-01 00:00 (0 days); d's o9 on 03-05, but d had no
    # order before the cutoff, so d is not in the population. a and c: censored at 10 days.
    assert _labels(tiny_orders()) == {"a": -10.0, "b": 0.0, "c": -10.0}
    # as of 02-16, 20 days: a's o3 on 02-20 10:00 is 4 days 10 hours later; b's o8 is 14 days
    got = _labels(tiny_orders(), as_of="2024-02-16", horizon=20)
    assert got == {"a": pytest.approx(4 + 10 / 24), "b": 14.0, "c": -20.0}


def test_label_reads_only_its_window() -> None:
    """Orders at or after cutoff + horizon change nothing; one inside the window does."""
    base = tiny_orders()
    late = pd.DataFrame([("a", "late", "2024-03-11 00:00", 1, 9.0, "home", "completed")],
                        columns=base.columns)  # fmt: skip
    assert _labels(pd.concat([base, late])) == _labels(base)
    inside = late.assign(order_time="2024-03-10 12:00")
    assert _labels(pd.concat([base, inside]))["a"] == pytest.approx(9.5)


# ------------------------------------------------------------------------------ the metrics
def _brute_c(y: np.ndarray, rank: np.ndarray) -> float:
    t, e = np.abs(y), y >= 0
    num = den = 0.0
    for i in np.flatnonzero(e):
        for j in range(t.size):
            if t[j] > t[i]:
                den += 1
                num += 1.0 if rank[i] < rank[j] else 0.5 if rank[i] == rank[j] else 0.0
    return num / den


def test_concordance_matches_harrell_by_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):  # heavy ties in time and rank, and censoring
        n = int(rng.integers(3, 30))
        t = rng.integers(0, 6, n).astype(float)
        y = np.where(rng.random(n) < 0.6, t, -6.0)
        rank = rng.integers(0, 4, n).astype(float)
        if not ((y >= 0) & (t < 6)).any():
            continue
        assert concordance(y, _pred(rank=rank)) == pytest.approx(_brute_c(y, rank), abs=1e-12)
    # by hand: ordered after 2 and 5 days, one censored at 10; ranks 1, 3, 2
    y = np.array([2.0, 5.0, -10.0])
    assert concordance(y, _pred(rank=[1, 3, 2])) == pytest.approx(2 / 3)  # (2,5) (2,c) ok


def test_mae_and_coverage_by_hand() -> None:
    y = np.array([2.0, 20.0, -30.0, -30.0])
    # medians: 4, inf ("none within the horizon": counts as 30), 10, inf
    p = _pred(days=[4, np.inf, 10, np.inf], lo50=[1, 25, 5, 40], hi50=[3, np.inf, 20, np.inf],
              lo80=[0, 10, 2, 35], hi80=[5, np.inf, 40, np.inf], rank=[1, 2, 3, 4])  # fmt: skip
    assert mae_days(y, p) == pytest.approx((2 + 10) / 2)
    # 50%: 2 outside [1, 3]? inside; 20 < 25 miss; censored with hi 20 < 30 miss; hi inf hit
    assert coverage(y, p, level=50) == pytest.approx(2 / 4)
    assert coverage(y, p, level=80) == pytest.approx(4 / 4)
    gap = _pred(days=[4, 8, 10, 0], rank=[4, 8, 10, 0])  # no interval
    assert np.isnan(coverage(y, gap, level=80)) and mae_days(y, gap) == pytest.approx(7.0)
    assert set(timing_metrics(y, p)) == {"concordance", "mae_days", "coverage_50",
                                         "coverage_80", "ordered_share"}  # fmt: skip
    with pytest.raises(DataError, match=r"expected shape \(4, 6\), got \(4,\)"):
        mae_days(y, np.zeros(4))


def test_curve_quantiles_of_a_constant_hazard_are_exponential() -> None:
    lam, knots = 0.05, np.array([0.0, 3.0, 10.0, 30.0, 90.0])
    log_s = -lam * knots[None, :]
    q = curve_quantiles(log_s, knots, qs=(0.5, 0.1, 0.9, 0.99))
    assert q[0, :3] == pytest.approx(-np.log1p(-np.array([0.5, 0.1, 0.9])) / lam)
    assert q[0, 3] == np.inf  # 1% survival is not reached by day 90
    rmst = curve_restricted_mean(log_s, knots)
    assert rmst[0] == pytest.approx((1 - np.exp(-lam * 90)) / lam)


def test_bgnbd_timing_closed_forms() -> None:
    pa, s, k = np.array([0.9, 0.3, 0.8]), np.array([50.0, 200.0, 80.0]), np.array([2.5, 0.7, 1.0])
    for q in (0.1, 0.25, 0.5):
        t = bgnbd_crossing(pa, s, k, q)
        ok = pa > q
        assert (t[~ok] == np.inf).all()
        assert pa[ok] * (1 - (s[ok] / (s[ok] + t[ok])) ** k[ok]) == pytest.approx(q)
    grid = np.linspace(0, 60, 60_001)
    curve = 1 - pa[:, None] * (1 - (s[:, None] / (s[:, None] + grid)) ** k[:, None])
    area = ((curve[:, 1:] + curve[:, :-1]) / 2 * np.diff(grid)).sum(axis=1)
    assert bgnbd_restricted_mean(pa, s, k, 60.0) == pytest.approx(area, rel=1e-6)


# ------------------------------------------------------------------------ model + baselines
@pytest.fixture(scope="module")
def rows(cache: Any) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    def at(days: list[str]) -> pl.DataFrame:
        cuts = [dt.datetime.fromisoformat(d) for d in days]
        return cache.labelled(cuts, target="next_order", horizon_days=60, lookback_days=3650)

    return at(["2024-03-01", "2024-05-01"]), at(["2024-07-01"]), at(["2024-09-01"])


def test_btyd_timing_agrees_with_the_btyd_purchase_column(rows: Any) -> None:
    """P(>=1 purchase in 60 days) from the timing columns is btyd__p_purchase_60d."""
    frame = rows[2]
    pa, s, k = (frame[c].to_numpy() for c in ("btyd__p_alive", "baseline__btyd_timing_scale",
                                              "baseline__btyd_timing_shape"))  # fmt: skip
    p60 = pa * (1 - (s / (s + 60)) ** k)
    assert p60 == pytest.approx(frame["btyd__p_purchase_60d"].to_numpy())
    pred = BTYDTimingBaseline(horizon_days=60).fit(frame, frame["label"]).predict(frame)
    median = pred[:, 0]
    assert ((median <= 60) == (p60 >= 0.5)).all()  # crosses 0.5 within 60 days iff p60 >= 0.5


def test_gap_baseline_by_hand() -> None:
    frame = pl.DataFrame({"rfm__gap_median_days": [30.0, 10.0, None],
                          "rfm__recency_days": [12.0, 25.0, 5.0]})  # fmt: skip
    pred = GapBaseline().fit(frame, np.zeros(3)).predict(frame)
    # due in 18 days; overdue (now); one order: the training median gap (20) minus 5 days
    assert pred[:, 0].tolist() == [18.0, 0.0, 15.0] and np.isnan(pred[:, 1:5]).all()


def test_stacked_rows_by_hand() -> None:
    model = NextOrderModel(horizon_days=30)
    model.edges_ = np.array([0.0, 5.0, 15.0, 30.0])
    M = np.arange(4, dtype=np.float32)[:, None]
    # ordered on day 0, day 7, day 15 (a bin's start: that bin), censored at 30
    X, y = model._stack(M, np.array([0.0, 7.0, 15.0, -30.0]))
    assert X[:, 0].tolist() == [0, 1, 1, 2, 2, 2, 3, 3, 3]  # the customer of each row
    assert X[:, 1].tolist() == [0, 0, 5, 0, 5, 15, 0, 5, 15]  # the bin's start day
    assert y.tolist() == [1, 0, 1, 0, 0, 1, 0, 0, 0]


@pytest.fixture(scope="module")
def model(rows: Any) -> NextOrderModel:
    train, valid, _ = rows
    return NextOrderModel(horizon_days=60, **FAST).fit(
        train, train["label"], X_valid=valid, y_valid=valid["label"]
    )


def test_model_ranks_and_orders_its_intervals(rows: Any, model: NextOrderModel) -> None:
    test = rows[2]
    pred = model.predict(test)
    assert pred.shape == (test.height, 6)
    lo80, lo50, med, hi50, hi80 = pred[:, 3], pred[:, 1], pred[:, 0], pred[:, 2], pred[:, 4]
    assert (lo80 <= lo50).all() and (lo50 <= med).all() and (med <= hi50).all()
    assert (hi50 <= hi80).all() and (lo80 >= 0).all()
    assert ((med == np.inf) | (med <= 60)).all() and np.isfinite(pred[:, 5]).all()
    assert np.isinf(hi80).any() and np.isfinite(med).any()  # some are not expected by day 60
    assert concordance(test["label"].to_numpy(), pred) > 0.7


def test_backtest_reports_next_order_beside_both_baselines(small_shop: Any) -> None:
    from segml.models.backtest import backtest

    result = backtest(small_shop, dates=["2024-10-01"], targets={"next_order": 60},
                      n_cutoffs=3, n_boot=50, model_params=FAST)  # fmt: skip
    assert set(result.table["model"]) == {"model", "btyd_timing", "gap"}
    got = result.comparisons.select("other", "metric").rows()
    assert sorted(got) == [("btyd_timing", "concordance"), ("btyd_timing", "mae_days"),
                           ("gap", "concordance"), ("gap", "mae_days")]  # fmt: skip
    assert set(result.comparisons["verdict"]) <= {"beats", "ties", "loses"}
    cov = result.table.filter(pl.col("metric") == "coverage_80", pl.col("model") == "model")
    assert 0.5 < cov["value"].item() <= 1.0


def test_scoring_columns_for_every_customer_and_in_segment_rules(
    cache: Any, model: NextOrderModel
) -> None:
    from segml.segments import Segmenter

    as_of = dt.datetime(2024, 9, 1)
    features = cache.features(as_of)  # every known customer, buyers or not
    cols = next_order_columns(features, model, as_of=as_of)
    assert cols["customer_id"].to_list() == features["customer_id"].to_list()
    status = cols["next_order__status"]
    never = features["rfm__frequency"].fill_null(0).to_numpy() == 0
    assert (status.to_numpy()[never] == "no_orders").all()
    assert set(status) == {"expected", "not_within_horizon", "no_orders"}
    expected = cols.filter(pl.col("next_order__status") == "expected")
    day = dt.date(2024, 9, 1)
    assert expected["next_order__days"].is_between(0, 60).all()
    assert (expected["next_order__date"] == pl.Series([day + dt.timedelta(days=int(d))
            for d in expected["next_order__days"]])).all()  # fmt: skip
    for lo, hi in (("50_lo", "date"), ("date", "50_hi"), ("80_lo", "50_lo")):
        a, b = (expected[f"next_order__{c if c == 'date' else 'date_' + c}"] for c in (lo, hi))
        assert (a <= b).all()
    others = cols.filter(pl.col("next_order__status") != "expected")
    assert others.select(pl.col("^next_order__(date.*|days)$").is_null().all()).row(0) == (
        True,) * 6  # fmt: skip
    table = features.join(cols, on="customer_id")
    rules = {"control": {"salt": "t", "share": 0.1}, "segments": [
        {"name": "soon", "priority": 1, "when": "next_order__days <= 14"},
        {"name": "not_soon", "priority": 2, "when": "next_order__status == 'not_within_horizon'"},
    ]}  # fmt: skip
    members = Segmenter(rules=rules).fit_transform(table)
    soon = set(members.filter(pl.col("segment") == "soon")["customer_id"])
    assert soon == set(cols.filter(pl.col("next_order__days") <= 14)["customer_id"]) != set()


def test_as_of_run_scores_next_order_columns(cache: Any, model: NextOrderModel) -> None:
    from segml.models.asof import AsOfFit, AsOfRun

    as_of = dt.datetime(2024, 9, 1)
    fit = AsOfFit("next_order", None, model, {}, {}, {})  # type: ignore[arg-type]
    scored = AsOfRun(as_of, {"next_order": fit}, cache).score()
    assert "score__next_order" not in scored.columns
    expected = next_order_columns(cache.features(as_of), model, as_of=as_of)
    assert scored.equals(expected)


def test_segml_train_takes_next_order_with_its_spec_defaults() -> None:
    from segml.config import load_config
    from segml.jobs.train import target_specs
    from tests.conftest import ROOT

    cfg = load_config(ROOT / "configs" / "synthetic.yaml")
    got = target_specs(None, cfg, now="2025-01-01", targets=["next_order"])  # type: ignore[arg-type]
    assert got == {"next_order": {"horizon_days": 90.0, "lookback_days": 3650.0, "refit": 0.0}}


def test_next_order_has_no_refit(cache: Any) -> None:
    from segml.models.training import fit_target

    with pytest.raises(DataError, match=r"refit is not available for a time-to-event target"):
        fit_target(cache, target="next_order", now="2025-01-01", horizon_days=60, refit=True)

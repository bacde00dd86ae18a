"""BTYD diagnostics: the aggregations worked out by hand on a tiny order log, point in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segml.datasets import make_shop
from segml.errors import ConfigError, DataError
from segml.models.btyd import BetaGeoModel
from segml.models.diagnostic_plots import (
    plot_calibration_vs_holdout,
    plot_clv_histogram,
    plot_cumulative_transactions,
    plot_frequency_recency_matrix,
    plot_probability_alive_matrix,
)
from segml.models.diagnostics import (
    btyd_diagnostics,
    calibration_holdout_summary,
    calibration_vs_holdout,
    cumulative_transactions,
    frequency_recency_matrix,
    is_constant,
    probability_alive_matrix,
    value_deciles,
)

CUTOFF, HOLDOUT = "2024-03-01", 10  # holdout: 2024-03-01 .. 2024-03-10
PARAMS = {"bg": {"r": 0.5, "alpha": 10.0, "a": 0.8, "b": 2.5}, "gg": None}


def _orders() -> pd.DataFrame:
    rows = [
        ("a", "a1", "2024-01-01 09:00"),
        ("a", "a2", "2024-01-11 09:00"),
        ("a", "a3", "2024-01-21 09:00"),
        ("a", "a4", "2024-03-02 09:00"),  # holdout
        ("a", "a5", "2024-03-05 09:00"),  # holdout
        ("a", "a6", "2024-03-05 18:00"),  # same day: counts once
        ("a", "a7", "2024-03-20 09:00"),  # after the holdout
        ("b", "b1", "2024-02-01 09:00"),
        ("b", "b2", "2024-03-10 23:00"),  # last holdout day
        ("c", "c1", "2024-02-10 09:00"),
        ("c", "c2", "2024-02-10 15:00"),  # same day as the first: no repeat
        ("d", "d1", "2024-03-03 09:00"),  # first seen in the holdout: not in the cohort
        ("d", "d2", "2024-03-06 09:00"),
        ("e", "e1", "2024-01-05 09:00"),
        ("e", "e2", "2024-01-06 09:00"),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_time"])
    frame["quantity"], frame["unit_price"] = 1, 10.0
    return frame.sample(frac=1.0, random_state=5).reset_index(drop=True)  # order-independent


def _bg() -> BetaGeoModel:
    bg = BetaGeoModel()
    bg.r_, bg.alpha_, bg.a_, bg.b_ = (PARAMS["bg"][k] for k in ("r", "alpha", "a", "b"))
    return bg


def test_calibration_holdout_summary_by_hand() -> None:
    s = calibration_holdout_summary(_orders(), cutoff=CUTOFF, holdout_days=HOLDOUT)
    s = s.set_index("customer_id")
    assert sorted(s.index) == ["a", "b", "c", "e"]  # d was first seen after the cutoff
    # ages in days to 2024-02-29, the last calibration day
    assert s.loc["a", ["frequency", "recency", "T", "frequency_holdout"]].tolist() == [2, 20, 59, 2]
    assert s.loc["b", ["frequency", "recency", "T", "frequency_holdout"]].tolist() == [0, 0, 28, 1]
    assert s.loc["c", ["frequency", "recency", "T", "frequency_holdout"]].tolist() == [0, 0, 19, 0]
    assert s.loc["e", ["frequency", "recency", "T", "frequency_holdout"]].tolist() == [1, 1, 55, 0]


def test_calibration_vs_holdout_groups_by_hand() -> None:
    s = calibration_holdout_summary(_orders(), cutoff=CUTOFF, holdout_days=HOLDOUT)
    table = calibration_vs_holdout(s, PARAMS, holdout_days=HOLDOUT, max_frequency=1)
    assert table["frequency"].tolist() == ["0", "1+"]
    assert table["customers"].tolist() == [2, 2]  # b, c | a (2 repeats), e (1)
    assert table["actual"].tolist() == [0.5, 1.0]  # (1 + 0) / 2 | (2 + 0) / 2
    predicted = _bg().expected_purchases(s.sort_values("customer_id"), t=HOLDOUT)  # a, b, c, e
    assert table["predicted"].tolist() == pytest.approx(
        [(predicted[1] + predicted[2]) / 2, (predicted[0] + predicted[3]) / 2]
    )
    wide = calibration_vs_holdout(s, PARAMS, holdout_days=HOLDOUT)  # 0..6+: empty groups kept
    assert wide["frequency"].tolist() == ["0", "1", "2", "3", "4", "5", "6+"]
    assert wide["customers"].tolist() == [2, 1, 1, 0, 0, 0, 0]
    assert np.isnan(wide["actual"].iloc[3])


def test_cumulative_transactions_by_hand() -> None:
    c = cumulative_transactions(_orders(), PARAMS, cutoff=CUTOFF, holdout_days=HOLDOUT)
    assert str(c["date"].iloc[0]) == "2024-01-01" and str(c["date"].iloc[-1]) == "2024-03-10"
    assert len(c) == 31 + 29 + 10
    assert (c["period"] == "holdout").sum() == HOLDOUT
    actual = dict(zip(c["date"].astype(str), c["actual"], strict=True))
    # repeats of the cohort a, b, c, e: e 01-06; a 01-11, 01-21, 03-02, 03-05; b 03-10 (d is out)
    expected_counts = {"2024-01-05": 0, "2024-01-06": 1, "2024-01-11": 2, "2024-01-21": 3,
                       "2024-03-01": 3, "2024-03-02": 4, "2024-03-05": 5, "2024-03-09": 5,
                       "2024-03-10": 6}  # fmt: skip
    assert {d: actual[d] for d in expected_counts} == expected_counts
    # expected: each cohort customer's E[X(days since their first purchase)]
    bg = _bg()
    ages = [69, 65, 38, 29]  # 03-10 minus 01-01 (a), 01-05 (e), 02-01 (b), 02-10 (c)
    want = sum(bg.expected_purchases_unconditional(t) for t in ages)
    assert c["expected"].iloc[-1] == pytest.approx(want)
    assert c["expected"].iloc[0] == 0.0 and c["expected"].is_monotonic_increasing


def test_matrices_cells_and_impossible_cells() -> None:
    m = probability_alive_matrix(PARAMS, max_frequency=3, max_recency=60, n_recency=4)
    assert list(m.index) == [0, 1, 2, 3] and list(m.columns) == [0.0, 20.0, 40.0, 60.0]
    assert m.loc[0, 0.0] == 1.0 and m.loc[0, [20.0, 40.0, 60.0]].isna().all()
    cell = pd.DataFrame({"frequency": [2.0], "recency": [20.0], "T": [60.0]})
    assert m.loc[2, 20.0] == pytest.approx(_bg().probability_alive(cell)[0])
    e = frequency_recency_matrix(_bg(), t=30, max_frequency=3, max_recency=60, n_recency=4)
    assert e.loc[3, 60.0] == pytest.approx(_bg().expected_purchases(
        pd.DataFrame({"frequency": [3.0], "recency": [60.0], "T": [60.0]}), t=30)[0])  # fmt: skip
    assert e.loc[3, 60.0] > e.loc[3, 0.0]  # a recent last purchase: more expected
    assert not is_constant(m)


def test_degenerate_fit_gives_a_constant_matrix_said_in_the_title() -> None:
    never_drop = {"bg": {"r": 0.5, "alpha": 10.0, "a": 1e-12, "b": 50.0}, "gg": None}
    m = probability_alive_matrix(never_drop, max_frequency=3, max_recency=100)
    assert is_constant(m)
    fig = plot_probability_alive_matrix(m)
    assert "constant" in fig.axes[0].get_title()


def test_point_in_time_rows_after_the_cutoff_change_no_calibration_value() -> None:
    shop = make_shop(300, seed=4)
    base = btyd_diagnostics(shop.orders, cutoff="2024-06-01", holdout_days=30)
    later = shop.orders.copy()
    later["order_time"] = pd.Timestamp("2024-06-01")  # every row copied to the cutoff
    later["order_id"] = later["order_id"].astype(str) + "-x"
    more = btyd_diagnostics(
        pd.concat([shop.orders, later], ignore_index=True), cutoff="2024-06-01", holdout_days=30
    )
    assert base["params"] is not None and more["params"] == base["params"]
    calibration = [{k: g[k] for k in ("frequency", "customers", "predicted")} for g in base[
        "calibration_holdout"]]  # fmt: skip
    assert calibration == [
        {k: g[k] for k in ("frequency", "customers", "predicted")}
        for g in more["calibration_holdout"]
    ]
    assert [g["actual"] for g in more["calibration_holdout"]] != [
        g["actual"] for g in base["calibration_holdout"]
    ]  # the holdout did see them


def test_value_deciles_rank_by_each_models_own_prediction() -> None:
    y = np.arange(1.0, 11.0)
    table = value_deciles(y, {"model": y * 2, "btyd": y[::-1].copy()})
    assert table["decile"].to_list() == list(range(10, 0, -1))
    assert table["customers"].to_list() == [1.0] * 10
    assert table["model_actual"].to_list() == list(range(10, 0, -1))
    assert table["model_predicted"].to_list() == [2.0 * d for d in range(10, 0, -1)]
    assert table["btyd_actual"].to_list() == list(range(1, 11))  # ranked backwards


def test_figures_render() -> None:
    s = calibration_holdout_summary(_orders(), cutoff=CUTOFF, holdout_days=HOLDOUT)
    groups = calibration_vs_holdout(s, PARAMS, holdout_days=HOLDOUT)
    c = cumulative_transactions(_orders(), PARAMS, cutoff=CUTOFF, holdout_days=HOLDOUT)
    m = frequency_recency_matrix(PARAMS, t=30, max_frequency=4, max_recency=60)
    figs = [
        plot_calibration_vs_holdout(groups, holdout_days=HOLDOUT),
        plot_cumulative_transactions(c, cutoff=CUTOFF, freq="W"),
        plot_frequency_recency_matrix(m, t=30),
        plot_clv_histogram(pd.DataFrame({"clv__btyd_12m": [0.0, 5.0, 10.0, 1000.0]})),
    ]
    assert [len(f.axes[0].lines) for f in figs[:2]] == [2, 3]  # actual, BG/NBD (+ split line)
    assert "constant" not in figs[2].axes[0].get_title()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: probability_alive_matrix({"x": 1}, max_frequency=2, max_recency=9), ConfigError,
         "model must be a fitted segml BetaGeoModel"),
        (lambda: frequency_recency_matrix(PARAMS, t=1, max_frequency=-1, max_recency=9),
         ConfigError, "max_frequency and max_recency must be >= 0"),
        (lambda: calibration_holdout_summary(_orders(), cutoff=CUTOFF, holdout_days=0),
         ConfigError, "holdout_days must be a whole number of days >= 1; got 0"),
        (lambda: calibration_vs_holdout(pd.DataFrame({"frequency": [1]}), PARAMS, holdout_days=5),
         DataError, r"summary is missing columns \['T', 'frequency_holdout', 'recency'\]"),
        (lambda: plot_clv_histogram(pd.DataFrame({"score": [1.0]})), DataError,
         "the score table has no column 'clv__btyd_12m'; found \\['score'\\]"),
        (lambda: cumulative_transactions(_orders(), PARAMS, cutoff="2023-01-01", holdout_days=5),
         DataError, "no purchase before the cutoff"),
    ],
)  # fmt: skip
def test_bad_input_says_what_was_wrong(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()

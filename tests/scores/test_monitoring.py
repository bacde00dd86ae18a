"""PSI and KS drift checks against a stored reference profile."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from segml.scores import drift_report, population_stability_index, reference_profile


def test_psi_by_hand() -> None:
    # bins 50/50 -> 25/75: (0.25-0.5) ln(0.25/0.5) + (0.75-0.5) ln(0.75/0.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert population_stability_index([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected)
    assert population_stability_index([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(0.0)


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "score__purchase": rng.beta(2 + shift * 10, 5, n),
            "rfm__frequency": rng.poisson(3 + shift * 10, n).astype(float),
            "attr__country": rng.choice(["UK", "DE", "FR"], n, p=[0.6 - shift, 0.3, 0.1 + shift]),
        }
    )


def test_same_population_is_stable_and_shift_is_flagged() -> None:
    rng = np.random.default_rng(0)
    reference = _frame(rng, 20_000)
    profile = json.loads(json.dumps(reference_profile(reference)))  # survives JSON
    same = drift_report(profile, _frame(rng, 20_000)).set_index("column")
    assert (same["status"] == "ok").all() and (same["psi"] < 0.01).all()
    shifted = drift_report(profile, _frame(rng, 20_000, shift=0.3)).set_index("column")
    assert (shifted["status"] == "fail").all()
    assert shifted.loc["score__purchase", "ks_pvalue"] < 1e-6


def test_missing_values_and_missing_columns() -> None:
    ref = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0] * 100})
    now = pd.DataFrame({"x": [np.nan] * 400})
    report = drift_report(reference_profile(ref), now).set_index("column")
    assert report.loc["x", "status"] == "fail"  # everything moved into the missing bin
    gone = drift_report(reference_profile(ref), pd.DataFrame({"y": [1.0]}))
    assert gone["status"].tolist() == ["missing"]


def test_ks_on_a_subsample_of_many_rows_matches_the_full_ks() -> None:
    rng = np.random.default_rng(1)
    profile = reference_profile(_frame(rng, 20_000))
    now = _frame(rng, 300_000, shift=0.02)
    full = drift_report(profile, now, ks_max_rows=10**9).set_index("column")
    sub = drift_report(profile, now, ks_max_rows=50_000).set_index("column")
    again = drift_report(profile, now, ks_max_rows=50_000).set_index("column")
    pd.testing.assert_frame_equal(sub, again)  # a fixed seed: reruns agree
    pd.testing.assert_series_equal(sub["psi"], full["psi"])  # PSI counts every row
    for column in ("score__purchase", "rfm__frequency"):
        # the reference holds 5,000 values (KS error ~0.014); the 50k subsample adds ~0.005
        assert sub.loc[column, "ks"] == pytest.approx(full.loc[column, "ks"], abs=0.01)
        assert sub.loc[column, "ks"] != full.loc[column, "ks"]  # the subsample was used


def _p_alive(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"btyd__p_alive": values})


# A degenerate BG/NBD fit (Online Retail): P(alive) 0.99999990-0.99999999 for everyone at
# training, about 0.9995 at scoring. Before the fix its decile bins were 1e-8 wide, every
# scoring row fell below the first edge, and PSI was 8.3 "fail" (4.39 on Online Retail).
TRAINING = [1 - 1e-9 * k for k in range(1, 101)]


def test_a_near_constant_column_that_stays_near_its_value_is_constant_not_drifted() -> None:
    profile = reference_profile(_p_alive(TRAINING))
    report = drift_report(profile, _p_alive([0.9995] * 100)).set_index("column")
    # band [q01 - w, q99 + w], w = 1% of ~1: every row inside, before and now -> PSI 0
    assert report.loc["btyd__p_alive", "psi"] == pytest.approx(0.0)
    assert report.loc["btyd__p_alive", "status"] == "constant"


def test_a_near_constant_column_that_leaves_its_band_still_fails() -> None:
    profile = reference_profile(_p_alive(TRAINING))
    moved = drift_report(profile, _p_alive([0.9995] * 90 + [0.5] * 10)).set_index("column")
    # bins below / inside / above the band, missing: [0, 1, 0, 0] -> [0.1, 0.9, 0, 0]
    expected = population_stability_index([0, 1, 0, 0], [0.1, 0.9, 0, 0])
    assert expected == pytest.approx(0.1 * math.log(0.1 / 1e-4) + 0.1 * math.log(1 / 0.9), 0.01)
    assert moved.loc["btyd__p_alive", "psi"] == pytest.approx(expected)
    assert moved.loc["btyd__p_alive", "status"] == "fail"


def test_constant_band_by_hand() -> None:
    from segml.monitoring import constant_band

    low, high = constant_band([2.0] * 99 + [2.01])  # 1st-99th percentile 2.0 .. 2.0001
    assert (low, high) == pytest.approx((2.0 - 0.020002, 2.0001 + 0.020002))
    assert constant_band([0.0] * 100) == (0.0, 0.0)  # exactly 0: the band is the value itself
    assert constant_band([1.0, 2.0, 3.0] * 10) is None  # varies
    assert constant_band([]) is None

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

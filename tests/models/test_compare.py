"""Paired bootstrap comparisons: verdicts on clear wins, clear losses and noise."""

import numpy as np
import pytest

from segml.models.compare import paired_bootstrap, pool, verdict


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (signal + rng.normal(size=n) > 0).astype(float)
    good = 1 / (1 + np.exp(-signal))
    noise = rng.uniform(size=n)
    return y, good, noise


def test_clear_win_and_loss_are_called():
    y, good, noise = _data()
    win = paired_bootstrap(y, good, noise, metric="roc_auc", n_boot=100)
    assert win.verdict == "beats" and win.low > 0 and win.diff > 0
    lose = paired_bootstrap(y, noise, good, metric="roc_auc", n_boot=100)
    assert lose.verdict == "loses" and lose.high < 0


def test_lower_is_better_metrics_are_oriented():
    y, good, noise = _data()
    c = paired_bootstrap(y, good, noise, metric="log_loss", n_boot=100)
    assert c.model < c.other and c.diff > 0 and c.verdict == "beats"


def test_a_score_against_itself_plus_noise_ties():
    y, good, _ = _data()
    jitter = good + np.random.default_rng(1).normal(scale=1e-4, size=good.size)
    c = paired_bootstrap(y, good, jitter, metric="roc_auc", n_boot=100)
    assert c.verdict == "ties" and c.low <= 0 <= c.high


def test_identical_scores_tie_with_zero_width():
    y, good, _ = _data(500)
    c = paired_bootstrap(y, good, good, metric="gini", n_boot=50)
    assert c.diff == 0 and c.low == 0 and c.high == 0 and c.verdict == "ties"


def test_one_class_is_undefined_not_a_win():
    y = np.zeros(100)
    c = paired_bootstrap(y, np.linspace(0, 1, 100), np.zeros(100), metric="roc_auc", n_boot=30)
    assert c.verdict == "ties" and np.isnan(c.low)


def test_pool_averages_dates():
    y, good, noise = _data()
    parts = [
        paired_bootstrap(y, good, noise, metric="roc_auc", n_boot=60, seed=s) for s in range(3)
    ]
    pooled = pool(parts)
    assert pooled["dates"] == 3 and pooled["verdict"] == "beats" and pooled["dates_beats"] == 3
    assert pooled["diff"] == pytest.approx(np.mean([p.diff for p in parts]))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="one label and two scores per row"):
        paired_bootstrap([0, 1], [0.1], [0.2, 0.3], metric="roc_auc")
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        paired_bootstrap([0, 1], [0.1, 0.2], [0.2, 0.3], metric="auc")
    with pytest.raises(ValueError, match="one metric at a time"):
        y, g, n = _data(200)
        pool(
            [
                paired_bootstrap(y, g, n, metric="roc_auc", n_boot=20),
                paired_bootstrap(y, g, n, metric="brier", n_boot=20),
            ]
        )


@pytest.mark.parametrize(
    ("low", "high", "want"),
    [
        (0.01, 0.02, "beats"),
        (-0.02, -0.01, "loses"),
        (-0.01, 0.01, "ties"),
        (float("nan"), 1, "ties"),
    ],
)
def test_verdict(low, high, want):
    assert verdict(low, high) == want

"""Every backtest metric worked out by hand on 4-10 rows, with ties, constant scores and a lift of
zero; share-of-customers metrics equal the average over every ordering of tied customers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segml.errors import DataError
from segml.models.metrics import (
    classification_metrics,
    decile_table,
    deciles,
    gain_at,
    gain_curve,
    metric_function,
    reliability_table,
    value_metrics,
)

# Ten customers; the top three share one score (0.9) and one of them bought.
#   score: 0.9 0.9 0.9 | 0.8 0.7 0.6 0.5 0.4 0.3 0.2
#   y:     1   0   0   | 1   1   0   0   0   0   0      3 positives, base rate 0.3
TIED_TOP_Y = np.array([1, 0, 0, 1, 1, 0, 0, 0, 0, 0], dtype=float)
TIED_TOP_S = np.array([0.9, 0.9, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])


def test_top_decile_capture_splits_a_tie_across_the_cut_proportionally() -> None:
    # The top 10% is 1 customer, drawn from the tied three: expected positives 1 x 1/3, so the
    # capture is (1/3) / 3 = 1/9 and the lift (1/9) / 0.1 = 10/9. (Merging the tie into the
    # top "decile" gave 3 customers = 30% and a capture of 1/3.)
    m = classification_metrics(TIED_TOP_Y, TIED_TOP_S)
    assert m["top_decile_capture"] == pytest.approx(1 / 9)
    assert m["top_decile_lift"] == pytest.approx(10 / 9)
    assert m["largest_tie_share"] == pytest.approx(0.3)


def test_gain_curve_has_a_knot_per_tie_group_and_is_linear_inside() -> None:
    x, g = gain_curve(TIED_TOP_Y, TIED_TOP_S)
    # knots after 0, 3, 4, 5, ..., 10 customers; gain 0, 1/3, 2/3, 1, 1, ...
    np.testing.assert_allclose(x, [0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    np.testing.assert_allclose(g, [0, 1 / 3, 2 / 3, 1, 1, 1, 1, 1, 1])
    # 20% of customers = 2 of the tied three: 2/3 of a positive of 3 -> 2/9
    assert gain_at(TIED_TOP_Y, TIED_TOP_S, 0.2) == pytest.approx(2 / 9)
    assert gain_at(TIED_TOP_Y, TIED_TOP_S, 0.45) == pytest.approx(5 / 6)  # halfway 0.4 -> 0.5
    assert gain_at(TIED_TOP_Y, TIED_TOP_S, 0.0) == 0 and gain_at(TIED_TOP_Y, TIED_TOP_S, 1) == 1


def test_decile_table_is_ten_equal_shares_with_ties_split() -> None:
    t = decile_table(TIED_TOP_Y, TIED_TOP_S)
    assert t["decile"].to_list() == list(range(10, 0, -1))
    np.testing.assert_allclose(t["n"], 1.0)
    np.testing.assert_allclose(t["cum_share"], np.arange(1, 11) / 10)
    # deciles 10, 9, 8 each get a third of the tie's one positive: mean 1/3, lift (1/3)/0.3
    # then y = 1, 1 (lift 1/0.3), then zeros (lift 0)
    np.testing.assert_allclose(t["actual_total"], [1 / 3] * 3 + [1, 1] + [0] * 5)
    np.testing.assert_allclose(t["lift"], [10 / 9] * 3 + [10 / 3] * 2 + [0] * 5)
    np.testing.assert_allclose(t["cum_gain"], [1 / 9, 2 / 9, 1 / 3, 2 / 3, 1, 1, 1, 1, 1, 1])
    np.testing.assert_allclose(t["pred_mean"], [0.9] * 3 + [0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    np.testing.assert_allclose(t["split_ties"], [1, 1, 1] + [0] * 7)


def test_decile_table_with_fewer_rows_than_deciles() -> None:
    # 4 customers, each decile is 0.4 of one. Score 0.9 (y=1), 0.5 x2 (y=0, 0), 0.1 (y=0).
    # Decile 10 covers customers [0, 0.4): 0.4 of the positive -> actual 0.4, mean 1, lift 4.
    # Decile 8 covers [0.8, 1.2): 0.2 positive + 0.2 of the tie -> mean 0.5, lift 2.
    y = np.array([1, 0, 0, 0], dtype=float)
    s = np.array([0.9, 0.5, 0.5, 0.1])
    t = decile_table(y, s)
    np.testing.assert_allclose(t["n"], 0.4)
    np.testing.assert_allclose(t["lift"][:4], [4, 4, 2, 0])
    np.testing.assert_allclose(t["cum_gain"][:3], [0.4, 0.8, 1.0])
    # the tie spans customers [1, 3): deciles 8 (0.2 of 0.4), 7, 6, 5 (all), 4 (0.2 of 0.4)
    np.testing.assert_allclose(t["split_ties"], [0, 0, 0.5, 1, 1, 1, 1, 0.5, 0, 0])


def test_constant_scores_are_random_targeting() -> None:
    # Everyone at 0.5, 2 of 10 bought: any 10% holds 0.2 expected positives of 2 -> capture 0.1,
    # lift 1; ROC AUC 0.5; ECE |0.5 - 0.2| = 0.3 (one bin); log loss -ln 0.5 = ln 2;
    # Brier (2 x 0.25 + 8 x 0.25) / 10 = 0.25; normalised Gini 0.
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0], dtype=float)
    s = np.full(10, 0.5)
    m = classification_metrics(y, s)
    assert m["top_decile_capture"] == pytest.approx(0.1)
    assert m["top_decile_lift"] == pytest.approx(1.0)
    assert m["roc_auc"] == pytest.approx(0.5)
    assert m["ece"] == pytest.approx(0.3)
    assert m["log_loss"] == pytest.approx(math.log(2))
    assert m["brier"] == pytest.approx(0.25)
    assert m["largest_tie_share"] == 1.0
    t = decile_table(y, s)
    np.testing.assert_allclose(t["lift"], 1.0)
    np.testing.assert_allclose(t["cum_gain"], np.arange(1, 11) / 10)
    np.testing.assert_allclose(t["split_ties"], 1.0)
    v = value_metrics(y * 100, s)
    assert v["gini"] == pytest.approx(0.0) and v["top_decile_revenue_share"] == pytest.approx(0.1)
    assert math.isnan(v["spearman"])


def test_a_top_decile_without_positives_has_lift_and_capture_zero_not_nan() -> None:
    # The top customer (0.9) did not buy: capture 0 / 2 = 0 and lift 0, real numbers.
    y = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 0], dtype=float)
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1])
    m = classification_metrics(y, s)
    assert m["top_decile_capture"] == 0.0
    assert m["top_decile_lift"] == 0.0
    assert value_metrics(y, s)["top_decile_revenue_share"] == 0.0


def test_log_loss_and_brier_by_hand() -> None:
    # y = 1, 0, 1, 0; p = 0.8, 0.2, 0.6, 0.5
    # log loss = -(ln 0.8 + ln 0.8 + ln 0.6 + ln 0.5) / 4 = (0.22314 x 2 + 0.51083 + 0.69315)/4
    # Brier = (0.2^2 + 0.2^2 + 0.4^2 + 0.5^2) / 4 = (0.04 + 0.04 + 0.16 + 0.25) / 4 = 0.1225
    y = np.array([1, 0, 1, 0], dtype=float)
    p = np.array([0.8, 0.2, 0.6, 0.5])
    m = classification_metrics(y, p)
    assert m["log_loss"] == pytest.approx(-(2 * math.log(0.8) + math.log(0.6) + math.log(0.5)) / 4)
    assert m["log_loss"] == pytest.approx(0.412565, abs=1e-6)
    assert m["brier"] == pytest.approx(0.1225)
    # a certain wrong answer is clipped at 1e-6: -ln(1e-6) = 13.8155 for that row
    assert classification_metrics(np.array([1.0, 0.0]), np.array([0.0, 0.0]))[
        "log_loss"
    ] == pytest.approx((-math.log(1e-6) - math.log(1 - 1e-6)) / 2)


def test_roc_and_pr_auc_by_hand_with_a_tie() -> None:
    # y = 1, 0, 1, 0 scored 0.8, 0.8, 0.5, 0.2.
    # ROC AUC over the 4 positive-negative pairs: (0.8 vs 0.8) tie = 1/2, (0.8 vs 0.2) = 1,
    # (0.5 vs 0.8) = 0, (0.5 vs 0.2) = 1 -> 2.5 / 4 = 0.625.
    # PR AUC over the distinct thresholds: >= 0.8 takes both tied rows (precision 1/2, recall
    # 1/2), >= 0.5 adds a positive (precision 2/3, recall 1): 1/2 x 1/2 + 1/2 x 2/3 = 7/12.
    y = np.array([1, 0, 1, 0], dtype=float)
    p = np.array([0.8, 0.8, 0.5, 0.2])
    m = classification_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(0.625)
    assert m["pr_auc"] == pytest.approx(7 / 12)


def test_ece_by_hand() -> None:
    # bins of width 0.1: 0.05 -> bin 0, 0.15 -> bin 1, 0.95 -> bin 9
    # bin 0: 1 row, predicted 0.05, observed 0   -> 1/5 x 0.05 = 0.01
    # bin 1: 2 rows, predicted 0.15, observed 0.5 -> 2/5 x 0.35 = 0.14
    # bin 9: 2 rows, predicted 0.95, observed 1   -> 2/5 x 0.05 = 0.02      ECE = 0.17
    y = np.array([0, 0, 1, 1, 1], dtype=float)
    p = np.array([0.05, 0.15, 0.15, 0.95, 0.95])
    assert classification_metrics(y, p)["ece"] == pytest.approx(0.17)
    rel = reliability_table(y, p)
    assert rel["bin"].to_list() == [0, 1, 9] and rel["n"].to_list() == [1, 2, 2]
    np.testing.assert_allclose(rel["observed"], [0, 0.5, 1])


def test_gini_by_hand_without_ties() -> None:
    # revenue y = 3, 1, 0, 0 scored v = 0.9, 0.1, 0.5, 0.2. Highest v first: y = 3, 0, 0, 1.
    # gain at 0, 1/4 .. 1: 0, .75, .75, .75, 1 -> trapezoid area 0.6875, Gini 0.6875 - 0.5 = 0.1875
    # perfect order 3, 1, 0, 0: 0, .75, 1, 1, 1 -> area 0.8125, Gini 0.3125; normalised 0.6
    y = np.array([3, 1, 0, 0], dtype=float)
    v = np.array([0.9, 0.1, 0.5, 0.2])
    assert value_metrics(y, v)["gini"] == pytest.approx(0.6)
    assert value_metrics(y, y)["gini"] == pytest.approx(1.0)
    # worst order: 0, 0 (tied), 1, 3 -> gain 0, 0, .25, 1 at 0, .5, .75, 1: area 0.1875,
    # Gini -0.3125, normalised -1
    assert value_metrics(y, -y)["gini"] == pytest.approx(-1.0)


def test_gini_with_ties_does_not_depend_on_row_order() -> None:
    # y = 1, 0, 1, 0 with v = 0.5, 0.5, 0.2, 0.2: each tie holds one of the two positives, so
    # the tie-grouped gain is the diagonal (0, .5, 1 at 0, .5, 1): Gini 0 in any row order.
    # (Ordering ties by row gave +0.5 in this order and -0.5 in the reversed one.)
    y = np.array([1, 0, 1, 0], dtype=float)
    v = np.array([0.5, 0.5, 0.2, 0.2])
    assert value_metrics(y, v)["gini"] == pytest.approx(0.0)
    assert value_metrics(y[::-1].copy(), v[::-1].copy())["gini"] == pytest.approx(0.0)


def _positional_capture(y: np.ndarray, order: np.ndarray, k: int) -> float:
    return float(y[order][:k].sum() / y.sum())


def _positional_gini(y: np.ndarray, order: np.ndarray) -> float:
    cum = np.cumsum(y[order]) / y.sum()
    return float(np.sum(cum - np.arange(1, len(y) + 1) / len(y)) / len(y))


def test_share_metrics_are_the_mean_over_every_tie_ordering() -> None:
    # 8 customers, a tie of four across the 10%/20%/.. cuts: averaging the positional capture
    # and Gini over all 4! orderings of the tie gives gain_at and the tie-grouped Gini.
    y = np.array([2, 0, 1, 0, 3, 0, 1, 0], dtype=float)
    s = np.array([0.9, 0.7, 0.7, 0.7, 0.7, 0.3, 0.2, 0.1])
    tied = [1, 2, 3, 4]
    orders = [np.array([0, *perm, 5, 6, 7]) for perm in itertools.permutations(tied)]
    for k in range(9):
        mean = np.mean([_positional_capture(y, o, k) for o in orders])
        assert gain_at(y, s, k / 8) == pytest.approx(mean)
    perfect = _positional_gini(y, np.argsort(-y, kind="stable"))
    mean_gini = np.mean([_positional_gini(y, o) for o in orders]) / perfect
    assert value_metrics(y, s)["gini"] == pytest.approx(mean_gini)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 3)), min_size=4, max_size=30),
       st.randoms(use_true_random=False))  # fmt: skip
def test_every_metric_ignores_row_order(rows: list[tuple[int, int]], rnd: object) -> None:
    y = np.array([r[0] for r in rows], dtype=float)
    s = np.array([r[1] for r in rows], dtype=float) / 4 + 0.1  # heavy ties
    perm = np.arange(len(rows))
    rnd.shuffle(perm)  # type: ignore[attr-defined]
    for fn in (classification_metrics, value_metrics):
        a, b = fn(y, s), fn(y[perm], s[perm])
        np.testing.assert_allclose(list(a.values()), list(b.values()), equal_nan=True)
    ta, tb = decile_table(y, s), decile_table(y[perm], s[perm])
    np.testing.assert_allclose(ta.to_numpy().astype(float), tb.to_numpy().astype(float),
                               equal_nan=True)  # fmt: skip


def test_deciles_label_each_customer_once_and_ties_together() -> None:
    s = np.array([0.9, 0.9, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    d = deciles(s)
    assert d.tolist() == [10, 10, 10, 7, 6, 5, 4, 3, 2, 1]
    perm = np.array([3, 0, 9, 1, 8, 2, 7, 4, 6, 5])
    assert deciles(s[perm]).tolist() == d[perm].tolist()
    assert deciles(np.full(5, 0.3)).tolist() == [10] * 5
    assert deciles(np.zeros(0)).size == 0


def test_no_labels_no_rows() -> None:
    y, s = np.zeros(5), np.linspace(0.1, 0.5, 5)
    m = classification_metrics(y, s)
    assert math.isnan(m["top_decile_capture"]) and math.isnan(m["top_decile_lift"])
    assert math.isnan(m["roc_auc"])
    assert decile_table(y, s)["cum_gain"].null_count() == 10
    assert decile_table(np.zeros(0), np.zeros(0)).height == 0
    assert math.isnan(value_metrics(y, s)["gini"])


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        (np.zeros(3), np.zeros(4), r"one label per score; got labels of shape \(3,\)"),
        (np.zeros(2), np.array([0.1, np.nan]), r"finite scores; found 1 of 2 .* row 1"),
    ],
)
def test_bad_input_is_refused(y: np.ndarray, s: np.ndarray, match: str) -> None:
    for fn in (classification_metrics, value_metrics, decile_table, gain_curve):
        with pytest.raises(DataError, match=match):
            fn(y, s)


@pytest.mark.parametrize(
    ("name", "sign"),
    [("top_decile_capture", 1), ("top_decile_lift", 1), ("ece", -1), ("gini", 1), ("brier", -1)],
)
def test_metric_functions_match_the_metric_tables(name: str, sign: float) -> None:
    fn, direction = metric_function(name)
    assert direction == sign
    table = value_metrics if name == "gini" else classification_metrics
    assert fn(TIED_TOP_Y, TIED_TOP_S) == pytest.approx(table(TIED_TOP_Y, TIED_TOP_S)[name])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_metrics_match_sklearn_and_scipy_with_ties(seed: int) -> None:
    from scipy import stats
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        log_loss,
        roc_auc_score,
    )

    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=300) < 0.3).astype(float)
    p = np.round(rng.uniform(size=300), 1)  # 11 distinct values: heavy ties
    m = classification_metrics(y, p)
    pc = np.clip(p, 1e-6, 1 - 1e-6)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, pc))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, pc))
    assert m["log_loss"] == pytest.approx(log_loss(y, pc))
    assert m["brier"] == pytest.approx(brier_score_loss(y, pc))
    v = rng.gamma(1.0, size=300) * y
    assert value_metrics(v, p)["spearman"] == pytest.approx(stats.spearmanr(v, p).statistic)

"""The champion/challenger rule on hand-made scores: a win must be beyond the noise on the
primary metric with no material loss on the secondary; the first model must not lose to the
baselines beyond the noise."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from segml.errors import DataError, SegmlError
from segml.models.promotion import PromotionRule, decide

RULE = PromotionRule(n_boot=50)


def _task(n: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * signal))).astype(float)
    return y, signal


def _prob(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def test_a_clearly_better_challenger_is_promoted() -> None:
    y, signal = _task()
    rng = np.random.default_rng(1)
    good, weak = _prob(2 * signal), _prob(2 * signal + 3 * rng.normal(size=y.size))
    d = decide(y, good, target="purchase", baselines={"rfm": weak}, champion=weak,
               champion_version="1", rule=RULE)  # fmt: skip
    assert d.promote and d.reason.startswith("beats champion v1 beyond the noise")
    c = d.comparisons["champion"]["primary"]
    assert c.metric == "roc_auc" and c.low > 0 and c.rows == y.size
    tags = d.tags()
    assert tags["promotion.decision"] == "promoted" and tags["promotion.champion_version"] == "1"
    assert float(tags["promotion.challenger.roc_auc"]) == pytest.approx(c.model, rel=1e-5)
    assert float(tags["promotion.champion.roc_auc"]) == pytest.approx(c.other, rel=1e-5)
    assert float(tags["promotion.margin_low"]) == pytest.approx(c.low, rel=1e-5)
    assert set(json.loads(tags["promotion.comparisons"])) == {"rfm", "champion"}
    assert "vs champion: roc_auc" in d.description(cutoff="2024-12-01")


@pytest.mark.parametrize(
    ("noise", "why"),
    [
        (0.0, "does not beat champion v1 beyond the noise"),  # the same scores: a tie
        (0.05, "does not beat champion v1 beyond the noise"),  # a slightly different model
        (3.0, "does not beat champion v1 beyond the noise"),  # a worse one
    ],
)
def test_no_win_beyond_the_noise_keeps_the_champion(noise: float, why: str) -> None:
    y, signal = _task()
    champion = _prob(2 * signal)
    challenger = _prob(2 * signal + noise * np.random.default_rng(2).normal(size=y.size))
    d = decide(y, challenger, target="purchase", baselines={}, champion=champion,
               champion_version="1", rule=RULE)  # fmt: skip
    assert not d.promote and d.reason.startswith(why)
    assert d.tags()["promotion.decision"] == "rejected"


def test_a_better_ranking_with_a_material_loss_of_calibration_is_not_promoted() -> None:
    y, signal = _task()
    rng = np.random.default_rng(3)
    champion = _prob(2 * signal + 0.8 * rng.normal(size=y.size))
    squeezed = 0.5 + 0.02 * (_prob(2 * signal) - 0.5)  # perfect order, probabilities near 0.5
    d = decide(y, squeezed, target="purchase", baselines={}, champion=champion,
               champion_version="4", rule=RULE)  # fmt: skip
    assert d.comparisons["champion"]["primary"].verdict == "beats"
    assert not d.promote and d.reason.startswith("loses materially to champion v4 (log_loss")


def test_min_gain_is_a_margin_beyond_the_noise() -> None:
    y, signal = _task()
    rng = np.random.default_rng(4)
    champion = _prob(2 * signal + 1.0 * rng.normal(size=y.size))
    challenger = _prob(2 * signal)
    low = decide(y, challenger, target="purchase", baselines={}, champion=champion,
                 rule=RULE).comparisons["champion"]["primary"].low  # fmt: skip
    assert low > 0
    strict = PromotionRule(n_boot=50, min_gain=low + 0.001)
    assert decide(
        y, challenger, target="purchase", baselines={}, champion=champion, rule=RULE
    ).promote
    assert not decide(y, challenger, target="purchase", baselines={}, champion=champion,
                      rule=strict).promote  # fmt: skip


def test_first_model_needs_only_not_to_lose_to_the_baselines() -> None:
    y, signal = _task()
    rng = np.random.default_rng(5)
    model = _prob(2 * signal + 0.2 * rng.normal(size=y.size))
    tie = decide(y, model, target="purchase", baselines={"rfm": model.copy()}, rule=RULE)
    assert tie.promote and tie.reason.startswith("first model")
    better = _prob(2 * signal)
    lost = decide(y, _prob(signal + 2 * rng.normal(size=y.size)), target="purchase",
                  baselines={"rfm": model, "btyd": better}, rule=RULE)  # fmt: skip
    assert not lost.promote and lost.reason.startswith("loses to the rfm baseline beyond the noise")
    # a challenger that would beat the champion still has to hold its own against the baselines
    weaker = _prob(2 * signal + 1.0 * rng.normal(size=y.size))
    d = decide(y, weaker, target="purchase", baselines={"btyd": better},
               champion=_prob(signal + 3 * rng.normal(size=y.size)), rule=RULE)  # fmt: skip
    assert not d.promote and "btyd baseline" in d.reason


def test_value_target_uses_gini_then_spearman() -> None:
    rng = np.random.default_rng(6)
    spend = rng.gamma(0.3, 50, size=1500) * (rng.random(1500) < 0.4)
    good, noisy = spend + rng.gamma(1, 2, 1500), spend + rng.gamma(1, 40, 1500)
    d = decide(spend, good, target="value", baselines={}, champion=noisy, rule=RULE)
    assert [c.metric for c in d.comparisons["champion"].values()] == ["gini", "spearman"]
    assert d.promote


def test_a_large_backtest_is_compared_on_a_sample_of_max_rows() -> None:
    y, signal = _task(n=3000)
    rng = np.random.default_rng(7)
    a, b = _prob(2 * signal), _prob(2 * signal + 2 * rng.normal(size=y.size))
    d = decide(y, a, target="purchase", baselines={}, champion=b,
               rule=PromotionRule(n_boot=50, max_rows=1000))  # fmt: skip
    assert d.rows == 3000 and d.comparisons["champion"]["primary"].rows == 1000
    assert "sample of 1,000 of the 3,000" in d.notes[0] and "promotion.notes" in d.tags()


@pytest.mark.parametrize(
    "kw",
    [
        {"level": 1.0},
        {"n_boot": 10},
        {"min_gain": -0.1},
        {"secondary_tolerance": -1.0},
        {"max_rows": 10},
    ],
)
def test_bad_rule(kw: dict[str, float]) -> None:
    with pytest.raises(DataError, match=r"PromotionRule needs 0\.5 <= level < 1"):
        PromotionRule(**kw)  # type: ignore[arg-type]


def test_the_config_carries_the_rule(tmp_path: Any) -> None:
    from segml.config import Config, load_config

    path = tmp_path / "c.yaml"
    path.write_text("training: {promotion: {min_gain: 0.005, n_boot: 80}}\n")
    p = load_config(path).training.promotion
    assert PromotionRule(**p.model_dump()) == PromotionRule(min_gain=0.005, n_boot=80)
    path.write_text("training: {promotion: {dates: 5}}\n")
    p = load_config(path).training.promotion
    assert PromotionRule(**p.model_dump()).dates == 5
    assert "dates" not in Config().training.promotion.model_dump()  # config_hash unchanged
    path.write_text("training: {promotion: {min_gian: 0.005}}\n")
    with pytest.raises(SegmlError, match="min_gian"):
        load_config(path)


def _dates(challenger_noise: list[float], champion_noise: float = 1.0) -> list[Any]:
    """Three backtest dates, new customers each time; the challenger's noise per date."""
    from segml.models.promotion import DateScores

    out = []
    for i, noise in enumerate(challenger_noise):
        y, signal = _task(n=1500, seed=20 + i)
        rng = np.random.default_rng(30 + i)
        champ = _prob(2 * signal + champion_noise * rng.normal(size=y.size))
        ours = _prob(2 * signal + noise * rng.normal(size=y.size))
        out.append(DateScores(f"2024-0{i + 7}-01", y, ours, {}, champ))
    return out


def test_a_worse_challenger_lucky_on_the_last_date_is_not_promoted() -> None:
    """Issue 12: promotion decided on one backtest date. A challenger worse than the champion
    at two dates and better at the latest one (the date the single-date rule looked at) was
    promoted; pooled over the three dates it is not."""
    from segml.models.promotion import decide_dates

    dates = _dates([2.0, 2.0, 0.3])
    last = dates[-1]
    alone = decide(last.y, last.challenger, target="purchase", baselines={},
                   champion=last.champion, champion_version="1", rule=RULE)  # fmt: skip
    assert alone.promote  # what the single-date rule did
    d = decide_dates(dates, target="purchase", champion_version="1", rule=RULE)
    assert not d.promote and d.reason.startswith("does not beat champion v1 beyond the noise")
    per = [c.verdict for _, c in d.per_date["champion"]["primary"]]
    assert per == ["loses", "loses", "beats"]
    pooled = d.comparisons["champion"]["primary"]
    diffs = [c.diff for _, c in d.per_date["champion"]["primary"]]
    assert pooled.diff == pytest.approx(np.mean(diffs)) and pooled.low < 0
    assert pooled.rows == 4500 == d.rows
    tags = d.tags()
    assert tags["promotion.dates"] == "2024-07-01,2024-08-01,2024-09-01"
    table = json.loads(tags["promotion.per_date"])["champion"]["roc_auc"]
    assert [v[-1] for v in table.values()] == ["loses", "loses", "beats"]
    text = d.description(cutoff="2024-09-01")
    assert "Backtest dates 2024-07-01, 2024-08-01, 2024-09-01 (3, pooled)" in text
    assert "    2024-09-01: roc_auc" in text and text.count("beats") >= 1
    json.dumps(d.as_record(), allow_nan=False)  # strict JSON for the run's artifact


def test_a_genuinely_better_challenger_is_promoted_over_dates() -> None:
    from segml.models.promotion import decide_dates

    d = decide_dates(_dates([0.3, 0.3, 0.3]), target="purchase", champion_version="2",
                     rule=RULE)  # fmt: skip
    assert d.promote and d.reason.startswith("beats champion v2 beyond the noise")
    assert all(c.verdict == "beats" for _, c in d.per_date["champion"]["primary"])


def test_the_champion_is_pooled_only_over_the_dates_it_is_compared_at() -> None:
    """A date without champion scores (it had seen those labels) counts for the baselines only."""
    import dataclasses

    from segml.models.promotion import decide_dates

    dates = _dates([0.3, 0.3, 0.3])
    dates = [dataclasses.replace(x, baselines={"rfm": x.champion}) for x in dates]
    dates[0] = dataclasses.replace(dates[0], champion=None)
    d = decide_dates(dates, target="purchase", champion_version="2", rule=RULE)
    assert len(d.per_date["rfm"]["primary"]) == 3
    assert [x for x, _ in d.per_date["champion"]["primary"]] == ["2024-08-01", "2024-09-01"]
    with pytest.raises(DataError, match="at least one backtest date"):
        decide_dates([], target="purchase")


def test_the_reason_says_which_dates_were_pooled() -> None:
    import dataclasses

    from segml.models.promotion import decide_dates

    dates = _dates([0.3, 0.3, 0.3])
    dates[0] = dataclasses.replace(dates[0], champion=None)
    d = decide_dates(dates, target="purchase", champion_version="2", rule=RULE)
    assert d.reason.endswith(
        "[values pooled over the backtest dates 2024-07-01, 2024-08-01, 2024-09-01; "
        "champion at 2024-08-01, 2024-09-01]"
    )
    one = decide(dates[1].y, dates[1].challenger, target="purchase", baselines={}, rule=RULE)
    assert "pooled" not in one.reason

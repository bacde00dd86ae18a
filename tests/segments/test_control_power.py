"""Control-group draws (stable, uniform, independent of everything but the key) and the
minimum detectable lift, against hand-worked numbers."""

from __future__ import annotations

import polars as pl
import pytest

from segml.segments import control_draw, control_draws, minimum_detectable_lift

# int(md5("C000001|vip_at_risk|spring-2024").hexdigest()[:13], 16) / 2**52, with the digest
# a2538aedcde4550dc9b453999a842660 computed once with hashlib and pinned here, so a change of
# library, platform or version cannot move a customer between groups unnoticed.
GOLDEN = [
    (("C000001", "vip_at_risk", "spring-2024"), 0xA2538AEDCDE45 / 2**52),
    ((12345, "lapsed", "s"), 0x5705C504E5ADC / 2**52),
    (("müller", "lapsed", "s"), 0xFFA254FD6005C / 2**52),
]


@pytest.mark.parametrize(("key", "expected"), GOLDEN)
def test_draws_are_pinned(key: tuple, expected: float) -> None:
    assert control_draw(*key) == expected
    frame = pl.DataFrame({"customer_id": [str(key[0])], "segment": [key[1]]})
    assert control_draws(frame, salt=key[2]).to_list() == [expected]


def test_vectorised_draws_match_the_reference_and_ignore_other_rows() -> None:
    ids = [f"C{i:06d}" for i in range(500)] + ["客户-7", "o'brien", "a|b", ""]
    frame = pl.DataFrame({"customer_id": ids, "segment": ["lapsed", "vip"] * (len(ids) // 2)})
    draws = control_draws(frame, salt="s1").to_list()
    assert draws == [control_draw(c, s, "s1") for c, s in frame.iter_rows()]
    shuffled = frame.with_row_index().sample(fraction=1.0, shuffle=True, seed=4)
    again = control_draws(shuffled.drop("index"), salt="s1").to_list()
    assert again == [draws[i] for i in shuffled.get_column("index")]
    assert control_draws(frame.head(7), salt="s1").to_list() == draws[:7]
    assert control_draws(frame, salt="s2").to_list() != draws  # a new salt, a new draw


def test_draws_skip_rows_not_asked_for() -> None:
    frame = pl.DataFrame(
        {"customer_id": ["a", "b", "c"], "segment": ["x", "x", "x"], "go": [True, False, True]}
    )
    draws = control_draws(frame, salt="s", where="go").to_list()
    assert draws[1] is None and draws[0] == control_draw("a", "x", "s")


def test_draws_are_uniform_enough_for_the_share() -> None:
    frame = pl.DataFrame({"customer_id": [f"C{i:07d}" for i in range(20_000)]}).with_columns(
        segment=pl.lit("everyone")
    )
    draws = control_draws(frame, salt="share-check")
    assert draws.min() >= 0 and draws.max() < 1
    # binomial(20000, 0.1): sd 0.0021, so 0.09..0.11 is more than 4.7 sd either side
    assert 0.09 < (draws < 0.1).mean() < 0.11
    # deciles all near 0.1 (chi-square would be overkill; each is > 4 sd from failing)
    counts = (draws * 10).floor().value_counts().get_column("count")
    assert counts.min() > 1800 and counts.max() < 2200


def test_minimum_detectable_lift_by_hand() -> None:
    # z(0.975) + z(0.8) = 1.959964 + 0.841621 = 2.801585
    # p = 0.1, n = 1000 + 1000: sqrt(0.1 * 0.9 * (1/1000 + 1/1000)) = sqrt(0.00018) = 0.0134164
    # MDE = 2.801585 * 0.0134164 = 0.037587 (3.76 points), relative 0.037587 / 0.1 = 37.6 %
    lift = minimum_detectable_lift(1000, 1000, 0.1)
    assert lift.absolute == pytest.approx(0.037587, abs=1e-6)
    assert lift.relative == pytest.approx(0.37587, abs=1e-5)
    # p = 0.05, 9000 treated, 1000 control: sqrt(0.0475 * 0.00111111) = 0.0072649 -> 0.020353
    assert minimum_detectable_lift(9000, 1000, 0.05).absolute == pytest.approx(0.020353, abs=1e-6)
    # a smaller alpha or a higher power needs a bigger lift
    assert minimum_detectable_lift(1000, 1000, 0.1, alpha=0.01).absolute > lift.absolute
    assert minimum_detectable_lift(1000, 1000, 0.1, power=0.9).absolute > lift.absolute


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0, 100, 0.1), {}, r"'n_treatment' parameter .* range \[1, inf\). Got 0 instead"),
        ((100, 2.5, 0.1), {}, r"'n_control' parameter .* Got 2.5 instead"),
        ((100, 100, 0.0), {}, r"'baseline' parameter .* range \(0, 1\). Got 0.0 instead"),
        ((100, 100, 1.0), {}, r"'baseline' parameter"),
        ((100, 100, 0.1), {"alpha": 1.5}, r"'alpha' parameter"),
        ((100, 100, 0.1), {"power": 0}, r"'power' parameter"),
    ],
)
def test_minimum_detectable_lift_rejects_bad_parameters(args, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        minimum_detectable_lift(*args, **kwargs)

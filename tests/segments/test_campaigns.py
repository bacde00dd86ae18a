"""What a campaign needs beyond assignment, worked out by hand on the tiny table: the overlap
report, consent per segment and channel with exclusions counted by reason, control groups
(stability and realised share), size checks, optional segments, and changes over time."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from segml.errors import ConfigError
from segml.segments import Segmenter, SegmentReport, minimum_detectable_lift
from segml.segments.transitions import segment_changes
from tests.segments.helpers import RULES, RULESET, scored_store, tiny


def _by_name(report: SegmentReport) -> dict[str, dict]:
    return {s["segment"]: s for s in report.segments}


def test_overlap_report_shows_what_priorities_resolved() -> None:
    # matches: vip_at_risk {a}, lapsed {a, b, g}, loyal {c}, everyone_gb {a, c, d}
    seg = Segmenter(rules=RULESET)
    report = seg.fit_segment(tiny()).report
    pairs = {(p["segment"], p["other"]): p for p in report.overlaps["pairs"]}
    assert {k: (p["both"], p["to_segment"], p["to_higher_priority"]) for k, p in pairs.items()} == {
        ("vip_at_risk", "lapsed"): (1, 1, 0),
        ("vip_at_risk", "everyone_gb"): (1, 1, 0),
        ("lapsed", "everyone_gb"): (1, 0, 1),  # a: both, but vip_at_risk comes first
        ("loyal", "everyone_gb"): (1, 1, 0),
    }
    assert report.overlaps["resolved"] == {
        "lapsed": {"vip_at_risk": 1},
        "everyone_gb": {"vip_at_risk": 1, "loyal": 1},
    }
    assert "lapsed & everyone_gb: 1, 0 assigned to lapsed, 1 to a higher priority" in str(report)
    member = Segmenter(rules={**RULESET, "mode": "membership"})
    member_report = member.fit_segment(tiny()).report
    assert {(p["segment"], p["other"], p["both"]) for p in member_report.overlaps["pairs"]} == {
        (a, b, 1) for a, b in pairs
    }
    assert member_report.overlaps["resolved"] == {}


def test_consent_is_per_segment_and_exclusions_are_counted_by_reason() -> None:
    # lapsed = b (email 1, sms 0) and g (email 0, sms 1); f has a missing sms flag
    rules = {**RULESET, "segments": [
        {**RULESET["segments"][0], "channels": ["email", "sms"]},
        *RULESET["segments"][1:],
    ]}  # fmt: skip
    seg = Segmenter(rules=rules)
    result = seg.fit_segment(tiny())
    rows = {r["customer_id"]: r for r in result.members.iter_rows(named=True)}
    assert (rows["b"]["eligible__email"], rows["b"]["eligible__sms"]) == (True, False)
    assert (rows["g"]["eligible__email"], rows["g"]["eligible__sms"]) == (False, True)
    assert _by_name(result.report)["lapsed"]["exclusions"] == {
        "email": {"no_opt_in": 1},
        "sms": {"no_opt_in": 1},
    }
    # this segment's email needs the sms opt-in instead: b loses email, g gains it
    override = {**rules, "segments": [
        {**rules["segments"][0], "consent": {"email": "attr__sms_consent"}}, *rules["segments"][1:],
    ]}  # fmt: skip
    seg = Segmenter(rules=override)
    rows = {r["customer_id"]: r for r in seg.fit_transform(tiny()).iter_rows(named=True)}
    assert (rows["b"]["eligible__email"], rows["g"]["eligible__email"]) == (False, True)
    # a missing flag is no consent, counted apart from an explicit no
    unknown = tiny().with_columns(
        pl.when(pl.col("customer_id") == "b").then(None).otherwise(pl.col("attr__email_consent"))
        .alias("attr__email_consent")
    )  # fmt: skip
    seg = Segmenter(rules=rules)
    report = seg.fit_segment(unknown).report
    excluded = {"no_opt_in": 1, "consent_unknown": 1}
    assert _by_name(report)["lapsed"]["exclusions"]["email"] == excluded
    report = seg.fit_segment(tiny().drop("attr__email_consent")).report
    assert _by_name(report)["lapsed"]["exclusions"]["email"] == {"no_consent_column": 2}
    assert _by_name(report)["lapsed"]["audience"]["email"] == 0


def _crowd(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    return pl.DataFrame(
        {"customer_id": [f"K{i:07d}" for i in range(n)], "x": rng.integers(0, 3, n).astype(float)}
    )


_CROWD_RULES = {
    "channels": {"onsite": None},
    "control": {"salt": "crowd", "share": 0.1},
    "power": {"baseline": 0.1},
    "segments": [
        {"name": "zero", "priority": 1, "when": "x == 0", "channels": ["onsite"]},
        {"name": "rest", "priority": 2, "when": "x >= 1", "channels": ["onsite"],
         "control_share": 0.3},
    ],
}  # fmt: skip


def test_control_groups_are_stable_and_their_realised_share_within_tolerance() -> None:
    crowd = _crowd(30_000)
    seg = Segmenter(rules=_CROWD_RULES)
    result = seg.fit_segment(crowd)
    first = result.members
    for s in result.report.segments[:2]:
        n = s["treatment"] + s["control"]
        assert s["control_realised"] == s["control"] / n
        # 4 binomial standard errors (+ one customer): 30,000 x 1/3 at 0.1 is +- 0.0066
        assert s["control_tolerance"] == pytest.approx(
            4 * np.sqrt(s["control_share"] * (1 - s["control_share"]) / n) + 1 / n
        )
        assert abs(s["control_realised"] - s["control_share"]) <= s["control_tolerance"]
        assert "control_off" not in s["flags"]
    again = Segmenter(rules=_CROWD_RULES).fit_transform(crowd.sample(fraction=1.0, shuffle=True))
    assert first.equals(again)  # same salt: the same split, whatever the row order
    fewer = Segmenter(rules=_CROWD_RULES).fit_transform(crowd.head(10_000))
    assert fewer.equals(
        first.filter(pl.col("customer_id").is_in(crowd.head(10_000)["customer_id"].to_list()))
    )
    salted = Segmenter(rules={**_CROWD_RULES, "control": {"salt": "other", "share": 0.1}})
    other = salted.fit_transform(crowd)
    assert (other["group"] != first["group"]).sum() > 3_000  # a new salt draws afresh


def test_size_checks_report_the_detectable_lift_and_flag_small_segments() -> None:
    rules = {
        **_CROWD_RULES,
        "min_size": 5_000,
        "power": {"baseline": 0.1, "max_relative_lift": 0.25},
    }
    seg = Segmenter(rules=rules)
    report = seg.fit_segment(_crowd(12_000)).report
    zero, rest = report.segments[:2]
    hand = minimum_detectable_lift(zero["treatment"], zero["control"], 0.1)
    assert zero["mde"] == {
        "absolute": pytest.approx(hand.absolute),
        "relative": pytest.approx(hand.relative),
    }
    # about 4,000 members, 400 in control: 2.8016 * sqrt(.09 (1/3600 + 1/400)) = 0.0443 (+44 %)
    assert zero["mde"]["absolute"] == pytest.approx(0.0443, abs=0.003)
    assert zero["flags"] == ["too_small", "untestable"]
    assert rest["members"] > 5_000 and rest["flags"] == []  # 8,043, 30 % control: 0.0204 (+20 %)
    assert any("'zero' is too small to test (" in n for n in report.notes)


def test_optional_segments_are_skipped_when_the_data_cannot_have_their_features() -> None:
    rules = {**RULESET, "segments": [
        *RULESET["segments"],
        {"name": "carts", "priority": 9, "when": "intent__abandoned_cart == 1", "optional": True},
    ]}  # fmt: skip
    seg = Segmenter(rules=rules)
    report = seg.fit_segment(tiny()).report
    assert _by_name(report)["carts"]["flags"] == ["skipped"]
    assert any("'carts' skipped (optional): the data has no ['intent__abandoned_cart']" in n
               for n in report.notes)  # fmt: skip
    kart = {"name": "carts", "priority": 9, "when": "intent__abandoned_kart == 1", "optional": True}
    typo = {**rules, "segments": [*RULESET["segments"], kart]}
    with pytest.raises(ConfigError, match="unknown column 'intent__abandoned_kart'"):
        Segmenter(rules=typo).fit(tiny())  # a name segml never makes is a typo, optional or not
    required = {**rules, "segments": [*RULESET["segments"], {
        "name": "carts", "priority": 9, "when": "intent__abandoned_cart == 1"}]}  # fmt: skip
    with pytest.raises(ConfigError, match="unknown column 'intent__abandoned_cart'"):
        Segmenter(rules=required).fit(tiny())


ORDERS_ONLY = ("intent__", "engagement__", "affinity__view_share_", "attr__email", "attr__sms")


def test_the_default_rule_set_on_an_orders_only_store() -> None:
    # Online Retail's shape: no events (no intent__, engagement__ or view shares), no consent
    scored = scored_store()
    scored = scored.drop([c for c in scored.columns if c.startswith(ORDERS_ONLY)])
    seg = Segmenter(rules=RULES)
    result = seg.fit_segment(scored)
    members, by_name = result.members, _by_name(result.report)
    skipped = [s for s, row in by_name.items() if "skipped" in row["flags"]]
    assert (
        skipped == [s for s in by_name if s.startswith(("cart_", "browse_"))] and len(skipped) == 8
    )
    lifecycle = ["reactivated", "at_risk", "high_value", "lapsed", "first_time_buyers",
                 "repeat_buyers", "prospects"]  # fmt: skip
    assert all(by_name[s]["members"] > 0 for s in lifecycle)
    assert not members.get_column("eligible__email").any()  # no consent column: nobody
    assert members.get_column("eligible__onsite").any()


def test_transitions_and_size_changes_by_hand() -> None:
    current = Segmenter(rules=RULESET).fit_transform(tiny())
    # now: a vip_at_risk, b lapsed, c loyal, d everyone_gb, e/f no_segment, g lapsed
    previous = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "f", "z"],
            "segment": [
                "lapsed",
                "lapsed",
                "loyal",
                "lapsed",
                "no_segment",
                "vip_at_risk",
                "loyal",
            ],
            "primary": [True] * 7,
        }
    )
    table, summary = segment_changes(previous, current)
    moves = {
        (r["from_segment"], r["to_segment"]): r["customers"] for r in table.iter_rows(named=True)
    }
    assert moves == {
        ("lapsed", "vip_at_risk"): 1, ("lapsed", "lapsed"): 1, ("lapsed", "everyone_gb"): 1,
        ("loyal", "loyal"): 1, ("loyal", "(gone)"): 1, ("no_segment", "no_segment"): 1,
        ("vip_at_risk", "no_segment"): 1, ("(new)", "lapsed"): 1,
    }  # fmt: skip
    assert (summary["moved"], summary["new"], summary["gone"]) == (3, 1, 1)
    sizes = {r["segment"]: (r["previous"], r["current"], r["flagged"]) for r in summary["sizes"]}
    # min_customers 50 by default: nothing this small is flagged
    assert sizes == {"vip_at_risk": (1, 1, False), "lapsed": (3, 2, False), "loyal": (2, 1, False),
                     "everyone_gb": (0, 1, False), "no_segment": (1, 2, False)}  # fmt: skip
    from segml.segments.rules import ChangeSettings

    strict = ChangeSettings(max_relative_change=0.4, min_customers=1)
    _, summary = segment_changes(previous, current, settings=strict)
    flagged = {r["segment"] for r in summary["sizes"] if r["flagged"]}
    assert flagged == {"loyal", "everyone_gb", "no_segment"}  # -50 %, new, +100 %; lapsed -33 %

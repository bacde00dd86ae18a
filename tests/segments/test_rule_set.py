"""Rule-set files: the shipped example loads; every broken key is reported at once, by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from segml.errors import ConfigError
from segml.segments import load_rule_set
from tests.segments.helpers import RULES

VALID = {
    "control": {"salt": "spring"},
    "thresholds": {"lapse_days": {"quantile": 0.9, "of": "rfm__gap_median_days"}},
    "segments": [
        {"name": "lapsed", "priority": 1, "when": "rfm__recency_days > @lapse_days"},
        {"name": "vip", "priority": 2, "when": "decile__value >= 9", "channels": ["email"]},
    ],
}


def write(tmp_path: Path, payload: object) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(payload) if not isinstance(payload, str) else payload)
    return path


def test_the_shipped_rule_set_has_fifteen_segments_in_priority_order() -> None:
    rules = load_rule_set(RULES)
    assert [s.priority for s in rules.ordered()] == list(range(1, 16))
    assert rules.mode == "exclusive" and rules.default_segment == "no_segment"
    assert set(rules.thresholds) == {"lapse_days", "high_ticket", "at_risk_lapse", "cart_days"}
    names = [s.name for s in rules.ordered()]
    for builtin in ("prospects", "first_time_buyers", "repeat_buyers", "high_value", "at_risk",
                    "lapsed", "reactivated", "cart_abandoners_high_ticket",
                    "cart_abandoners_low_ticket", "browse_home_decor"):  # fmt: skip
        assert builtin in names
    assert set(rules.channels) == {"email", "sms", "ads", "onsite"}
    # events-based segments, and those over a model's scores (no champion yet), are optional
    optional = {s.name for s in rules.segments if s.optional}
    expected = {s.name for s in rules.segments if s.name.startswith(("cart_", "browse_"))}
    assert optional == expected | {"at_risk", "high_value"}


def test_defaults(tmp_path: Path) -> None:
    rules = load_rule_set(write(tmp_path, VALID))
    assert rules.channels == {"email": "attr__email_consent", "sms": "attr__sms_consent"}
    assert rules.control.share == 0.1 and rules.power.alpha == 0.05 and rules.power.power == 0.8
    assert rules.control_share(rules.segments[0]) == 0.1
    assert len(rules.fingerprint()) == 16


def _with(**changes: object) -> dict:
    payload = {**VALID, **changes}
    return payload


def _segment(**changes: object) -> dict:
    return _with(segments=[{**VALID["segments"][0], **changes}])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_with(segmets=[]), r"segmets: Extra inputs are not permitted"),
        (_segment(when_="x"), r"segments\.0\.when_: Extra inputs are not permitted"),
        ({k: v for k, v in VALID.items() if k != "control"}, r"  control: Field required"),
        (_with(control={}), r"control\.salt: Field required"),
        (_with(segments=[]), r"segments: List should have at least 1 item"),
        (_segment(name="VIP at risk"), r"segments\.0\.name: String should match pattern"),
        (_segment(priority=0), r"segments\.0\.priority: Input should be greater than or equal"),
        (_segment(control_share=1.0), r"segments\.0\.control_share: Input should be less than 1"),
        (_segment(channels=["push"]), r"uses unknown channels \['push'\]; known channels \['em"),
        (_segment(name="no_segment"), r"'no_segment' is the default_segment"),
        (
            _with(segments=[VALID["segments"][0], {**VALID["segments"][1], "priority": 1}]),
            r"segment priorities must be unique; repeated: \['1'\]",
        ),
        (
            _with(segments=[VALID["segments"][0], {**VALID["segments"][1], "name": "lapsed"}]),
            r"segment names must be unique; repeated: \['lapsed'\]",
        ),
        (_segment(when="rfm__recency_days >"), r"segments\.0\.when: expected a column"),
        (_segment(when=""), r"segments\.0\.when: the condition is empty"),
        (_with(thresholds={"t": {"value": 3, "quantile": 0.5, "of": "x"}}), "either value: NUM"),
        (_with(thresholds={"t": {"quantile": 0.5}}), r"thresholds\.t: .*either value"),
        (_with(thresholds={"t": {"quantile": 1.5, "of": "x"}}), r"quantile: Input should be less"),
        (_with(thresholds={"t": {"value": 1, "where": "x > 1"}}), "where: only applies to a der"),
        (_with(thresholds={"Bad-Name": {"value": 1}}), "names must be lower_snake_case"),
        (_with(channels={"../evil": None}), r"channels: .*names must be lower_snake_case"),
        (_with(mode="fuzzy"), r"mode: Input should be 'exclusive' or 'membership'"),
        (_with(power={"baseline": 1.5}), "a baseline rate must be between 0 and 1"),
        (
            _segment(window={"start": "2024-06-10", "end": "2024-06-01"}),
            "window end 2024-06-01 must",
        ),
        (
            _segment(window={"start": "June"}),
            r"segments\.0\.window\.start: Input should be a valid",
        ),
        (_segment(min_size=-1), r"segments\.0\.min_size: Input should be greater than or equal"),
        (_segment(consent={"sms": "attr__sms_consent"}), r"sets consent for \['sms'\], which are"),
        (_with(changes={"max_relative_change": 0}), r"changes\.max_relative_change: Input should"),
        (_with(power={"baseline": "score__purchase >"}), r"power\.baseline: expected a column"),
    ],
)
def test_broken_rule_sets_name_the_key(tmp_path: Path, payload: dict, message: str) -> None:
    path = write(tmp_path, payload)
    with pytest.raises(ConfigError, match=message) as info:
        load_rule_set(path)
    assert str(info.value).startswith(f"{path} has ")


def test_every_failing_key_is_reported_at_once(tmp_path: Path) -> None:
    payload = _with(segmets=[], control={"salt": "s", "share": 2}, mode="x")
    with pytest.raises(ConfigError, match=r"has 3 invalid key\(s\)") as info:
        load_rule_set(write(tmp_path, payload))
    for key in ("segmets", "control.share", "mode"):
        assert f"\n  {key}: " in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("segments: [\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping at the top, found list"),
        ("!!python/object/apply:os.system ['true']\n", "not valid YAML"),  # safe_load only
    ],
)
def test_unreadable_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_rule_set(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"rule set file .*nope.yaml' does not exist"):
        load_rule_set(tmp_path / "nope.yaml")

"""Feature families: the worked example of a family added from outside segml (one module, no
segml file touched), switching families off, and the registry tags clusters and rules read."""

from __future__ import annotations

from typing import Any, ClassVar

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
import polars as pl
import pytest

import segml
from segml.config import Config, FeatureConfig
from segml.datasets import make_shop
from segml.errors import ConfigError, DataError
from segml.features import FeatureBuilder, build_features
from segml.features._expr import count_if, safe_div
from segml.features.family import (
    BEHAVIOURAL,
    FamilyPlan,
    FeatureContext,
    FeatureFamily,
    column,
    register_family,
    registered,
    registered_family,
)
from segml.features.registry import block, cluster_patterns, consent_columns, is_days
from segml.segments import Segmenter
from tests.conftest import AS_OF

# ---------------------------------------------------------------------------------------------
# The worked example: everything a new family needs is this class (in its own module in real use)


class WeekendFamily(FeatureFamily):
    """Browsing on Saturdays and Sundays."""

    name = "weekend"
    description = "events on Saturdays and Sundays"
    needs = frozenset({"events"})
    tags = frozenset({BEHAVIOURAL})
    defaults: ClassVar[dict[str, Any]] = {"window_days": 28}
    columns = (
        column("weekend__events_{window}d", "weekend events in the last {window} days", "count"),
        column("weekend__event_share", "share of events on a Saturday or Sunday", "share"),
    )

    def plan(self, ctx: FeatureContext) -> FamilyPlan:
        window = ctx.params["window_days"]
        weekday = (nw.col("t").floor() + 3) % 7  # epoch day 0 was a Thursday; Monday is 0
        weekend = weekday >= 5
        recent = nw.col("t") >= ctx.cut - window
        return FamilyPlan(
            # run in the builder's one group_by over each customer's events before the cutoff
            event_aggs=[
                count_if(weekend & recent).alias(f"weekend__events_{window}d"),
                count_if(weekend).alias("_weekend_events"),
                nw.len().alias("_events"),
            ],
            finish=[
                nw.col(f"weekend__events_{window}d").fill_null(0).cast(nw.Float64),
                safe_div(nw.col("_weekend_events"), nw.col("_events")).alias(
                    "weekend__event_share"
                ),
            ],
        )


def _names() -> list[str]:
    return [f.name for f in registered()]


@pytest.fixture
def weekend() -> Any:
    with registered_family(WeekendFamily()) as family:
        yield family


def test_a_family_registered_from_outside_segml_appears_with_its_descriptions(
    tiny: dict[str, pd.DataFrame], weekend: WeekendFamily
) -> None:
    feats = build_features(tiny, as_of=AS_OF).set_index("customer_id")
    assert list(feats.columns[-2:]) == ["weekend__events_28d", "weekend__event_share"]
    # b's events before the cutoff: two on Saturday 2024-02-10, one Thursday, one Wednesday
    assert feats.loc["b", "weekend__events_28d"] == 2  # 2024-02-10 is 20 days before it
    assert feats.loc["b", "weekend__event_share"] == pytest.approx(0.5)
    assert (
        feats.loc["a", "weekend__event_share"] == 0 and feats.loc["d", "weekend__events_28d"] == 0
    )
    assert np.isnan(feats.loc["c", "weekend__event_share"])  # c has no events
    info = segml.describe("weekend__events_28d")
    assert (info.family, info.kind) == ("weekend", "count")
    assert info.description == "weekend events in the last 28 days"
    assert "weekend__event_share" in segml.FEATURES


def test_the_registered_familys_own_parameters(
    tiny: dict[str, pd.DataFrame], weekend: WeekendFamily
) -> None:
    params = {"weekend": {"window_days": 14}}
    feats = build_features(tiny, as_of=AS_OF, family_params=params).set_index("customer_id")
    assert feats.loc["b", "weekend__events_14d"] == 0  # 2024-02-10 is 20 days before the cutoff
    assert "weekend__events_28d" not in feats.columns


def test_a_segment_rule_reads_the_new_familys_columns(
    tiny: dict[str, pd.DataFrame], weekend: WeekendFamily
) -> None:
    table = pl.from_pandas(build_features(tiny, as_of=AS_OF))
    segment = {"name": "weekenders", "priority": 1, "when": "weekend__event_share >= 0.5"}
    rules = {"control": {"salt": "s", "share": 0.0}, "segments": [segment]}
    members = Segmenter(rules=rules).fit_transform(table)
    got = dict(members.select("customer_id", "segment").iter_rows())
    assert got == {"a": "no_segment", "b": "weekenders", "c": "no_segment", "d": "no_segment"}


def test_without_the_family_registered_nothing_of_it_remains(
    tiny: dict[str, pd.DataFrame],
) -> None:
    with registered_family(WeekendFamily()):
        builder = FeatureBuilder().fit(tiny, as_of=AS_OF)
    assert not any(c.startswith("weekend__") for c in build_features(tiny, as_of=AS_OF).columns)
    with pytest.raises(KeyError, match="not in the registry"):
        segml.describe("weekend__event_share")
    # a builder fitted with it cannot silently drop its columns later
    with pytest.raises(DataError, match="feature family 'weekend', which is not registered"):
        builder.transform(tiny, as_of=AS_OF)


# ---------------------------------------------------------------------------------------------
# Switching families off


def test_switched_off_families_change_no_other_column_nor_the_customers(
    tiny: dict[str, pd.DataFrame],
) -> None:
    full = build_features(tiny, as_of=AS_OF)
    # columns come in registry order whatever the order asked for
    some = build_features(tiny, as_of=AS_OF, families=["attr", "rfm"])
    expected = [c for c in full.columns if c == "customer_id" or c.startswith(("rfm__", "attr__"))]
    assert list(some.columns) == expected
    pd.testing.assert_frame_equal(some, full[expected])
    # d is known through its events only; it stays known without any events family
    assert sorted(some["customer_id"]) == ["a", "b", "c", "d"]
    events_only = build_features(tiny, as_of=AS_OF, families=["intent"])
    assert sorted(events_only["customer_id"]) == ["a", "b", "c", "d"]
    intent = [c for c in full.columns if c == "customer_id" or c.startswith("intent__")]
    pd.testing.assert_frame_equal(events_only, full[intent])


def test_the_families_are_stored_with_the_builder_and_come_from_the_config(
    tiny: dict[str, pd.DataFrame],
) -> None:
    config = Config.model_validate({"features": {"families": ["rfm", "affinity"]}})
    builder = FeatureBuilder(**config.features.builder_params()).fit(tiny, as_of=AS_OF)
    assert builder.get_params()["families"] == ("rfm", "affinity")  # what a model stores
    assert builder.families_ == ["rfm", "affinity"]
    assert {c.split("__")[0] for c in builder.feature_names_out_} == {"rfm", "affinity"}
    # a model trained before the switch existed stores no families: it gets every family that
    # is not opt-in (basket and timing are built only when named)
    old = {k: v for k, v in FeatureConfig().builder_params().items() if k != "families"}
    default = [f.name for f in registered() if not f.opt_in]
    assert FeatureBuilder(**old).fit(tiny, as_of=AS_OF).families_ == default
    assert default == [n for n in _names() if n not in ("basket", "timing")]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"families": ["rfm", "loyalty"]}, r"registered feature families .*unknown: \['loyalty'\]"),
        ({"families": []}, "must be distinct names of registered feature families"),
        ({"families": ["rfm", "rfm"]}, "must be distinct names"),
        ({"family_params": {"weekend": {}}}, "'weekend' is not among the families built"),
        ({"family_params": {"rfm": {"window": 3}}}, r"'rfm' has no parameter \['window'\]"),
    ],
)
def test_bad_family_settings(
    tiny: dict[str, pd.DataFrame], params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        FeatureBuilder(**params).fit(tiny, as_of=AS_OF)


@pytest.mark.parametrize(
    ("families", "message"),
    [([], "families must list each feature family once"), (["rfm", "rfm"], "once")],
)
def test_bad_families_in_the_config(families: list[str], message: str) -> None:
    with pytest.raises((ConfigError, ValueError), match=message):
        Config.model_validate({"features": {"families": families}})


def test_an_optional_rule_over_a_switched_off_family_is_skipped(
    tiny: dict[str, pd.DataFrame],
) -> None:
    table = pl.from_pandas(build_features(tiny, as_of=AS_OF, families=["rfm", "attr"]))
    carts = {"name": "carts", "priority": 1, "when": "intent__abandoned_cart == 1"}
    buyers = {"name": "buyers", "priority": 2, "when": "rfm__frequency > 0"}
    rules = {
        "control": {"salt": "s", "share": 0.0},
        "segments": [carts | {"optional": True}, buyers],
    }
    result = Segmenter(rules=rules).fit_segment(table)
    assert set(result.members["segment"]) == {"buyers", "no_segment"}
    assert any("'carts' skipped (optional)" in n for n in result.report.notes)


# ---------------------------------------------------------------------------------------------
# Registering


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "rfm", "columns": ()}, "a feature family named 'rfm' is already registered"),
        ({"name": "my__family"}, "needs a name that is an identifier without '__'"),
        ({"columns": (column("other__x", "x", "count"),)}, "must be named 'weekend__<name>'"),
        ({"needs": frozenset({"sessions"})}, r"needs unknown tables \['sessions'\]"),
    ],
)
def test_bad_families_are_refused_at_registration(change: dict[str, Any], message: str) -> None:
    family = type("Bad", (WeekendFamily,), change)()
    with pytest.raises(ValueError, match=message):
        register_family(family)
    assert _names() == [
        "rfm", "affinity", "engagement", "intent", "attr", "browse", "basket", "timing"
    ]  # fmt: skip


def test_column_kinds_are_checked() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        column("weekend__x", "x", "percent")


# ---------------------------------------------------------------------------------------------
# The tags clusters and segment rules read give what the name prefixes gave


def test_tags_give_what_the_column_names_gave() -> None:
    shop = make_shop(300, seed=0)
    columns = FeatureBuilder().fit(shop, as_of="2024-06-01").feature_names_out_
    for c in columns:  # the rules the clusterer read from names before the registry had tags
        assert is_days(c) == ("days" in c.rsplit("__", 1)[-1]), c
        family, _, rest = c.partition("__")
        share = next((p for p in ("spend_share_", "view_share_") if rest.startswith(p)), None)
        assert (block(c) == family) == (share is None), c
    assert cluster_patterns() == (
        ("rfm__*", "affinity__*", "engagement__*", "browse__*"),
        ("rfm__orders_*d", "rfm__revenue_*d"),
    )
    assert consent_columns() == {"email": "attr__email_consent", "sms": "attr__sms_consent"}
    assert block("affinity__spend_share_home") == block("affinity__spend_share_other")
    assert block("affinity__spend_share_home") != block("affinity__view_share_home")
    assert is_days("custom__days_since_x") and not is_days("custom__visits")  # unregistered


def test_the_switch_leaves_the_config_hash_of_existing_configs_unchanged() -> None:
    # run manifests carry a hash of the config's JSON dump: the new keys at their defaults
    # must not be in it, and set they must
    default = Config.model_validate({"features": {"windows_days": [7, 30]}})
    assert "famil" not in default.model_dump_json()
    some = Config.model_validate({"features": {"families": ["rfm"], "family_params": {"x": {}}}})
    dumped = some.model_dump()["features"]
    assert (dumped["families"], dumped["family_params"]) == (["rfm"], {"x": {}})
    assert Config.model_validate(some.model_dump()) == some


def test_a_family_without_a_plan_cannot_be_made() -> None:
    class NoPlan(FeatureFamily):
        name = "noplan"

    with pytest.raises(TypeError, match=r"abstract method '?plan"):
        NoPlan()  # type: ignore[abstract]

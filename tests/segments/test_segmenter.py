"""The rule engine on a hand-written table worked out by hand, its data checks, and the
invariant that every customer gets exactly one primary segment."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segml.errors import ConfigError, DataError
from segml.segments import Segmenter, columns_read, control_draw
from tests.segments.helpers import (
    EXPECTED,
    LAPSE_DAYS,
    RULES,
    RULESET,
    SALT,
    scored_store,
    tiny,
)


def test_exclusive_assignment_by_hand() -> None:
    seg = Segmenter(rules=RULESET)
    members = seg.fit_transform(tiny())
    assert seg.thresholds_["lapse_days"].value == pytest.approx(LAPSE_DAYS)
    assert dict(members.select("customer_id", "segment").iter_rows()) == EXPECTED
    rows = {r["customer_id"]: r for r in members.iter_rows(named=True)}
    assert [rows[c]["priority"] for c in "abcdefg"] == [1, 2, 3, 4, None, None, 2]
    assert all(rows[c]["primary"] for c in "abcdefg")
    eligible = {
        c: [k for k in ("email", "sms", "onsite") if rows[c][f"eligible__{k}"]] for c in rows
    }
    assert eligible == {
        "a": ["email", "sms"],
        "b": ["email"],
        "c": ["sms"],
        "d": ["onsite"],
        "e": [],
        "f": [],
        "g": [],
    }  # fmt: skip  (g has no email consent)
    assert [c for c in "abcdefg" if rows[c]["reachable"]] == ["a", "b", "c", "d"]
    for c, segment in EXPECTED.items():  # the vectorised draw agrees with the reference
        share = {"loyal": 0.0, "no_segment": None}.get(segment, 0.5)
        expected = (
            None
            if share is None
            else ("control" if control_draw(c, segment, SALT) < share else "treatment")
        )
        assert rows[c]["group"] == expected


def test_report_by_hand() -> None:
    seg = Segmenter(rules=RULESET)
    report = seg.fit_segment(tiny()).report
    by_name = {s["segment"]: s for s in report.segments}
    assert list(by_name) == ["vip_at_risk", "lapsed", "loyal", "everyone_gb", "no_segment"]
    assert {k: (v["matched"], v["members"]) for k, v in by_name.items()} == {
        "vip_at_risk": (1, 1), "lapsed": (3, 2), "loyal": (1, 1), "everyone_gb": (3, 1),
        "no_segment": (2, 2),
    }  # fmt: skip
    assert by_name["loyal"]["control"] == 0 and by_name["loyal"]["treatment"] == 1
    assert report.customers == 7 and report.mode == "exclusive"
    text = str(report)
    assert (
        "@lapse_days = 44 (0.9 quantile of rfm__gap_median_days where rfm__frequency >= 2, "
        "over 4 customers)" in text
    )
    assert "baseline conversion for the MDE: none" in text  # no score__purchase, no rfm__orders_30d
    assert report.to_dict()["thresholds"][0]["value"] == pytest.approx(LAPSE_DAYS)


@pytest.mark.parametrize("mode", ["membership", "overlapping"])  # the first pass's name still reads
def test_membership_mode_lists_every_match_and_one_primary(mode: str) -> None:
    members = Segmenter(rules={**RULESET, "mode": mode}).fit_transform(tiny())
    got = sorted(members.select("customer_id", "segment", "primary").iter_rows())
    assert got == [
        ("a", "everyone_gb", False), ("a", "lapsed", False), ("a", "vip_at_risk", True),
        ("b", "lapsed", True), ("c", "everyone_gb", False), ("c", "loyal", True),
        ("d", "everyone_gb", True), ("e", "no_segment", True), ("f", "no_segment", True),
        ("g", "lapsed", True),
    ]  # fmt: skip


def test_row_order_and_input_type_change_nothing(tmp_path: Path) -> None:
    first = Segmenter(rules=RULESET).fit_transform(tiny(seed=1))
    second = Segmenter(rules=RULESET).fit_transform(tiny(seed=2))
    assert first.equals(second)
    as_pandas = Segmenter(rules=RULESET).fit_transform(tiny().to_pandas())
    assert isinstance(as_pandas, pd.DataFrame)
    pd.testing.assert_frame_equal(as_pandas, first.to_pandas(), check_dtype=False)
    tiny().write_parquet(tmp_path / "scores.parquet")
    from_file = Segmenter(rules=RULESET).fit_transform(tmp_path / "scores.parquet")
    assert isinstance(from_file, pd.DataFrame) and len(from_file) == 7


def test_thresholds_are_learned_in_fit_and_kept() -> None:
    seg = Segmenter(rules=RULESET).fit(tiny())
    later = tiny().with_columns(pl.col("rfm__gap_median_days") * 10)
    members = seg.transform(later)
    assert seg.thresholds_["lapse_days"].value == pytest.approx(LAPSE_DAYS)
    assert dict(members.select("customer_id", "segment").iter_rows()) == EXPECTED


def test_missing_consent_column_means_no_consent_and_is_reported() -> None:
    seg = Segmenter(rules=RULESET)
    result = seg.fit_segment(tiny().drop("attr__sms_consent"))
    members = result.members
    assert not members.get_column("eligible__sms").any()
    assert members.filter(pl.col("customer_id") == "a").get_column("eligible__email").item()
    assert any(
        "sms consent is read from attr__sms_consent, which is not in the data" in n
        and "['vip_at_risk', 'loyal'] get no sms" in n
        for n in result.report.notes
    )


def test_all_condition_errors_are_reported_together() -> None:
    rules = {
        **RULESET,
        "segments": [
            {"name": "one", "priority": 1, "when": "rfm__recency > 3"},
            {"name": "two", "priority": 2, "when": "attr__country > 3"},
            {"name": "three", "priority": 3, "when": "rfm__frequency > @nope"},
        ],
    }
    with pytest.raises(ConfigError, match=r"rules: 3 segment condition\(s\) do not fit") as info:
        Segmenter(rules=rules).fit(tiny())
    message = str(info.value)
    assert (
        "segment 'one': unknown column 'rfm__recency'; did you mean 'rfm__recency_days'" in message
    )
    assert "segment 'two': cannot compare attr__country (text) with 3 (number)" in message
    assert "segment 'three': unknown threshold @nope" in message


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda f: f.drop("customer_id"), DataError, "has no 'customer_id' column"),
        (lambda f: f.head(0), DataError, "the customer table is empty"),
        (lambda f: pl.concat([f, f.head(2)]), DataError, r"2 rows repeat a customer_id, e.g. \['"),
        (
            lambda f: f.with_columns(pl.lit(None, pl.String).alias("customer_id")),
            DataError,
            "7 rows have no customer_id",
        ),
        (
            lambda f: f.with_columns(score__purchase=pl.Series([0.1, 1.5, 0.2, 0.3, -1, 0, 1.0])),
            DataError,
            r"score__purchase must hold probabilities in \[0, 1\]; 2 values do not, e.g. \[",
        ),
        (
            lambda f: f.with_columns(pl.col("decile__value") + 1),
            DataError,
            r"decile__value must hold whole numbers 1..10; 1 values do not, e.g. \[11\]",
        ),
        (
            lambda f: f.with_columns(pl.col("attr__sms_consent").cast(pl.String)),
            DataError,
            "consent column 'attr__sms_consent' for sms must be 0/1 or true/false; found String",
        ),
        (
            lambda f: f.with_columns(pl.lit(None, pl.Float64).alias("rfm__gap_median_days")),
            DataError,
            "threshold @lapse_days: no customer has a value of rfm__gap_median_days where",
        ),
        (
            lambda f: f.drop("rfm__gap_median_days"),
            ConfigError,
            r"thresholds\.lapse_days: unknown column 'rfm__gap_median_days'",
        ),
    ],
)
def test_bad_customer_tables(change, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Segmenter(rules=RULESET).fit_transform(change(tiny()))


def test_the_shipped_rule_set_on_the_synthetic_store() -> None:
    scored = scored_store()
    seg = Segmenter(rules=RULES)
    result = seg.fit_segment(scored)
    members, report = result.members, result.report
    assert members.height == scored.height  # exclusive: one row per customer
    assert members.get_column("customer_id").n_unique() == scored.height
    names = [s["segment"] for s in report.segments]
    assert len(names) == 16 and names[-1] == "no_segment"
    assert sum(s["members"] for s in report.segments) == scored.height
    in_segment = members.filter(pl.col("segment") != "no_segment")
    assert set(in_segment.get_column("group").unique()) == {"treatment", "control"}
    assert (
        members.filter(pl.col("segment") == "no_segment").get_column("group").null_count()
        == members.filter(pl.col("segment") == "no_segment").height
    )
    text = str(report)
    for name in ("@lapse_days = ", "@high_ticket = ", "@cart_days = 7 (fixed)"):
        assert name in text
    assert "mean of score__purchase" in text


# -- the invariant: exactly one primary segment per customer, the first matching rule ---------

_NUMS = st.one_of(st.none(), st.just(math.nan), st.integers(-3, 3).map(float))
_TEXTS = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))


def _leaf() -> st.SearchStrategy:
    ops = ["==", "!=", "<", "<=", ">", ">="]

    def numeric(col: str, op: str, value: int) -> tuple:
        return f"{col} {op} {value}", ("cmp", col, op, value)

    return st.one_of(
        st.builds(numeric, st.sampled_from(["x", "y"]), st.sampled_from(ops), st.integers(-3, 3)),
        st.sampled_from(
            [
                ("s == 'a'", ("eq", "s", "a")),
                ("s in ('a', 'b')", ("in", "s", ("a", "b"))),
                ("s is null", ("null", "s")),
                ("x is not null", ("notnull", "x")),
            ]
        ),
    )


def _conditions() -> st.SearchStrategy:
    def combine(children: st.SearchStrategy) -> st.SearchStrategy:
        return st.one_of(
            children.map(lambda c: (f"not ({c[0]})", ("not", c[1]))),
            st.tuples(children, children, st.sampled_from(["and", "or"])).map(
                lambda t: (f"({t[0][0]}) {t[2]} ({t[1][0]})", (t[2], t[0][1], t[1][1]))
            ),
        )

    return st.recursive(_leaf(), combine, max_leaves=4)


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _kleene(tree: tuple, row: dict) -> bool | None:
    """The reference: SQL three-valued logic, evaluated row by row in Python."""
    tag = tree[0]
    if tag == "cmp":
        _, col, op, value = tree
        v = row[col]
        if _missing(v):
            return None
        return {"==": v == value, "!=": v != value, "<": v < value, "<=": v <= value,
                ">": v > value, ">=": v >= value}[op]  # fmt: skip
    if tag == "eq":
        return None if row[tree[1]] is None else row[tree[1]] == tree[2]
    if tag == "in":
        return None if row[tree[1]] is None else row[tree[1]] in tree[2]
    if tag in ("null", "notnull"):
        return _missing(row[tree[1]]) == (tag == "null")
    if tag == "not":
        inner = _kleene(tree[1], row)
        return None if inner is None else not inner
    a, b = _kleene(tree[1], row), _kleene(tree[2], row)
    if tag == "and":
        return False if False in (a, b) else (None if None in (a, b) else True)
    return True if True in (a, b) else (None if None in (a, b) else False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(_NUMS, _NUMS, _TEXTS), min_size=1, max_size=25),
    conditions=st.lists(_conditions(), min_size=1, max_size=5),
    priorities=st.permutations(list(range(1, 6))),
)
def test_every_customer_gets_exactly_one_primary_segment(rows, conditions, priorities) -> None:
    frame = pl.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(len(rows))],
            "x": pl.Series([r[0] for r in rows], dtype=pl.Float64),
            "y": pl.Series([None if _missing(r[1]) else int(r[1]) for r in rows], dtype=pl.Int64),
            "s": pl.Series([r[2] for r in rows], dtype=pl.String),
        }
    )
    segments = [
        {"name": f"seg{i}", "priority": priorities[i], "when": text}
        for i, (text, _) in enumerate(conditions)
    ]
    rules = {"channels": {}, "control": {"salt": "p"}, "segments": segments}
    members = Segmenter(rules=rules).fit_transform(frame)
    assert members.height == frame.height
    assert members.get_column("customer_id").n_unique() == frame.height
    assert members.get_column("primary").all()
    got = dict(members.select("customer_id", "segment").iter_rows())
    ordered = sorted(range(len(conditions)), key=lambda i: priorities[i])
    for row in frame.iter_rows(named=True):
        first = next((i for i in ordered if _kleene(conditions[i][1], row) is True), None)
        assert got[row["customer_id"]] == ("no_segment" if first is None else f"seg{first}")


def test_the_columns_read_alone_give_the_same_run(tmp_path: Path) -> None:
    """What the Spark scoring job relies on to collect only these columns to the driver."""
    from segml.exports import export_segments

    scored = scored_store()
    needed = columns_read(RULES, scored.schema, as_of="2024-06-01")
    assert needed[0] == "customer_id" and len(needed) < scored.width / 2
    assert {"rfm__recency_days", "attr__email_consent", "score__purchase"} <= set(needed)
    assert "rfm__monetary_max" not in needed  # no rule reads it
    runs = {}
    for name, table in {"whole": scored, "narrow": scored.select(needed)}.items():
        export_segments(table, rules=RULES, out=tmp_path / name, as_of="2024-06-01")
        runs[name] = tmp_path / name
    files = sorted(p.relative_to(runs["whole"]) for p in runs["whole"].rglob("*.*"))
    assert len(files) > 10
    assert files == sorted(p.relative_to(runs["narrow"]) for p in runs["narrow"].rglob("*.*"))
    for f in files:
        if f.suffix == ".parquet":
            whole, narrow = (pl.read_parquet(runs[k] / f) for k in ("whole", "narrow"))
            assert narrow.equals(whole), f
    report = [json.loads((runs[k] / "report.json").read_text()) for k in ("whole", "narrow")]
    assert report[1] == report[0]


def test_columns_read_reports_conditions_that_do_not_fit() -> None:
    scored = scored_store().drop("rfm__recency_days")
    with pytest.raises(ConfigError, match="rfm__recency_days"):
        columns_read(RULES, scored.schema)

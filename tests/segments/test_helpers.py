"""The named helpers (days_since, coalesce, abs, min, max, log1p, lower, contains): values
worked out by hand on a small table, type and argument errors naming the helper and the
argument, the as-of date, and property tests against a row-by-row Python reference."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segml.errors import ConfigError
from segml.segments import HELPERS, ConditionError, Segmenter
from segml.segments.compile import compile_condition, compile_value

AS_OF = dt.datetime(2024, 6, 1)
BERLIN = pl.Datetime("us", "Europe/Berlin")

TINY = pl.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d", "e", "f"],
        "x": [2.5, -3.0, None, float("nan"), 0.0, -1.0],
        "y": pl.Series([1, None, 4, 2, None, -5], dtype=pl.Int64),
        "s": ["GB Shop", "de", None, "FR", "gb", "Shopify"],
        "signup": [
            dt.date(2024, 5, 1),
            dt.date(2024, 6, 1),
            None,
            dt.date(2024, 6, 11),
            dt.date(2023, 6, 1),
            dt.date(2024, 5, 31),
        ],
        "last_open": [
            dt.datetime(2024, 5, 31, 12),
            None,
            dt.datetime(2024, 5, 25),
            dt.datetime(2024, 6, 1),
            dt.datetime(2024, 5, 30, 18),
            None,
        ],
        # local Berlin time (UTC+2 in summer): 02:00 local is midnight UTC
        "visit": pl.Series(
            [dt.datetime(2024, 5, 31, 2), dt.datetime(2024, 6, 1, 2), None, None, None, None]
        ).dt.replace_time_zone("Europe/Berlin"),
    }
).sample(fraction=1.0, shuffle=True, seed=5)  # row order must not matter


def values(expression: str, as_of: dt.datetime | None = AS_OF) -> list:
    compiled = compile_value(expression, schema=TINY.schema, params={}, as_of=as_of)
    out = TINY.select("customer_id", compiled.expr.alias("v")).sort("customer_id")
    return out.get_column("v").to_list()


def matched(condition: str) -> list[str]:
    compiled = compile_condition(condition, schema=TINY.schema, params={}, as_of=AS_OF)
    return sorted(TINY.filter(compiled.expr).get_column("customer_id").to_list())


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # as of 2024-06-01 00:00 UTC; a date counts from midnight; 2024 is a leap year
        ("days_since(signup)", [31.0, 0.0, None, -10.0, 366.0, 1.0]),
        ("days_since(last_open)", [0.5, None, 7.0, 0.0, 1.25, None]),
        ("days_since(visit)", [1.0, 0.0, None, None, None, None]),
        ("days_since(coalesce(last_open, signup))", [0.5, 0.0, 7.0, 0.0, 1.25, 1.0]),
        ("abs(x)", [2.5, 3.0, None, None, 0.0, 1.0]),  # NaN is missing
        ("coalesce(x, y)", [2.5, -3.0, 4.0, 2.0, 0.0, -1.0]),
        ("coalesce(y, 0)", [1, 0, 4, 2, 0, -5]),
        ("coalesce(s, 'unknown')", ["GB Shop", "de", "unknown", "FR", "gb", "Shopify"]),
        ("min(x, y)", [1.0, -3.0, 4.0, 2.0, 0.0, -5.0]),  # a missing argument is skipped
        ("max(x, y)", [2.5, -3.0, 4.0, 2.0, 0.0, -1.0]),
        ("max(x, y, 3)", [3.0, 3.0, 4.0, 3.0, 3.0, 3.0]),
        ("log1p(y)", [math.log(2), None, math.log(5), math.log(3), None, None]),
        ("log1p(x)", [math.log(3.5), None, None, None, 0.0, None]),  # x <= -1: missing
        ("lower(s)", ["gb shop", "de", None, "fr", "gb", "shopify"]),
        ("contains(s, 'Shop')", [True, False, None, False, False, True]),
        ("contains(s, '.*')", [False, False, None, False, False, False]),  # plain text, no regex
        ("contains(lower(s), 'gb')", [True, False, None, False, True, False]),
        ("abs(min(x, y) - 2) * 2", [2.0, 10.0, 4.0, 0.0, 4.0, 14.0]),
        ("ABS(-2)", [2, 2, 2, 2, 2, 2]),  # helper names are case-insensitive, like keywords
    ],
)
def test_helpers_evaluate_exactly(expression: str, expected: list) -> None:
    assert values(expression) == pytest.approx(expected, nan_ok=False)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("days_since(signup) > 30", ["a", "e"]),
        ("days_since(signup) between 0 and 30", ["b", "f"]),
        ("days_since(signup) < 0", ["d"]),  # signs up after the as-of date
        ("days_since(last_open) <= 1 or last_open is null", ["a", "b", "d", "f"]),
        ("coalesce(s, '') == ''", ["c"]),
        ("contains(lower(s), 'shop') and abs(x) >= 1", ["a", "f"]),
        ("lower(s) in ('gb', 'fr')", ["d", "e"]),
        ("coalesce(x, y) > 0 and max(x, y) == coalesce(x, y)", ["a", "c", "d"]),
    ],
)
def test_helpers_in_conditions(condition: str, expected: list[str]) -> None:
    assert matched(condition) == expected


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (
            "abs(s) > 1",
            r"abs\(\) needs number for its argument 1 \(x\), but s \(text\) is text\. "
            r"Signature: abs\(x: number\)",
        ),
        ("lower(x) == 'a'", r"lower\(\) needs text for its argument 1 \(s\), but x \(number\)"),
        ("contains(s, 1)", r"contains\(\) needs text for its argument 2 \(part\), but 1 \(number"),
        (
            "coalesce(x, s) > 1",
            r"coalesce\(\) needs number for its argument 2 \(b\), but s "
            r"\(text\) is text; they must all be of one kind",
        ),
        ("min(x, y, s) > 1", r"min\(\) needs number for its argument 3, but s \(text\)"),
        (
            "days_since(x) > 1",
            r"days_since\(\) needs date for its argument 1 \(when\), but x "
            r"\(number\) is number\. .*rfm__recency_days .* compare it directly",
        ),
        ("days_since(s) > 1", r"days_since\(\) needs date .* text dates must be parsed"),
        (
            "abs(signup) > 1",
            r"abs\(\) needs number .* signup \(date\) is date; write "
            r"days_since\(signup\)",
        ),
        (
            "signup == signup",
            r"signup \(date\) is a date, which '==' cannot use; .* days_since\(signup\)",
        ),
        ("signup + 1 > 2", r"signup \(date\) is a date, which '\+' cannot use"),
        ("signup in (1, 2)", r"signup \(date\) is a date, which in \(\.\.\.\) cannot use"),
        ("lower(s)", r"must be true or false for each customer, but 'lower\(s\)' is text"),
        ("contains(s, 'a') > 1", r"cannot compare contains\(s, 'a'\) \(bool\) with 1 \(number\)"),
        ("abs(zz) > 1", "unknown column 'zz'"),
    ],
)
def test_helper_type_errors(condition: str, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        matched(condition)


def test_days_since_needs_an_as_of_date() -> None:
    with pytest.raises(ConditionError, match=r"days_since\(signup\) needs the run's as-of date, "
                       r"and none was given: pass as_of= to Segmenter"):  # fmt: skip
        values("days_since(signup)", as_of=None)
    assert values("abs(x)", as_of=None)[0] == 2.5  # other helpers do not need it


def _rules(**extra: object) -> dict:
    return {
        "channels": {},
        "control": {"salt": "s"},
        "thresholds": {"typical_age": {"quantile": 0.5, "of": "days_since(signup)"}},
        "segments": [
            {"name": "old", "priority": 1, "when": "days_since(signup) > @typical_age"},
            {"name": "shops", "priority": 2, "when": "contains(lower(coalesce(s, '')), 'shop')"},
        ],
        **extra,
    }


def test_segmenter_counts_days_to_its_as_of_date() -> None:
    seg = Segmenter(rules=_rules(), as_of="2024-06-01T02:00:00+02:00")  # midnight UTC
    members = seg.fit_transform(TINY).sort("customer_id")
    assert seg.as_of_ == AS_OF
    # days since sign-up: 31, 0, -10, 366, 1 (c has none): the median is 1
    assert seg.thresholds_["typical_age"].value == 1.0
    assert members.get_column("segment").to_list() == [
        "old", "no_segment", "no_segment", "no_segment", "old", "shops"
    ]  # fmt: skip
    rules = _rules(thresholds={})
    rules["segments"][0]["when"] = "days_since(signup) > 5"
    for as_of, old in (("2024-06-01", ["a", "e"]), (dt.date(2024, 6, 11), ["a", "b", "e", "f"])):
        members = Segmenter(rules=rules, as_of=as_of).fit_transform(TINY)
        assert sorted(members.filter(pl.col("segment") == "old")["customer_id"]) == old


def test_segmenter_without_as_of_names_every_use() -> None:
    with pytest.raises(ConfigError, match=r"thresholds\.typical_age: days_since\(signup\) needs"):
        Segmenter(rules=_rules()).fit(TINY)
    rules = _rules(thresholds={})
    rules["segments"][0]["when"] = "days_since(signup) > 30"
    with pytest.raises(ConfigError, match=r"segment 'old': days_since\(signup\) needs the run's"):
        Segmenter(rules=rules).fit(TINY)


def test_the_whitelist_is_what_the_docs_list() -> None:
    assert sorted(HELPERS) == [
        "abs", "coalesce", "contains", "days_since", "log1p", "lower", "max", "min"
    ]  # fmt: skip


# -- properties: the vectorised helpers agree with a row-by-row Python reference ---------------

_NUMBER = st.one_of(
    st.none(), st.just(math.nan), st.floats(-1e6, 1e6, allow_nan=False), st.integers(-5, 5)
)


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _reference(helper: str, a: float | None, b: float | None) -> float | None:
    a, b = (None if _missing(v) else float(v) for v in (a, b))  # type: ignore[arg-type]
    present = [v for v in (a, b) if v is not None]
    if helper == "coalesce":
        return present[0] if present else None
    if helper in ("min", "max"):
        return (min if helper == "min" else max)(present) if present else None
    if a is None:
        return None
    if helper == "abs":
        return abs(a)
    return math.log1p(a) if a > -1 else None  # log1p


def _assert_close(got: list, expected: list) -> None:
    assert [v is None for v in got] == [v is None for v in expected]
    pairs = [(g, e) for g, e in zip(got, expected, strict=True) if e is not None]
    assert [g for g, _ in pairs] == pytest.approx([e for _, e in pairs], rel=1e-12, abs=1e-300)


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.tuples(_NUMBER, _NUMBER), min_size=1, max_size=30),
    helper=st.sampled_from(["coalesce", "min", "max", "abs", "log1p"]),
)
def test_numeric_helpers_match_python(rows: list[tuple], helper: str) -> None:
    frame = pl.DataFrame(
        {"a": [r[0] for r in rows], "b": [r[1] for r in rows]},
        schema={"a": pl.Float64, "b": pl.Float64},
    )
    text = f"{helper}(a, b)" if helper in ("coalesce", "min", "max") else f"{helper}(a)"
    got = frame.select(compile_value(text, schema=frame.schema, params={}).expr).to_series()
    expected = [_reference(helper, a, b) for a, b in rows]
    _assert_close(got.to_list(), expected)


@settings(max_examples=80, deadline=None)
@given(
    stamps=st.lists(
        st.one_of(st.none(), st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2040, 1, 1))),
        min_size=1,
        max_size=30,
    ),
    as_of=st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1)),
)
def test_days_since_matches_python(stamps: list[dt.datetime | None], as_of: dt.datetime) -> None:
    frame = pl.DataFrame({"t": pl.Series(stamps, dtype=pl.Datetime("us"))})
    compiled = compile_value("days_since(t)", schema=frame.schema, params={}, as_of=as_of)
    got = frame.select(compiled.expr).to_series().to_list()
    expected = [None if t is None else (as_of - t) / dt.timedelta(days=1) for t in stamps]
    _assert_close(got, expected)

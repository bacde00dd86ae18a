"""The condition language: exact results on a hand-written table, hostile and broken input
refused with a message that points at it (and nothing executed), type and name errors."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import polars as pl
import pytest

from segml.errors import ConfigError
from segml.segments import ConditionError, Segmenter, parse_condition
from segml.segments.compile import compile_condition

TINY = pl.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d", "e"],
        "rfm__recency_days": [10.0, 120.0, None, 45.0, float("nan")],
        "rfm__frequency": [5.0, 1.0, 0.0, 2.0, 3.0],
        "attr__country": ["GB", "DE", None, "FR", "GB"],
        "decile__purchase": pl.Series([10, 3, 1, 7, 5], dtype=pl.Int8),
        "cluster__name": pl.Series(
            ["loyal", "new", "new", "loyal", "bargain"], dtype=pl.Categorical
        ),
        "flag": [True, False, None, True, False],
        "attr__signup": [dt.datetime(2024, 1, d) for d in range(1, 6)],
    }
).sample(fraction=1.0, shuffle=True, seed=3)  # row order must not matter


def matched(condition: str, params: dict[str, float] | None = None) -> list[str]:
    compiled = compile_condition(condition, schema=TINY.schema, params=params or {})
    return sorted(TINY.filter(compiled.expr).get_column("customer_id").to_list())


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("rfm__recency_days > 90", ["b"]),
        # missing (c) and NaN (e) recency: the comparison is unknown, and so is its negation
        ("not (rfm__recency_days > 90)", ["a", "d"]),
        ("rfm__recency_days <= 90 or rfm__recency_days is null", ["a", "c", "d", "e"]),
        ("rfm__recency_days is not null", ["a", "b", "d"]),
        # Kleene logic: unknown or true is true; unknown and false is false
        ("rfm__recency_days > 90 or rfm__frequency == 0", ["b", "c"]),
        ("not (rfm__recency_days > 90 and rfm__frequency > 100)", ["a", "b", "c", "d", "e"]),
        ("attr__country in ('GB', 'FR')", ["a", "d", "e"]),
        ("attr__country not in ('GB')", ["b", "d"]),
        ('attr__country != "GB"', ["b", "d"]),
        ("rfm__frequency between 1 and 3", ["b", "d", "e"]),
        ("rfm__frequency not between 1 and 3", ["a", "c"]),
        ("decile__purchase >= 7 and rfm__frequency >= 2", ["a", "d"]),
        ("decile__purchase in (10, 3.0)", ["a", "b"]),
        ("rfm__frequency * 10 - rfm__recency_days > 0", ["a"]),
        ("rfm__recency_days / rfm__frequency > 40", ["b"]),  # c divides by zero: missing
        ("-rfm__frequency < -2.5", ["a", "e"]),
        ("1e1 < rfm__recency_days", ["b", "d"]),
        ("cluster__name == 'new'", ["b", "c"]),
        ("flag", ["a", "d"]),
        ("flag == false or flag is null", ["b", "c", "e"]),
        ("TRUE AND rfm__frequency == 0", ["c"]),
        ("(((rfm__frequency >= 5)))", ["a"]),
    ],
)
def test_conditions_evaluate_exactly(condition: str, expected: list[str]) -> None:
    assert matched(condition) == expected


def test_thresholds_are_numbers_in_conditions() -> None:
    assert matched("rfm__recency_days > @cut", {"cut": 40.0}) == ["b", "d"]


# -- hostile and broken input: refused while parsing, nothing executed ------------------------

_WATCHED = {"exec", "compile", "os.system", "subprocess.Popen", "os.posix_spawn", "os.exec"}
_seen: list[str] = []
_recording = [False]


def _audit(event: str, args: tuple) -> None:
    if _recording[0] and (
        event in _WATCHED or (event == "open" and "pwned" in str(args[0] if args else ""))
    ):
        _seen.append(event)


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one only records while asked

HOSTILE = [
    ("__import__('os').system('touch {pwned}')", r"unknown function '__import__': conditions can"),
    ("open('{pwned}', 'w').write('x')", r"unknown function 'open': .*only the helpers abs, "),
    ("eval('1 + 1')", "unknown function 'eval'"),
    ("exec('x = 1')", "unknown function 'exec'"),
    ("getattr(rfm__frequency, '__class__')", "unknown function 'getattr'"),
    ("rfm__frequency(1) > 0", "unknown function 'rfm__frequency'"),
    ("lower(attr__country).__class__", r"unexpected character '\.': conditions have no attribute"),
    ("lower.__call__(attr__country)", r"unexpected character '\.'"),
    ("abs(rfm__frequency)(1) > 0", r"expected and, or or the end of the condition, found '\('"),
    ("lower(attr__country)[0] == 'g'", r"unexpected character '\['"),
    ("coalesce(rfm__frequency, b=1) > 0", "use == to compare"),
    ("max(*rfm__frequency) > 0", r"expected a column, a number, quoted text or '\(', found '\*'"),
    ("abs(lambda: 1) > 0", r"unexpected character ':'"),
    ("days_since(__import__('os')) > 0", "unknown function '__import__'"),
    ("abs(rfm__frequency, 1) > 0", r"abs\(\) takes 1 argument, got 2: abs\(x: number\)"),
    ("min(rfm__frequency) > 0", r"min\(\) takes 2 or more arguments, got 1"),
    ("days_since() > 0", r"days_since\(\) takes 1 argument, got 0: days_since\(when: date\)"),
    ("abs(rfm__frequency", r"expected ',' or '\)' after an argument of abs\(\), found the end"),
    ("day_since(x) > 1", r"unknown function 'day_since': did you mean days_since\(\)\?"),
    ("rfm__frequency.__class__", r"unexpected character '\.': conditions have no attribute"),
    ("lambda: 1", r"unexpected character ':'"),
    ("[c for c in ()]", r"unexpected character '\['"),
    ("rfm__frequency > 1; import os", r"unexpected character ';'"),
    ("10 ** 10 ** 10", r"there is no power operator '\*\*'"),
    ("rfm__frequency = 1", "use == to compare"),
    ("rfm__frequency > 1 && flag", "use and"),
    ("rfm__frequency > 1 || flag", "use or"),
    ("!flag", "use not"),
    ("rfm__frequency >", r"expected a column, a number, quoted text or '\(', found the end"),
    ("attr__country == 'GB", "close the quote on the same line"),
    ("1 < rfm__frequency < 5", "chained comparisons are not supported"),
    ("rfm__frequency in ()", "the list is empty"),
    ("rfm__frequency in (rfm__recency_days)", "a list holds only numbers, quoted text"),
    ("rfm__frequency in 1, 2", "expected a list in parentheses"),
    ("rfm__frequency is 3", "expected null after is"),
    ("rfm__frequency not 3", "expected in or between after not"),
    ("flag if flag else flag", "expected and, or or the end of the condition, found 'if'"),
    ("rfm__frequency \uff1e 1", "unexpected character '\uff1e'"),  # full-width >
    ("rfm__frequency > \u0661", "unexpected character"),  # Arabic-Indic digit one
    ("rfm__frequency > 1\x00", r"unexpected character '\\x00'"),
    ("@", "unexpected character '@'"),
    ("not", "found the end of the condition"),
    ("", "the condition is empty"),
    ("   ", "the condition is empty"),
    ("(" * 60 + "flag" + ")" * 60, "nested deeper than 48 levels"),
    ("-" * 60 + "1 > 0", "nested deeper than 48 levels"),
    ("abs(" * 60 + "1" + ")" * 60 + " > 0", "nested deeper than 48 levels"),
    ("1 + " * 300 + "1 > 0", "nests more than 48 operations"),
    ("flag or " * 400 + "flag", "the limit is 2000"),
]


@pytest.mark.parametrize(("condition", "message"), HOSTILE)
def test_hostile_and_broken_conditions_are_refused(
    condition: str, message: str, tmp_path: Path
) -> None:
    pwned = tmp_path / "pwned"
    condition = condition.replace("{pwned}", str(pwned))
    _seen.clear()
    _recording[0] = True
    try:
        with pytest.raises(ConditionError, match=message):
            parse_condition(condition)
    finally:
        _recording[0] = False
    assert not pwned.exists()
    assert _seen == []  # no exec/eval/compile, no process, no file opened


def test_errors_point_at_the_problem() -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition("rfm__frequency > 1 and __import__('os')")
    assert "(at column 24)" in str(info.value)
    assert str(info.value).endswith(
        "\n    rfm__frequency > 1 and __import__('os')\n" + " " * 27 + "^"
    )


def test_a_hostile_rule_set_fails_before_touching_data(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    rules = {
        "control": {"salt": "s"},
        "segments": [
            {"name": "x", "priority": 1, "when": f"__import__('os').system('touch {pwned}')"}
        ],
    }
    with pytest.raises(ConfigError, match=r"segments\.0\.when: unknown function '__import__'"):
        Segmenter(rules=rules).fit(TINY)
    assert not pwned.exists()


# -- conditions that parse but do not fit the data ---------------------------------------------


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("rfm_recency_days > 90", "unknown column 'rfm_recency_days'; did you mean 'rfm__recency"),
        ("zzz_unknown > 1", r"no column has a similar name.*\(attr__\*, cluster__\*, decile"),
        ("attr__country > 3", r"cannot compare attr__country \(text\) with 3 \(number\)"),
        (
            "attr__country == 3",
            r"cannot compare attr__country \(text\) with 3 \(number\) using '==",
        ),
        ("flag == 1", r"cannot compare flag \(bool\) with 1 \(number\)"),
        ("attr__country < 'GB'", "'<' orders numbers, but attr__country \\(text\\) is not"),
        ("attr__country + 1 > 2", r"'\+' needs numbers, but attr__country \(text\) is not"),
        ("rfm__frequency", "must be true or false for each customer, but 'rfm__frequency' is num"),
        ("rfm__frequency and flag", r"and needs true/false on each side, but rfm__frequency \(n"),
        ("not rfm__frequency", "not needs true/false"),
        ("attr__country in ('GB', 1)", r"holds 1 \(number\); every value must be text"),
        ("rfm__frequency between 'a' and 3", r"between needs numbers, but 'a' \(text\)"),
        ("rfm__recency_days > @lapse", r"unknown threshold @lapse; did you mean @lapse_days\?"),
        (
            "attr__signup > 1",
            r"attr__signup \(date\) is a date, which '>' cannot use; .*"
            r"write days_since\(attr__signup\)",
        ),
        ("cluster__name == pl", "unknown column 'pl'"),
    ],
)
def test_type_and_name_errors(condition: str, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        matched(condition, {"lapse_days": 90.0})

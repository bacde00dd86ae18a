"""The rule engine: assign customers to segments by priority, draw control groups, gate each
channel's audience on consent, and report what happened.

Input is one row per customer: ``customer_id``, feature columns (``rfm__recency_days``, ...) and
score columns (``score__purchase``, ``decile__lapse``, ``cluster__name``, ...). Every condition is
compiled to a Polars expression and all of them are evaluated in one vectorised pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from segml import targets
from segml.engine import AsOf, frame_kind, on_driver, parse_as_of, to_lazy, to_native
from segml.errors import ConfigError, DataError, example_values
from segml.features.registry import describe
from segml.io import scan_typed
from segml.segments.compile import Compiled, compile_condition, compile_value
from segml.segments.consent import consent_states
from segml.segments.control import control_draws
from segml.segments.language import parse_condition
from segml.segments.overlap import overlap_report
from segml.segments.report import SegmentReport, segment_stats
from segml.segments.result import SegmentResult, split_values, value_columns
from segml.segments.rules import PowerSettings, RuleSet, as_rule_set
from segml.segments.syntax import ConditionError, Name, children
from segml.segments.thresholds import derive_thresholds, threshold_exprs

__all__ = ["Segmenter", "check_customer_table", "columns_read", "open_customer_table"]


class _TargetColumns:
    """``<prefix><target>`` of every registered target (of one ``score_kind``), read from the
    target registry each time it is used, so a target registered after import counts."""

    def __init__(self, prefix: str, kind: str | None = None) -> None:
        self.prefix, self.kind = prefix, kind

    def __iter__(self) -> Any:
        return iter(
            [
                f"{self.prefix}{s.name}"
                for s in targets.specs()
                if self.kind is None or s.score_kind == self.kind
            ]
        )

    def __contains__(self, column: object) -> bool:
        return column in tuple(self)

    def __add__(self, other: Any) -> tuple[str, ...]:
        return (*self, *other)


_PROBABILITIES = _TargetColumns("score__", "probability")
_DECILES = _TargetColumns("decile__")
_SCORES = _TargetColumns("score__")
_SCORE_FAMILIES = ("score__", "decile__", "cluster__")  # scoring columns: absent without a model


def open_customer_table(data: Any) -> tuple[pl.LazyFrame, str]:
    """The customer table as a Polars lazy frame, and what kind of input it came as."""
    if isinstance(data, str | Path):
        return scan_typed(data, table="scores"), "path"
    # segments run on the embedded engine: one row per customer fits on the driver
    return on_driver(to_lazy(data, table="scores")), frame_kind(data)


def _out_of_range(column: str) -> pl.Expr:
    if column in _DECILES:
        value = pl.col(column).cast(pl.Float64)
        return ~value.is_between(1, 10) | (value % 1 != 0)
    return ~pl.col(column).cast(pl.Float64).is_between(0, 1)


def check_customer_table(frame: pl.LazyFrame) -> None:
    """One row per ``customer_id``; probabilities in [0, 1] and deciles 1..10 where present
    (missing scores are allowed: a condition on them is unknown and does not match)."""
    schema = frame.collect_schema()
    if "customer_id" not in schema:
        raise DataError(
            f"the customer table has no 'customer_id' column; found {list(schema)[:8]}. Pass "
            "features and scores with one row per customer_id."
        )
    scored = [c for c in _PROBABILITIES + _DECILES if c in schema]
    counts = (
        frame.select(
            pl.len().alias("rows"),
            pl.col("customer_id").null_count().alias("missing"),
            (pl.col("customer_id").drop_nulls().len() - pl.col("customer_id").n_unique())
            .clip(0)
            .alias("repeated"),
            *[_out_of_range(c).sum().alias(c) for c in scored],
        )
        .collect()
        .row(0, named=True)
    )
    if counts["rows"] == 0:
        raise DataError("the customer table is empty; segments need at least one customer.")
    if counts["missing"]:
        raise DataError(f"{counts['missing']:,} rows have no customer_id; every row needs one.")
    if counts["repeated"]:
        ids = frame.filter(pl.col("customer_id").is_duplicated()).select("customer_id").unique()
        shown = example_values(sorted(ids.head(3).collect().to_series().to_list()))
        raise DataError(
            f"{counts['repeated']:,} rows repeat a customer_id, e.g. {shown}; segments need one "
            "row per customer (deduplicate, or join features and scores on customer_id)."
        )
    for c in scored:
        if counts[c]:
            expected = "whole numbers 1..10" if c in _DECILES else "probabilities in [0, 1]"
            bad = frame.filter(_out_of_range(c)).select(c).head(3).collect().to_series()
            raise DataError(
                f"{c} must hold {expected}; {counts[c]:,} values do not, e.g. "
                f"{example_values(bad.to_list())}. Check the scoring run that produced it."
            )


class Segmenter(BaseEstimator):  # type: ignore[misc]
    """Rule-based segments over features and scores, with priorities, consent and control groups.

    ``fit`` derives the rule set's data-driven thresholds (``@name`` in conditions) and checks
    every condition against the table's columns and types; ``segment`` returns one
    segmentation as a ``SegmentResult`` (members, report, qualifying columns and values), which
    exports read; ``transform`` returns its members. Only ``fit`` sets attributes. Exclusive
    mode: each customer in one segment (the matching rule with the smallest priority number,
    else the default); membership mode: one row per matching rule (``primary``: the first).

    Parameters
    ----------
    rules : a RuleSet, a mapping with the rule-set keys, or a path to a rule-set YAML.
    as_of : the run's as-of date (the scoring cutoff: a date, datetime or ISO text; naive means
        UTC) that ``days_since(x)`` counts days to. Only conditions using ``days_since`` need
        it; it is never taken from the clock or the data.

    Attributes
    ----------
    rule_set_ : the validated RuleSet.
    as_of_ : ``as_of`` as a naive UTC datetime (None when not given).
    thresholds_ : dict of name -> ThresholdValue (value and how it was derived).
    skipped_ : dict of optional segment -> why it was skipped on the fitted table.
    """

    def __init__(self, *, rules: Any = None, as_of: AsOf | None = None) -> None:
        self.rules = rules
        self.as_of = as_of

    def fit(self, X: Any, y: Any = None) -> Segmenter:
        frame, _ = open_customer_table(X)
        return self._fit(frame)

    def segment(self, X: Any, *, carry: Sequence[str] = ()) -> SegmentResult:
        """Segment ``X`` (features + scores, one row per customer, or a path to them) in one
        pass: the members (Polars, in ``customer_id`` order), the report, and per segment the
        columns that qualified its members with their values (``SegmentResult``). ``carry``:
        more columns to read in the same pass into ``values`` where the table has them (what
        export destinations ask for, e.g. an email column)."""
        check_is_fitted(self, "thresholds_")
        frame, _ = open_customer_table(X)
        check_customer_table(frame)
        return self._segment(frame, carry=carry)

    def transform(self, X: Any) -> Any:
        """One row per customer (per matching segment in membership mode): ``customer_id``,
        ``segment``, ``priority``, ``primary``, ``group`` (treatment/control/null),
        ``eligible__<channel>`` (segment uses the channel and the customer consents; the
        audience is its treated part) and ``reachable`` (eligible on any channel). In the
        caller's frame type (Polars for Polars input, pandas for pandas and files). The report
        is in ``segment(X).report``."""
        check_is_fitted(self, "thresholds_")
        frame, kind = open_customer_table(X)
        check_customer_table(frame)
        return to_native(self._segment(frame).members, None, kind)

    def fit_transform(self, X: Any, y: Any = None) -> Any:
        frame, kind = open_customer_table(X)
        return to_native(self._fit(frame)._segment(frame).members, None, kind)

    def fit_segment(self, X: Any, *, carry: Sequence[str] = ()) -> SegmentResult:
        """``fit(X)`` then ``segment(X, carry=carry)``, checking the table once."""
        frame, _ = open_customer_table(X)
        return self._fit(frame)._segment(frame, carry=carry)

    def _fit(self, frame: pl.LazyFrame) -> Segmenter:
        rule_set = as_rule_set(self.rules)
        check_customer_table(frame)
        self.source_ = _source(self.rules)
        self.as_of_ = None if self.as_of is None else parse_as_of(self.as_of)
        self.thresholds_ = derive_thresholds(
            frame, rule_set.thresholds, source=self.source_, as_of=self.as_of_
        )
        self.rule_set_ = rule_set
        _, self.skipped_ = self._conditions(frame.collect_schema())
        return self

    def _params(self) -> dict[str, float]:
        return {name: t.value for name, t in self.thresholds_.items()}

    def _conditions(
        self, schema: Mapping[str, pl.DataType]
    ) -> tuple[list[Compiled | None], dict[str, str]]:
        """Each rule's compiled condition, and why each skipped one was (``_compile_rules``)."""
        return _compile_rules(
            self.rule_set_, schema, params=self._params(), as_of=self.as_of_, source=self.source_
        )

    def _segment(self, frame: pl.LazyFrame, *, carry: Sequence[str] = ()) -> SegmentResult:
        rs = self.rule_set_
        schema = frame.collect_schema()
        conditions, skipped = self._conditions(schema)
        qualifying = {  # per segment: the columns its condition read, and the scores
            r.name: sorted(set(c.columns if c else ()) | {k for k in schema if k in _SCORES})
            for r, c in zip(rs.ordered(), conditions, strict=True)
        }
        states, notes = consent_states(rs, schema)
        baseline, baseline_source = _baseline(rs.power, schema, self._params(), self.as_of_)
        base = frame.select(  # one pass: the conditions and the values audiences carry
            pl.col("customer_id").cast(pl.String),
            *[(c.expr if c else pl.lit(False)).alias(f"_m{i}") for i, c in enumerate(conditions)],
            *[expr.alias(f"_cs__{column}") for column, expr in states.items()],
            *([] if baseline is None else [baseline.alias("_baseline")]),
            *[pl.col(c).alias(f"_v__{c}") for c in value_columns(qualifying, carry, schema)],
        ).collect(engine="streaming")
        base, values = split_values(base, value_columns(qualifying, carry, schema))
        sums = base.select(pl.col(f"_m{i}").sum() for i in range(len(conditions))).row(0)
        matched = {r.name: int(n) for r, n in zip(rs.ordered(), sums, strict=True)}
        coded = _codes(base, rs)
        members = _assign(coded, rs, present=set(states))
        rows, stat_notes = segment_stats(
            members, rule_set=rs, matched=matched, present=set(states), skipped=skipped
        )
        report = SegmentReport(
            mode=rs.mode,
            customers=base.height,
            salt=rs.control.salt,
            rules_fingerprint=rs.fingerprint(),
            baseline=baseline_source,
            thresholds=list(self.thresholds_.values()),
            segments=rows,
            overlaps=overlap_report(base, coded, rule_set=rs),
            notes=notes + stat_notes,
        )
        members = members.select(pl.exclude("_baseline", "^_cs__.*$"))
        return SegmentResult(members, report, rs, qualifying, values=values, as_of=self.as_of_)


def _source(rules: Any) -> str:
    """How error messages name the rule set: its file, or 'rules'."""
    return str(rules) if isinstance(rules, str | Path) else "rules"


def _compile_rules(
    rs: RuleSet,
    schema: Mapping[str, pl.DataType],
    *,
    params: dict[str, float],
    as_of: dt.datetime | None,
    source: str,
) -> tuple[list[Compiled | None], dict[str, str]]:
    """Each rule's compiled condition in priority order (None for a skipped optional rule) and
    why each skipped rule was skipped; every condition that does not fit is reported at once."""
    out: list[Compiled | None] = []
    errors: list[str] = []
    skipped: dict[str, str] = {}
    for rule in rs.ordered():
        try:
            out.append(compile_condition(rule.when, schema=schema, params=params, as_of=as_of))
        except ConditionError as err:
            absent = _absent_features(rule.when, schema) if rule.optional else []
            if not absent:
                errors.append(f"  segment {rule.name!r}: {err}")
                continue
            skipped[rule.name] = (
                f"the data has no {absent} (segml features its tables cannot produce, e.g. "
                "intent__* without events)"
            )
            out.append(None)
    if errors:
        raise ConfigError(
            f"{source}: {len(errors)} segment condition(s) do not fit the data:\n"
            + "\n".join(errors)
            + "\nFix them in the rule set; docs/segments.md describes the condition language."
        )
    return out, skipped


def columns_read(rules: Any, schema: Mapping[str, Any], *, as_of: AsOf | None = None) -> list[str]:
    """The columns of a customer table with ``schema`` that a Segmenter with ``rules`` reads:
    ``customer_id``, the columns of every condition, derived threshold, consent rule and the
    power baseline, and the score and decile columns it checks and reports.

    ``Segmenter`` and ``segml.exports.export_segments`` give the same members, report and
    audiences over these columns as over the whole table (the Spark scoring job collects only
    them to the driver). A rule set that does not fit ``schema`` raises the ConfigError ``fit``
    would.
    """
    rs = as_rule_set(rules)
    cutoff = None if as_of is None else parse_as_of(as_of)
    source = _source(rules)
    params = {name: 0.0 for name in rs.thresholds}  # values do not change what is read
    conditions, _ = _compile_rules(rs, schema, params=params, as_of=cutoff, source=source)
    exprs = [c.expr for c in conditions if c is not None]
    exprs += threshold_exprs(rs.thresholds, schema, source=source, as_of=cutoff)
    exprs += consent_states(rs, schema)[0].values()
    baseline, _ = _baseline(rs.power, schema, params, cutoff)
    exprs += [] if baseline is None else [baseline]
    names = {name for e in exprs for name in e.meta.root_names()}
    names |= {c for c in (*_PROBABILITIES, *_DECILES, *_SCORES) if c in schema}
    return ["customer_id", *sorted(names - {"customer_id"})]


def _absent_features(condition: str, schema: Mapping[str, pl.DataType]) -> list[str]:
    """The names a condition reads that segml can produce but the data lacks; empty when any
    other name is unknown too (a typo must still fail)."""
    stack, names = [parse_condition(condition)], set()
    while stack:
        node = stack.pop()
        names.update([node.name] if isinstance(node, Name) else [])
        stack.extend(children(node))
    absent = sorted(n for n in names if n not in schema)
    for name in absent:
        try:
            describe(name)
        except KeyError:
            if not name.startswith(_SCORE_FAMILIES):
                return []
    return absent


def _baseline(
    power: PowerSettings,
    schema: Mapping[str, pl.DataType],
    params: dict[str, float],
    as_of: dt.datetime | None,
) -> tuple[pl.Expr | None, str]:
    """The per-customer baseline conversion the power calculation averages, and its source."""
    spec = power.baseline
    if isinstance(spec, float | int):
        return pl.lit(float(spec)), f"fixed rate {spec:g} (power.baseline)"
    if spec is None:
        if "score__purchase" in schema:
            spec = "score__purchase"
        elif "rfm__orders_30d" in schema:
            spec = "rfm__orders_30d > 0"
        else:
            return None, "none (no score__purchase or rfm__orders_30d; set power.baseline)"
    try:
        compiled = compile_value(spec, schema=schema, params=params, as_of=as_of)
    except ConditionError as err:
        raise ConfigError(f"power.baseline: {err}") from err
    how = "share of customers with" if compiled.kind == "bool" else "mean of"
    return compiled.expr.cast(pl.Float64), f"{how} {spec} over each segment's reachable members"


def _per_segment(values: list[Any], dtype: pl.DataType | type[pl.DataType]) -> pl.Expr:
    """A value per segment code (rules in priority order, then the default segment)."""
    return pl.lit(pl.Series(values, dtype=dtype)).gather(pl.col("_code"))


def _codes(base: pl.DataFrame, rs: RuleSet) -> pl.DataFrame:
    """``_code``: the index of the matching rule in priority order (len(rules): none), with
    ``primary``; one row per customer, or per match in membership mode."""
    default = len(rs.segments)
    hits = [pl.when(pl.col(f"_m{i}")).then(pl.lit(i, pl.UInt16)) for i in range(default)]
    if rs.mode == "exclusive":
        return base.with_columns(
            pl.coalesce(*hits, pl.lit(default, pl.UInt16)).alias("_code"),
            pl.lit(True).alias("primary"),
        )
    codes = pl.concat_list(hits).list.drop_nulls()
    none = pl.lit(pl.Series([[default]], dtype=pl.List(pl.UInt16)))
    return (
        base.with_columns(pl.when(codes.list.len() > 0).then(codes).otherwise(none).alias("_code"))
        .with_columns(pl.col("_code").list.first().alias("_first"))
        .explode("_code")
        .with_columns((pl.col("_code") == pl.col("_first")).alias("primary"))
    )


def _assign(coded: pl.DataFrame, rs: RuleSet, *, present: set[str]) -> pl.DataFrame:
    """Segments as integer codes (cheap to compute with), named once; groups; eligibility.
    ``present``: the consent columns in the data (``_cs__<column>`` in ``coded``)."""
    rules, default = rs.ordered(), len(rs.segments)
    names = [r.name for r in rules] + [rs.default_segment]
    shares = [rs.control_share(r) for r in rules] + [0.0]
    frame = coded.with_columns(
        _per_segment(names, pl.String).alias("segment"),
        _per_segment([r.priority for r in rules] + [None], pl.Int32).alias("priority"),
        _per_segment(shares, pl.Float64).alias("_share"),
    ).with_columns((pl.col("_share") > 0).alias("_hash"))
    draw = control_draws(
        frame.select("customer_id", "segment", "_hash"), salt=rs.control.salt, where="_hash"
    )
    group = (
        pl.when(pl.col("_code") == default)
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("_draw") < pl.col("_share"))
        .then(pl.lit("control"))
        .otherwise(pl.lit("treatment"))
    )
    eligible = [_eligible(rs, channel, present) for channel in rs.channels]
    reachable = pl.any_horizontal(eligible) if eligible else pl.lit(False)
    flags = [f"eligible__{c}" for c in rs.channels]
    keep = [c for c in coded.columns if c == "_baseline" or c.startswith("_cs__")]
    return (
        frame.with_columns(draw.alias("_draw"))
        .with_columns(
            group.alias("group"),
            *[e.alias(name) for e, name in zip(eligible, flags, strict=True)],
            reachable.alias("reachable"),
        )
        .select(
            "customer_id", "segment", "priority", "primary", "group", *flags, "reachable", *keep
        )
        .sort("customer_id", "priority", nulls_last=True)
    )


def _eligible(rs: RuleSet, channel: str, present: set[str]) -> pl.Expr:
    """True where the customer's segment uses ``channel`` and they give the consent that
    segment requires for it (a missing flag or a column not in the data: no consent)."""
    by_column: dict[str | None, list[int]] = {}
    for i, rule in enumerate(rs.ordered()):
        if channel in rule.channels:
            by_column.setdefault(rs.consent_column(rule, channel), []).append(i)
    parts = []
    for column, codes in by_column.items():
        if column is not None and column not in present:
            continue
        uses = pl.col("_code").is_in(pl.lit(pl.Series(codes, dtype=pl.UInt16)).implode())
        parts.append(uses if column is None else uses & (pl.col(f"_cs__{column}") == 1))
    return pl.any_horizontal(parts).fill_null(False) if parts else pl.lit(False)

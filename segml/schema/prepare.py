"""Validate and normalise raw tables to the data contract.

Each table is renamed to canonical columns, parsed (timestamps to UTC epoch days, amounts to
float64), checked, and cleaned by documented rules, every one of them counted in the
data-quality report. A row is counted by the first rule that applies, so the counts add up:
rows read = rows used + rows dropped + rows set aside, per table (see quality.py).

orders
  - no order time: dropped.
  - missing customer id: a guest order; dropped (features are per known customer).
  - product id in ``non_product_ids`` (postage, fees, adjustments): dropped.
  - negative or missing unit price (or missing revenue): dropped.
  - zero amount (unit price or revenue 0): set aside. Not a purchase for the features (in
    Online Retail these are samples and stock write-offs); ``rfm_summary`` counts them as
    transactions, as lifetimes does.
  - exact duplicate line (every column equal): dropped, one copy kept.
  - cancellation/return (negative quantity or revenue, a return status, or an order id starting
    with ``return_order_prefix``): kept with ``is_return``; never counted as a purchase.
events
  - no event time, or missing customer id: dropped. Unknown event types: kept, counted, used
    by no feature.
customers (customers.py)
  - missing customer id, or no ``updated_time`` when one is mapped: dropped; repeated ids
    without ``updated_time``: merged.
all
  - timestamps with an explicit offset are converted to UTC; naive timestamps are taken as UTC.
  - rows at or after the cutoff: set aside; features never read them.

Errors: unmappable columns; time or amount columns of the wrong type (a boolean revenue);
unparseable timestamps or amounts; NaN or infinite amounts, amounts beyond 1e15 and revenue
adding up beyond what Int64 sums hold (checks.py); empty inputs.
"""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from segml.config import EventsConfig, OrdersConfig
from segml.engine import collect, materialise, parse_float, parse_time_days, stage
from segml.errors import DataError, example_values
from segml.schema.checks import (
    amount_checks,
    check_amounts,
    check_types,
    count_if,
    number_checks,
    raise_number_problems,
)
from segml.schema.contract import EVENT_TYPES, EVENTS, ORDERS, TableSpec
from segml.schema.quality import QualityReport
from segml.schema.text import TextPlan, as_text

__all__ = ["map_columns", "parse_table", "prepare_events", "prepare_orders"]

_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"


def map_columns(
    lf: nw.LazyFrame[Any], spec: TableSpec, mapping: dict[str, str], keep: tuple[str, ...] = ()
) -> nw.LazyFrame[Any]:
    """Rename the user's columns to canonical names; fail naming every missing column."""
    found = lf.collect_schema().names()
    unknown = sorted(set(mapping) - set(spec.canonical))
    if unknown:
        raise DataError(
            f"data.{spec.name}.columns maps unknown canonical names {unknown}; "
            f"the {spec.name} table has {list(spec.canonical)}."
        )
    source = {canon: mapping.get(canon, canon) for canon in spec.canonical}
    missing = [
        f"{canon} (looked for {src!r})" if src != canon else canon
        for canon, src in source.items()
        if canon in spec.required and src not in found
    ]
    if missing:
        example = spec.required[0] if not [m for m in missing if "(" not in m] else missing[0]
        raise DataError(
            f"{spec.name} is missing required columns {missing}; found {found}. Map them in the "
            f"config under data.{spec.name}.columns, e.g. {example.split(' ')[0]}: <your column>."
        )
    exprs = [nw.col(src).alias(canon) for canon, src in source.items() if src in found]
    extra = [nw.col(k) for k in keep if k in found and k not in source]
    return lf.select(*exprs, *extra)


def _raise_unparseable(
    lf: nw.LazyFrame[Any], spec: TableSpec, column: str, bad: nw.Expr, n_bad: int, n: int, what: str
) -> None:
    examples = collect(lf.filter(bad).select(nw.col(column).cast(nw.String)).head(3))
    values = examples.get_column(column).to_list()
    raise DataError(
        f"{spec.name}.{column} has {n_bad:,} of {n:,} rows that are not {what}, e.g. "
        f"{example_values(values)}. Fix or drop those rows, or map data.{spec.name}.columns."
        f"{column} to the right column."
    )


def parse_table(
    lf: nw.LazyFrame[Any],
    spec: TableSpec,
    report: QualityReport,
    text: TextPlan,
    extra: dict[str, nw.Expr] | None = None,
) -> tuple[nw.LazyFrame[Any], dict[str, Any]]:
    """Parse times and numbers; raise on any value later steps cannot use; return the counts.

    Each time column becomes its ``spec.parsed_times`` name (epoch days). ``extra`` counts (over
    the raw and the parsed ``<column>__days``/``__num`` columns) and the text checks run in the
    same pass as the parse checks, so validating a table reads it once; ``text`` learns what it
    needs. ``<column>__missing`` counts the rows without a timestamp.
    """
    schema = lf.collect_schema()
    names = schema.names()
    times = [c for c in spec.time_columns if c in names]
    numbers = [c for c in spec.number_columns if c in names]
    check_types(spec, schema, times, numbers)
    for c in times:
        lf = parse_time_days(lf, c, f"{c}__days")
    for c in numbers:
        lf = parse_float(lf, c, f"{c}__num")
    checks = {"n": nw.len(), **text.checks(), **(extra or {})}
    textual = {c for c in times + numbers if schema[c] == nw.String}
    for c in times:
        checks[f"{c}__bad"] = _bad(c, f"{c}__days", c in textual).sum()
        checks[f"{c}__missing"] = nw.col(f"{c}__days").is_null().cast(nw.Int64).sum()
        if c in textual:
            checks[f"{c}__tz"] = nw.col(c).str.contains(_OFFSET).cast(nw.Int64).sum()
    for c in numbers:
        checks[f"{c}__bad"] = _bad(c, f"{c}__num", c in textual).sum()
        checks.update(number_checks(c, nw.col(f"{c}__num")))
    queries = [lf.select(**checks), *text.queries(lf)]
    results = [collect(q) for q in materialise(queries)]
    counts: dict[str, Any] = {
        k: (v if isinstance(v, float) else int(v or 0))
        for k, v in results[0].row(0, named=True).items()
    }
    text.learn(counts, results[1:])
    n = int(counts["n"])
    if n == 0:
        raise DataError(f"{spec.name} is empty (0 rows); point data.{spec.name}.path at the data.")
    for c in times + numbers:
        if counts[f"{c}__bad"]:
            suffix = "__days" if c in times else "__num"
            what = "parseable timestamps" if c in times else "numbers"
            bad = _bad(c, c + suffix, c in textual)
            _raise_unparseable(lf, spec, c, bad, counts[f"{c}__bad"], n, what)
        if c in numbers:
            raise_number_problems(lf, spec, c, f"{c}__num", counts)
        if counts.get(f"{c}__tz"):
            report.add(spec.name, f"{c}_offsets_to_utc", counts[f"{c}__tz"], "converted to UTC")
    parsed = dict(zip(spec.time_columns, spec.parsed_times, strict=True))
    renames = {f"{c}__days": parsed[c] for c in times}
    lf = lf.drop(*times, *numbers).rename({**renames, **{f"{c}__num": c for c in numbers}})
    return lf, counts


def _bad(raw: str, parsed: str, is_text: bool) -> nw.Expr:
    """1 where a present value did not parse (blank text counts as missing, not as bad)."""
    present = ~nw.col(raw).is_null()
    if is_text:
        present = present & (nw.col(raw).str.strip_chars() != "")
    return (present & nw.col(parsed).is_null()).cast(nw.Int64)


def _derive_category(lf: nw.LazyFrame[Any], cfg: OrdersConfig) -> nw.LazyFrame[Any]:
    rules = cfg.category_rules
    if rules is None:
        return lf
    if rules.source not in lf.collect_schema().names():
        raise DataError(
            f"orders: category_rules.source {rules.source!r} is not a column; found "
            f"{lf.collect_schema().names()}. Set data.orders.category_rules.source."
        )
    text = nw.col(rules.source).cast(nw.String).str.to_uppercase()
    expr = nw.lit(rules.default)
    for name, pattern in reversed(list(rules.rules.items())):
        expr = nw.when(text.str.contains(f"(?i){pattern}")).then(nw.lit(name)).otherwise(expr)
    return lf.with_columns(expr.alias("category")).drop(rules.source)


_ORDER_RULES = (  # in order: a row is counted by the first rule that applies
    ("null_time_rows", "dropped: no order time", "dropped"),
    ("guest_rows", "dropped: no customer id", "dropped"),
    ("non_product_rows", "dropped: fee/postage/adjustment", "dropped"),
    ("bad_price_rows", "dropped: negative or missing price", "dropped"),
    (
        "zero_amount_rows",
        "set aside: not a purchase for features; rfm_summary counts it",
        "set_aside",
    ),
)


def prepare_orders(
    raw: nw.LazyFrame[Any], cfg: OrdersConfig, report: QualityReport, *, int_ids: bool = False
) -> tuple[nw.LazyFrame[Any], nw.LazyFrame[Any]]:
    """Orders in canonical form: customer_id, order_id, t (epoch days), revenue, is_return, ...

    Returns the orders the features read and, apart, the zero-amount lines (``rfm_summary``
    counts them as transactions, as lifetimes does; the features do not).
    """
    keep = (cfg.category_rules.source,) if cfg.category_rules else ()
    lf = map_columns(raw, ORDERS, cfg.columns, keep=keep)
    names = lf.collect_schema().names()
    if "revenue" not in names and not {"quantity", "unit_price"} <= set(names):
        raise DataError(
            f"orders needs either a revenue column or both quantity and unit_price; found "
            f"{names}. Map them under data.orders.columns, e.g. revenue: total_amount."
        )
    text = TextPlan(lf.collect_schema(), _present(ORDERS.text_columns, names), int_ids=int_ids)
    lf, parsed = parse_table(lf, ORDERS, report, text, extra=amount_checks(names))
    check_amounts(lf, names, parsed)
    lf = _derive_category(text.apply(lf), cfg)
    schema = lf.collect_schema()
    names = schema.names()
    if "revenue" not in names:
        lf = lf.with_columns((nw.col("quantity") * nw.col("unit_price")).alias("revenue"))
    lf = lf.with_columns(_is_return(cfg, schema).alias("is_return"), _rule(cfg, schema))
    clean, zero, counts = _stage_orders(lf)
    report.add("orders", "rows", parsed["n"], "read", kind="read")
    for k, (check, action, kind) in enumerate(_ORDER_RULES, start=1):
        report.add("orders", check, counts[f"_r{k}"], action, kind=kind)
    duplicates = counts["_r0"] - counts["used"]
    action = "dropped: exact duplicate of another row"
    report.add("orders", "duplicate_rows", duplicates, action, kind="dropped")
    report.add("orders", "rows_used", counts["used"], "used by the features", kind="used")
    report.add("orders", "return_rows", counts["returns"], "of the rows used: returns")
    return clean, zero


def _stage_orders(
    lf: nw.LazyFrame[Any],
) -> tuple[nw.LazyFrame[Any], nw.LazyFrame[Any], dict[str, int]]:
    """Stage the kept rows, deduplicated, and the zero-amount rows; count every rule, in the
    staging read (the kept rows are counted afterwards from the staged file)."""
    zero = lf.filter(nw.col("_rule") == len(_ORDER_RULES)).drop("_rule")
    clean = lf.filter(nw.col("_rule") == 0).drop("_rule").unique()
    rules = {f"_r{k}": count_if(nw.col("_rule") == k) for k in range(len(_ORDER_RULES) + 1)}
    clean, results, (zero,) = stage(clean, [lf.select(**rules)], small=[zero])
    used = clean.select(used=nw.len(), returns=count_if(nw.col("is_return")))
    counts = {**results[0].row(0, named=True), **collect(used).row(0, named=True)}
    return clean, zero, {k: int(v) for k, v in counts.items()}


def _rule(cfg: OrdersConfig, schema: Any) -> nw.Expr:
    """The number of the first ``_ORDER_RULES`` rule a row falls under (0: none)."""
    names = schema.names()
    nonprod = (
        as_text("product_id", schema["product_id"]).is_in(cfg.non_product_ids).fill_null(False)
        if "product_id" in names and cfg.non_product_ids
        else nw.lit(False)
    )
    price = nw.col("unit_price") if "unit_price" in names else nw.col("revenue")
    bad = nw.col("revenue").is_null() | price.is_null()
    if "unit_price" in names:
        bad = bad | (nw.col("unit_price") < 0)
    zero = (nw.col("revenue") == 0) | (price == 0)
    conditions = [nw.col("t").is_null(), nw.col("customer_id").is_null(), nonprod, bad, zero]
    expr = nw.lit(0)
    for k, cond in reversed(list(enumerate(conditions, start=1))):
        expr = nw.when(cond).then(nw.lit(k)).otherwise(expr)
    return expr.cast(nw.Int8).alias("_rule")


def _present(columns: tuple[str, ...], names: list[str]) -> list[str]:
    return [c for c in columns if c in names]


def _is_return(cfg: OrdersConfig, schema: Any) -> nw.Expr:
    names = schema.names()
    expr = nw.col("revenue") < 0
    if "quantity" in names:
        expr = expr | (nw.col("quantity") < 0)
    if "status" in names and cfg.return_statuses:
        expr = expr | nw.col("status").str.to_lowercase().is_in(cfg.return_statuses).fill_null(
            False
        )
    if cfg.return_order_prefix:
        prefixed = as_text("order_id", schema["order_id"]).str.starts_with(cfg.return_order_prefix)
        expr = expr | prefixed.fill_null(False)
    return expr.fill_null(False)


def prepare_events(
    raw: nw.LazyFrame[Any], cfg: EventsConfig, report: QualityReport, *, int_ids: bool = False
) -> nw.LazyFrame[Any]:
    """Events in canonical form: customer_id, t (epoch days), event_type (lower case), ..."""
    lf = map_columns(raw, EVENTS, cfg.columns)
    names = lf.collect_schema().names()
    text = TextPlan(lf.collect_schema(), _present(EVENTS.text_columns, names), int_ids=int_ids)
    no_time = nw.col("event_time__days").is_null()
    guest = count_if(~no_time & text.clean("customer_id").is_null())
    lf, counts = parse_table(lf, EVENTS, report, text, extra={"guest": guest})
    lf = text.apply(lf)
    unknown = text.count("event_type", lambda v: v not in EVENT_TYPES)
    n, missing, n_guest = counts["n"], counts["event_time__missing"], counts["guest"]
    report.add("events", "rows", n, "read", kind="read")
    report.add("events", "null_time_rows", missing, "dropped: no event time", kind="dropped")
    report.add("events", "guest_rows", n_guest, "dropped: no customer id", kind="dropped")
    report.add("events", "rows_used", n - missing - n_guest, "used by the features", kind="used")
    report.add("events", "unknown_event_type_rows", unknown, "kept, used by no feature")
    return lf.filter(~nw.col("t").is_null() & ~nw.col("customer_id").is_null())

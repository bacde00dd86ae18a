"""Validate and normalise raw tables to the data contract.

Each table is renamed to canonical columns, parsed (timestamps to UTC epoch days, amounts to
float64), checked, and cleaned by documented rules, every one of them counted in the
data-quality report:

orders
  - missing customer id: a guest order; dropped (features are per known customer).
  - exact duplicate line (every column equal): dropped, one copy kept.
  - product id in ``non_product_ids`` (postage, fees, adjustments): dropped.
  - zero or negative unit price (or zero revenue): dropped.
  - cancellation/return (negative quantity or revenue, a return status, or an order id starting
    with ``return_order_prefix``): kept with ``is_return``; never counted as a purchase.
events
  - missing customer id: dropped. Unknown event types: kept, counted, used by no feature.
both
  - timestamps with an explicit offset are converted to UTC; naive timestamps are taken as UTC.
  - rows at or after the cutoff: counted; features never read them.

Unmappable columns, unparseable timestamps or amounts, and empty inputs are errors.
"""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from segml.config import CustomersConfig, EventsConfig, OrdersConfig
from segml.engine import collect, materialise, parse_float, parse_time_days, stage
from segml.errors import DataError, example_values
from segml.schema.contract import CUSTOMERS, EVENT_TYPES, EVENTS, ORDERS, TableSpec
from segml.schema.quality import QualityReport
from segml.schema.text import TextPlan, as_text

__all__ = ["prepare_customers", "prepare_events", "prepare_orders"]

_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"
_TRUE = ["true", "t", "yes", "y", "1", "1.0", "opt_in", "opted_in", "subscribed"]
_FALSE = ["false", "f", "no", "n", "0", "0.0", "opt_out", "opted_out", "unsubscribed", ""]


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


def _parse(
    lf: nw.LazyFrame[Any],
    spec: TableSpec,
    report: QualityReport,
    text: TextPlan,
    time_as: str = "t",
    extra: dict[str, nw.Expr] | None = None,
) -> tuple[nw.LazyFrame[Any], dict[str, int]]:
    """Parse times and numbers; raise on any unparseable value; return the counts.

    The first time column becomes ``time_as`` (epoch days); the others keep their names.
    ``extra`` counts (over the unparsed columns) and the text checks run in the same pass as
    the parse checks, so validating a table reads it once; ``text`` learns what it needs.
    """
    schema = lf.collect_schema()
    names = schema.names()
    times = [c for c in spec.time_columns if c in names]
    numbers = [c for c in spec.number_columns if c in names]
    for c in times:
        lf = parse_time_days(lf, c, f"{c}__days")
    for c in numbers:
        lf = parse_float(lf, c, f"{c}__num")
    checks = {"n": nw.len(), **text.checks(), **(extra or {})}
    textual = {c for c in times + numbers if schema[c] == nw.String}
    for c in times:
        checks[f"{c}__bad"] = _bad(c, f"{c}__days", c in textual).sum()
        if c in textual:
            checks[f"{c}__tz"] = nw.col(c).str.contains(_OFFSET).cast(nw.Int64).sum()
    for c in numbers:
        checks[f"{c}__bad"] = _bad(c, f"{c}__num", c in textual).sum()
    queries = [lf.select(**checks), *text.queries(lf)]
    results = [collect(q) for q in materialise(queries)]
    counts = results[0].row(0, named=True)
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
        if counts.get(f"{c}__tz"):
            report.add(spec.name, f"{c}_offsets_to_utc", counts[f"{c}__tz"], "converted to UTC")
    renames = {f"{c}__days": (time_as if i == 0 else c) for i, c in enumerate(times)}
    lf = lf.drop(*times, *numbers).rename({**renames, **{f"{c}__num": c for c in numbers}})
    return lf, {k: int(v or 0) for k, v in counts.items()}


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


def prepare_orders(
    raw: nw.LazyFrame[Any], cfg: OrdersConfig, report: QualityReport, *, int_ids: bool = False
) -> nw.LazyFrame[Any]:
    """Orders in canonical form: customer_id, order_id, t (epoch days), revenue, is_return, ..."""
    keep = (cfg.category_rules.source,) if cfg.category_rules else ()
    lf = map_columns(raw, ORDERS, cfg.columns, keep=keep)
    names = lf.collect_schema().names()
    if "revenue" not in names and not {"quantity", "unit_price"} <= set(names):
        raise DataError(
            f"orders needs either a revenue column or both quantity and unit_price; found "
            f"{names}. Map them under data.orders.columns, e.g. revenue: total_amount."
        )
    text = TextPlan(lf.collect_schema(), _present(ORDERS.text_columns, names), int_ids=int_ids)
    lf, parsed = _parse(lf, ORDERS, report, text)
    lf = _derive_category(text.apply(lf), cfg)
    n = parsed["n"]
    schema = lf.collect_schema()
    names = schema.names()
    if "revenue" not in names:
        lf = lf.with_columns((nw.col("quantity") * nw.col("unit_price")).alias("revenue"))
    lf = lf.with_columns(
        _is_return(cfg, schema).alias("is_return"), _bad_price(names).alias("_bad_price")
    )
    nonprod = (
        as_text("product_id", schema["product_id"]).is_in(cfg.non_product_ids)
        if "product_id" in names and cfg.non_product_ids
        else nw.lit(False)
    )
    lf = lf.with_columns(nonprod.fill_null(False).alias("_non_product"))
    kept = ~nw.col("customer_id").is_null() & ~nw.col("_non_product") & ~nw.col("_bad_price")
    clean, (checks, unique) = stage(
        lf.unique().filter(kept).drop("_non_product", "_bad_price"),
        [
            lf.select(
                guest=nw.col("customer_id").is_null().cast(nw.Int64).sum(),
                returns=nw.col("is_return").cast(nw.Int64).sum(),
                bad_price=(nw.col("_bad_price") & ~nw.col("_non_product")).cast(nw.Int64).sum(),
                non_product=nw.col("_non_product").cast(nw.Int64).sum(),
            ),
            lf.unique().select(nw.len()),
        ],
    )
    counts = checks.row(0, named=True)
    n_unique = unique.item()
    report.add("orders", "rows", n, "read")
    report.add("orders", "guest_rows", counts["guest"], "dropped: no customer id")
    report.add("orders", "duplicate_rows", n - n_unique, "dropped: exact duplicate of another row")
    report.add(
        "orders", "non_product_rows", counts["non_product"], "dropped: fee/postage/adjustment"
    )
    report.add("orders", "bad_price_rows", counts["bad_price"], "dropped: zero or negative price")
    report.add("orders", "return_rows", counts["returns"], "kept as returns, not purchases")
    return clean


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


def _bad_price(names: list[str]) -> nw.Expr:
    if "unit_price" in names:
        return (nw.col("unit_price") <= 0).fill_null(True) | nw.col("revenue").is_null()
    return (nw.col("revenue") == 0) | nw.col("revenue").is_null()


def prepare_events(
    raw: nw.LazyFrame[Any], cfg: EventsConfig, report: QualityReport, *, int_ids: bool = False
) -> nw.LazyFrame[Any]:
    """Events in canonical form: customer_id, t (epoch days), event_type (lower case), ..."""
    lf = map_columns(raw, EVENTS, cfg.columns)
    names = lf.collect_schema().names()
    text = TextPlan(lf.collect_schema(), _present(EVENTS.text_columns, names), int_ids=int_ids)
    guest = text.clean("customer_id").is_null().cast(nw.Int64).sum()
    lf, counts = _parse(lf, EVENTS, report, text, extra={"guest": guest})
    lf = text.apply(lf)
    unknown = text.count("event_type", lambda v: v not in EVENT_TYPES)
    report.add("events", "rows", counts["n"], "read")
    report.add("events", "guest_rows", counts["guest"], "dropped: no customer id")
    report.add("events", "unknown_event_type_rows", unknown, "kept, used by no feature")
    return lf.filter(~nw.col("customer_id").is_null())


def prepare_customers(
    raw: nw.LazyFrame[Any], cfg: CustomersConfig, report: QualityReport, *, int_ids: bool = False
) -> nw.LazyFrame[Any]:
    """Customers in canonical form: customer_id, signup_t (epoch days), attributes, consent."""
    lf = map_columns(raw, CUSTOMERS, cfg.columns)
    names = lf.collect_schema().names()
    columns = _present(CUSTOMERS.text_columns, names)
    text = TextPlan(lf.collect_schema(), columns, int_ids=int_ids)
    lf, parsed = _parse(lf, CUSTOMERS, report, text, time_as="signup_t")
    lf = text.apply(lf)
    n = parsed["n"]
    for flag in (c for c in CUSTOMERS.flag_columns if c in names):
        lf = _parse_flag(lf, flag, n)
    n_unique = collect(lf.select(nw.col("customer_id").n_unique())).item()
    report.add("customers", "rows", n, "read")
    report.add("customers", "duplicate_customer_ids", n - n_unique, "merged: one row per id")
    # Deterministic: a repeated id keeps, per column, the largest value (latest text, True flag).
    others = [c for c in lf.collect_schema().names() if c != "customer_id"]
    return (
        lf.filter(~nw.col("customer_id").is_null())
        .group_by("customer_id")
        .agg(*[nw.col(c).max() for c in others])
    )


def _parse_flag(lf: nw.LazyFrame[Any], column: str, n: int) -> nw.LazyFrame[Any]:
    text = nw.col(column).cast(nw.String).str.strip_chars().str.to_lowercase()
    parsed = (
        nw.when(text.is_in(_TRUE))
        .then(nw.lit(True))
        .when(text.is_in(_FALSE))
        .then(nw.lit(False))
        .otherwise(None)
    )
    lf = lf.with_columns(parsed.alias(f"{column}__flag"))
    bad = (~nw.col(column).is_null() & nw.col(f"{column}__flag").is_null()).cast(nw.Int64)
    n_bad = collect(lf.select(bad.sum())).item()
    if n_bad:
        examples = collect(lf.filter(bad == 1).select(nw.col(column).cast(nw.String)).head(3))
        raise DataError(
            f"customers.{column} has {n_bad:,} of {n:,} rows that are not yes/no flags, e.g. "
            f"{example_values(examples.get_column(column).to_list())}; expected true/false, "
            "yes/no or 1/0 (missing means no consent)."
        )
    return (
        lf.drop(column)
        .rename({f"{column}__flag": column})
        .with_columns(nw.col(column).fill_null(False))
    )

"""The customers table: attributes as they were known at each cutoff.

A customers table with an ``updated_time`` column is a history: each row holds a customer's
attributes as of that time (a CRM snapshot, or every order line of a log that carries the
customer's country). A cutoff sees, per customer, the latest row before it; ties at the same
time keep the largest value per column. Rows without ``updated_time`` are dropped and counted
(no cutoff could tell whether it may see them).

Without ``updated_time`` the table is taken as valid at every cutoff (a snapshot: use it only
for attributes that do not change, or were taken before the earliest cutoff). A repeated id
is then merged into one row, deterministically: the largest value per column (the latest
date, a True consent flag); the merged rows are counted. Rows whose ``signup_time`` is at or
after a cutoff are invisible at that cutoff.

Contact details (``email``, ``phone``, ``first_name``, ``last_name``, ``postal_code``: personal
data) are split off into a table of their own, ``contacts``: one row per customer with the
latest known values (the customer's latest row by ``updated_time``, else the merged row). The
customers table the features read never holds them, so no feature, score, log or MLflow
artifact can; only export destinations read ``contacts``, joined on ``customer_id`` when the
audience files are written (docs/exports.md).
"""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from segml.config import CustomersConfig
from segml.schema.checks import count_if, raise_examples
from segml.schema.contract import CUSTOMERS
from segml.schema.prepare import map_columns, parse_table
from segml.schema.quality import QualityReport
from segml.schema.text import TextPlan

__all__ = ["contacts_of", "customers_at", "prepare_customers", "visible_at"]

_TRUE = ["true", "t", "yes", "y", "1", "1.0", "opt_in", "opted_in", "subscribed"]
_FALSE = ["false", "f", "no", "n", "0", "0.0", "opt_out", "opted_out", "unsubscribed", ""]


def prepare_customers(
    raw: nw.LazyFrame[Any], cfg: CustomersConfig, report: QualityReport, *, int_ids: bool = False
) -> tuple[nw.LazyFrame[Any], nw.LazyFrame[Any] | None]:
    """Customers in canonical form: customer_id, signup_t and updated_t (epoch days),
    attributes, consent flags; one row per customer unless ``updated_time`` is mapped. Second:
    the contact details (``contacts_of``), None when the table maps none."""
    lf = map_columns(raw, CUSTOMERS, cfg.columns)
    names = lf.collect_schema().names()
    columns = [c for c in CUSTOMERS.text_columns if c in names]
    text = TextPlan(lf.collect_schema(), columns, int_ids=int_ids)
    flags = [c for c in CUSTOMERS.flag_columns if c in names]
    timed = "updated_time" in names
    cid = text.clean("customer_id")
    no_time = nw.col("updated_time__days").is_null() if timed else nw.lit(False)
    extra = {
        "guest": count_if(cid.is_null()),
        "no_time": count_if(~cid.is_null() & no_time),
        "ids": cid.n_unique() - (cid.null_count() > 0).cast(nw.Int64),
        **{f"{f}__flag": count_if(_flag_bad(f)) for f in flags},
    }
    lf, counts = parse_table(lf, CUSTOMERS, report, text, extra=extra)
    for f in flags:
        if counts[f"{f}__flag"]:
            raise_examples(
                lf,
                f,
                _flag_bad(f),
                f"customers.{f} has {counts[f'{f}__flag']:,} of {counts['n']:,} rows that are "
                "not yes/no flags",
                "Expected true/false, yes/no or 1/0 (missing means no consent).",
            )
    lf = text.apply(lf)
    if flags:
        lf = lf.with_columns(*[_flag(f).fill_null(False).alias(f) for f in flags])
    lf = lf.filter(~nw.col("customer_id").is_null())
    _report(report, counts, timed=timed)
    if timed:
        lf = lf.filter(~nw.col("updated_t").is_null())
    contacts = contacts_of(lf)
    lf = lf.drop(*[c for c in CUSTOMERS.contact_columns if c in names])
    if timed:
        return lf, contacts
    others = [c for c in lf.collect_schema().names() if c != "customer_id"]
    return lf.group_by("customer_id").agg(*[nw.col(c).max() for c in others]), contacts


def contacts_of(customers: nw.LazyFrame[Any]) -> nw.LazyFrame[Any] | None:
    """``customer_id`` and the contact columns the table has (as text), one row per customer:
    its latest row by ``updated_t`` when the table has times; ties and repeated ids without
    times keep the largest value per column, deterministically. None: no contact column."""
    names = customers.collect_schema().names()
    wanted = [c for c in CUSTOMERS.contact_columns if c in names]
    if not wanted:
        return None
    lf = customers
    if "updated_t" in names:
        lf = lf.filter(nw.col("updated_t") == nw.col("updated_t").max().over("customer_id"))
    text = [nw.col(c).cast(nw.String).max().alias(c) for c in wanted]
    return lf.group_by("customer_id").agg(*text)


def _report(report: QualityReport, counts: dict[str, Any], *, timed: bool) -> None:
    n, guest = counts["n"], counts["guest"]
    report.add("customers", "rows", n, "read", kind="read")
    report.add("customers", "guest_rows", guest, "dropped: no customer id", kind="dropped")
    if timed:
        action = "dropped: no updated_time"
        report.add("customers", "null_time_rows", counts["no_time"], action, kind="dropped")
        used = n - guest - counts["no_time"]
        report.add("customers", "rows_used", used, "attribute versions", kind="used")
        return
    action = (
        "merged: one row per id (largest value per column; map updated_time to take the "
        "latest before each cutoff)"
    )
    merged = n - guest - counts["ids"]
    report.add("customers", "duplicate_customer_ids", merged, action, kind="dropped")
    report.add("customers", "rows_used", counts["ids"], "one row per customer", kind="used")


def _flag(column: str) -> nw.Expr:
    text = nw.col(column).cast(nw.String).str.strip_chars().str.to_lowercase()
    return (
        nw.when(text.is_in(_TRUE))
        .then(nw.lit(True))
        .when(text.is_in(_FALSE))
        .then(nw.lit(False))
        .otherwise(None)
    )


def _flag_bad(column: str) -> nw.Expr:
    return ~nw.col(column).is_null() & _flag(column).is_null()


def visible_at(names: list[str], cut: float) -> nw.Expr | None:
    """Customers rows a cutoff may see: signed up (when known) and updated before it (None:
    the table has no times, every row is visible)."""
    conds = []
    if "signup_t" in names:
        conds.append(nw.col("signup_t").is_null() | (nw.col("signup_t") < cut))
    if "updated_t" in names:
        conds.append(nw.col("updated_t") < cut)
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else conds[0] & conds[1]


def customers_at(customers: nw.LazyFrame[Any], cut: float) -> nw.LazyFrame[Any]:
    """One row per customer with the attributes known strictly before ``cut``."""
    names = customers.collect_schema().names()
    visible = visible_at(names, cut)
    lf = customers if visible is None else customers.filter(visible)
    if "updated_t" not in names:
        return lf
    latest = lf.filter(nw.col("updated_t") == nw.col("updated_t").max().over("customer_id"))
    others = [c for c in names if c not in ("customer_id", "updated_t")]
    if not others:
        return latest.select("customer_id").unique()
    return latest.group_by("customer_id").agg(*[nw.col(c).max() for c in others])

"""Schema: validate raw tables against the data contract and normalise them (see prepare.py)."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import narwhals.stable.v2 as nw

from segml.config import (
    CustomersConfig,
    DataConfig,
    DataSpec,
    EventsConfig,
    OrdersConfig,
    data_section,
)
from segml.engine import AsOf, as_of_days, collect, frame_kind, parse_as_of, to_lazy
from segml.errors import DataError, SegmlError
from segml.io import explain_csv_error, scan_table
from segml.schema.checks import count_if
from segml.schema.contract import CUSTOMERS, EVENT_TYPES, EVENTS, ORDERS, TABLES, TableSpec
from segml.schema.customers import customers_at, prepare_customers, visible_at
from segml.schema.prepare import prepare_events, prepare_orders
from segml.schema.quality import QualityReport
from segml.schema.text import integer_ids

__all__ = [
    "CUSTOMERS",
    "EVENTS",
    "EVENT_TYPES",
    "ORDERS",
    "TABLES",
    "QualityReport",
    "ShopData",
    "TableSpec",
    "customers_at",
    "prepare",
]


_EPOCH = dt.datetime(1970, 1, 1)
_FAR_FUTURE_DAYS = 365
_MAX_SPAN_DAYS = 35_000  # ~95.8 years: purchase gaps are summed as squared Int64 seconds


@dataclass
class ShopData:
    """The three tables, validated and in canonical form, as lazy frames on one engine.

    ``zero_amount_orders`` holds the zero-amount order lines set aside from ``orders`` (the
    features do not read them; ``rfm_summary`` counts them as transactions).
    """

    orders: nw.LazyFrame[Any]
    events: nw.LazyFrame[Any] | None = None
    customers: nw.LazyFrame[Any] | None = None
    kind: str = "pandas"
    quality: QualityReport = field(default_factory=QualityReport)
    zero_amount_orders: nw.LazyFrame[Any] | None = None
    # personal contact details (schema.customers.contacts_of), read only by export destinations
    contacts: nw.LazyFrame[Any] | None = field(default=None, repr=False)
    _checked: set[float] = field(default_factory=set, repr=False)

    def tables(self) -> dict[str, nw.LazyFrame[Any]]:
        out = {"orders": self.orders, "events": self.events, "customers": self.customers}
        return {k: v for k, v in out.items() if v is not None}

    def check_cutoff(self, as_of: AsOf) -> float:
        """Count the rows each table sets aside at the cutoff; fail when nothing happened before
        it, warn when it is long after the last row.

        Checked once per cutoff: fitting and transforming at the same cutoff reads the data once.
        """
        cut = as_of_days(as_of)
        if cut in self._checked:
            return cut
        spans = {}
        for name, lf in self.tables().items():
            names = lf.collect_schema().names()
            seen = visible_at(names, cut) if name == "customers" else nw.col("t") < cut
            if seen is None:  # a customers table without times: every row is visible
                continue
            time = {} if name == "customers" else {"first": nw.col("t").min()}
            time.update({} if name == "customers" else {"last": nw.col("t").max()})
            counts = {"past": count_if(seen), "future": count_if(~seen), **time}
            row = collect(lf.select(**counts)).row(0, named=True)
            self.quality.add(
                name,
                "rows_at_or_after_cutoff",
                row["future"],
                "set aside: at or after the cutoff",
                kind="set_aside",
            )
            self.quality.add(name, "rows_used", row["past"], "used at the cutoff", kind="used")
            if name != "customers" and row["first"] is not None:
                spans[name] = (row["past"], row["first"], row["last"])
        _check_span(spans, cut, as_of, self.quality)
        self._checked.add(cut)
        return cut


def _day(days: float) -> str:
    return f"{_EPOCH + dt.timedelta(days=days):%Y-%m-%d}"


def _check_span(
    spans: dict[str, tuple[int, float, float]], cut: float, as_of: AsOf, report: QualityReport
) -> None:
    """Refuse a cutoff before all data or too far after its first order; warn when it is long
    after the last row."""
    when = f"{parse_as_of(as_of):%Y-%m-%d %H:%M}"
    if sum(past for past, _, _ in spans.values()) == 0:
        firsts = "; ".join(f"the first {n[:-1]} is on {_day(f)}" for n, (_, f, _) in spans.items())
        firsts = firsts or "no row is left after the hygiene rules (see the quality report)"
        raise DataError(
            f"no order or event happened before the cutoff {when}; {firsts}. Choose a later "
            "--as-of."
        )
    first = spans["orders"][1] if "orders" in spans else cut
    if first < cut - _MAX_SPAN_DAYS:
        raise DataError(
            f"orders.order_time has rows as early as {_day(first)}, more than 95 years before the "
            f"cutoff {when}; purchase-gap features cannot span that. Such dates are usually "
            "placeholders for 'unknown': fix them or leave them empty (rows without a time "
            "are dropped and counted)."
        )
    last = max(last for _, _, last in spans.values())
    if cut - last > _FAR_FUTURE_DAYS:
        message = (
            f"the cutoff {when} is {(cut - last) / 365.25:.1f} years after the last order or "
            f"event ({_day(last)}): every customer will look lapsed. Check --as-of."
        )
        report.warn(message)
        warnings.warn(message, UserWarning, stacklevel=3)


def _table_from(data: Any, name: str) -> Any:
    if isinstance(data, Mapping):
        return data.get(name)
    return getattr(data, name, None)


def _is_frame(obj: Any) -> bool:
    return frame_kind(obj) != "path" or isinstance(obj, str | Path)


def prepare(data: Any, *, config: DataSpec = None) -> ShopData:
    """Validate and normalise ``data`` (a frame of orders, a mapping or an object with
    ``orders``/``events``/``customers``, or a path to orders). ``config``: the data section
    (``Config.data``) mapping column names and file formats; a whole Config is read through
    ``segml.config.data_section``."""
    if isinstance(data, ShopData):
        return data
    dcfg = data_section(config)
    raw = {"orders": data} if _is_frame(data) else {n: _table_from(data, n) for n in TABLES}
    if raw.get("orders") is None:
        raise DataError(
            "no orders table: pass a DataFrame of orders, a mapping with key 'orders', or a "
            "config with data.orders.path."
        )
    kind = frame_kind(raw["orders"])
    lazy = {n: _open(v, n, dcfg) for n, v in raw.items() if v is not None}
    report = QualityReport()
    events_cfg, customers_cfg = dcfg.events or EventsConfig(), dcfg.customers or CustomersConfig()
    mappings = {"orders": dcfg.orders, "events": events_cfg, "customers": customers_cfg}
    ids = integer_ids(
        [lf.collect_schema() for lf in lazy.values()],
        [mappings[n].columns.get("customer_id", "customer_id") for n in lazy],
    )
    with _naming_files(raw, "orders"):
        orders, zero = prepare_orders(lazy["orders"], dcfg.orders, report, int_ids=ids)
    with _naming_files(raw, "events"):
        events = (
            prepare_events(lazy["events"], events_cfg, report, int_ids=ids)
            if "events" in lazy
            else None
        )
    with _naming_files(raw, "customers"):
        customers, contacts = (
            prepare_customers(lazy["customers"], customers_cfg, report, int_ids=ids)
            if "customers" in lazy
            else (None, None)
        )
    shop = ShopData(
        orders=orders,
        events=events,
        customers=customers,
        kind="pandas" if kind == "path" else kind,
        quality=report,
        zero_amount_orders=zero,
        contacts=contacts,
    )
    return shop


def _open(obj: Any, name: str, dcfg: DataConfig) -> nw.LazyFrame[Any]:
    if isinstance(obj, str | Path):
        cfg = getattr(dcfg, name) or OrdersConfig()
        with _naming_files({name: obj}, name):
            lf = scan_table(
                obj, table=name, fmt=cfg.format, encoding=cfg.encoding, separator=cfg.separator
            )
            lf.collect_schema()  # reads the header: an unreadable file fails here, named
        return nw.from_native(lf)
    return to_lazy(obj, table=name)


@contextmanager
def _naming_files(raw: dict[str, Any], name: str) -> Iterator[None]:
    """Turn a Polars error while reading a CSV file of ``name`` into a DataError naming it."""
    try:
        yield
    except SegmlError:
        raise
    except Exception as err:
        source = raw.get(name)
        better = (
            explain_csv_error(source, err, table=name) if isinstance(source, str | Path) else None
        )
        if better is None:
            raise
        raise better from err

"""Schema: validate raw tables against the data contract and normalise them (see prepare.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import narwhals.stable.v2 as nw

from segml.config import Config, CustomersConfig, DataConfig, EventsConfig, OrdersConfig
from segml.engine import as_of_days, collect, frame_kind, parse_as_of, to_lazy
from segml.errors import DataError
from segml.io import scan_table
from segml.schema.contract import CUSTOMERS, EVENT_TYPES, EVENTS, ORDERS, TABLES, TableSpec
from segml.schema.prepare import prepare_customers, prepare_events, prepare_orders
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
    "prepare",
]


@dataclass
class ShopData:
    """The three tables, validated and in canonical form, as lazy frames on one engine."""

    orders: nw.LazyFrame[Any]
    events: nw.LazyFrame[Any] | None = None
    customers: nw.LazyFrame[Any] | None = None
    kind: str = "pandas"
    quality: QualityReport = field(default_factory=QualityReport)
    _checked: set[float] = field(default_factory=set, repr=False)

    def tables(self) -> dict[str, nw.LazyFrame[Any]]:
        out = {"orders": self.orders, "events": self.events, "customers": self.customers}
        return {k: v for k, v in out.items() if v is not None}

    def check_cutoff(self, as_of: Any) -> float:
        """Count rows at or after the cutoff; fail when nothing happened before it.

        Checked once per cutoff: fitting and transforming at the same cutoff reads the data once.
        """
        cut = as_of_days(as_of)
        if cut in self._checked:
            return cut
        before = 0
        for name, lf in self.tables().items():
            col = "signup_t" if name == "customers" else "t"
            if col not in lf.collect_schema().names():
                continue
            row = collect(
                lf.select(
                    future=(nw.col(col) >= cut).fill_null(False).cast(nw.Int64).sum(),
                    past=(nw.col(col) < cut).fill_null(False).cast(nw.Int64).sum(),
                )
            ).row(0, named=True)
            self.quality.add(name, "rows_at_or_after_cutoff", row["future"], "ignored by features")
            before += row["past"] if name != "customers" else 0
        if before == 0:
            first = collect(self.orders.select(nw.col("t").min())).item()
            raise DataError(
                f"no order or event happened before the cutoff {parse_as_of(as_of):%Y-%m-%d %H:%M}"
                f"; the first order is at epoch day {first}. Choose a later --as-of."
            )
        self._checked.add(cut)
        return cut


def _table_from(data: Any, name: str) -> Any:
    if isinstance(data, Mapping):
        return data.get(name)
    return getattr(data, name, None)


def _is_frame(obj: Any) -> bool:
    return frame_kind(obj) != "path" or isinstance(obj, str | Path)


def prepare(data: Any, *, config: Config | DataConfig | None = None) -> ShopData:
    """Validate and normalise ``data`` (a frame of orders, a mapping or an object with
    ``orders``/``events``/``customers``, a path to orders, or a Config with paths)."""
    if isinstance(data, ShopData):
        return data
    dcfg = config.data if isinstance(config, Config) else (config or DataConfig())
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
    shop = ShopData(
        orders=prepare_orders(lazy["orders"], dcfg.orders, report, int_ids=ids),
        events=prepare_events(lazy["events"], events_cfg, report, int_ids=ids)
        if "events" in lazy
        else None,
        customers=prepare_customers(lazy["customers"], customers_cfg, report, int_ids=ids)
        if "customers" in lazy
        else None,
        kind="pandas" if kind == "path" else kind,
        quality=report,
    )
    return shop


def _open(obj: Any, name: str, dcfg: DataConfig) -> nw.LazyFrame[Any]:
    if isinstance(obj, str | Path):
        table_cfg = getattr(dcfg, name) or OrdersConfig()
        return nw.from_native(scan_table(obj, table=name, fmt=table_cfg.format))
    return to_lazy(obj, table=name)

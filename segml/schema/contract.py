"""The data contract: the three tables segml reads, their canonical columns and types."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CUSTOMERS", "EVENTS", "EVENT_TYPES", "ORDERS", "TABLES", "TableSpec"]

EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "begin_checkout",
    "purchase",
    "email_open",
    "email_click",
    "sms_click",
    "ad_click",
)


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract: which canonical columns are required and which optional."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    time_columns: tuple[str, ...]
    text_columns: tuple[str, ...]
    number_columns: tuple[str, ...] = ()
    flag_columns: tuple[str, ...] = ()
    parsed_times: tuple[str, ...] = ()  # what each time column is called once parsed
    # personal data (PII): kept apart from the prepared table (``ShopData.contacts``), read
    # only by export destinations, never by a feature, a score, a log or an MLflow artifact
    contact_columns: tuple[str, ...] = ()

    @property
    def canonical(self) -> tuple[str, ...]:
        return self.required + self.optional


ORDERS = TableSpec(
    name="orders",
    required=("customer_id", "order_id", "order_time"),
    optional=("revenue", "quantity", "unit_price", "product_id", "category", "status"),
    time_columns=("order_time",),
    parsed_times=("t",),
    text_columns=("customer_id", "order_id", "product_id", "category", "status"),
    number_columns=("revenue", "quantity", "unit_price"),
)

EVENTS = TableSpec(
    name="events",
    required=("customer_id", "event_time", "event_type"),
    optional=("category", "product_id", "session_id", "channel"),
    time_columns=("event_time",),
    parsed_times=("t",),
    text_columns=("customer_id", "event_type", "category", "product_id", "session_id", "channel"),
)

CUSTOMERS = TableSpec(
    name="customers",
    required=("customer_id",),
    optional=(
        "signup_time",
        "updated_time",
        "country",
        "region",
        "language",
        "email_consent",
        "sms_consent",
        *("email", "phone", "first_name", "last_name", "postal_code"),
    ),
    time_columns=("signup_time", "updated_time"),
    parsed_times=("signup_t", "updated_t"),
    text_columns=("customer_id", "country", "region", "language"),
    flag_columns=("email_consent", "sms_consent"),
    contact_columns=("email", "phone", "first_name", "last_name", "postal_code"),
)

TABLES = {spec.name: spec for spec in (ORDERS, EVENTS, CUSTOMERS)}

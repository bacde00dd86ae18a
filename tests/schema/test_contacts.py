"""Contact details (personal data) in the customers contract: mapped like any column, split off
the customers table the features read, never a feature."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

import segml
from segml.config import CustomersConfig, DataConfig
from segml.errors import DataError
from segml.schema import prepare

CONTACT = ["email", "phone", "first_name", "last_name", "postal_code"]
ORDERS = pd.DataFrame(
    {
        "customer_id": ["a", "a", "b", "c"],
        "order_id": ["1", "2", "3", "4"],
        "order_time": ["2024-01-05", "2024-02-01", "2024-01-20", "2024-02-10"],
        "revenue": [10.0, 20.0, 15.0, 5.0],
    }
)
# a CRM export under its own column names; a changes address on 2024-03-01 (after the cutoff)
CRM = pd.DataFrame(
    {
        "id": ["a", "b", "c", "a"],
        "mail": ["a@example.com", "b@example.org", None, "a.new@example.com"],
        "mobile": ["07700 900001", None, "+1 201 555 0100", "07700 900002"],
        "given": ["Ann", "Bo", "Cy", "Ann"],
        "family": ["Lee", "Ng", "Oz", "Lee"],
        "zip": ["N1 9GU", "10115", "12345", "N1 9GU"],
        "country": ["GB", "DE", "US", "GB"],
        "email_opt_in": ["yes", "no", "yes", "yes"],
        "changed": ["2024-01-01", "2024-01-01", "2024-01-01", "2024-03-01"],
    }
)
MAPPING = {
    "customer_id": "id", "email": "mail", "phone": "mobile", "first_name": "given",
    "last_name": "family", "postal_code": "zip", "email_consent": "email_opt_in",
    "updated_time": "changed",
}  # fmt: skip


@pytest.fixture(scope="module")
def shop():
    config = DataConfig(customers=CustomersConfig(columns=MAPPING))
    return prepare({"orders": ORDERS, "customers": CRM}, config=config)


def test_contact_columns_are_split_off_the_customers_table(shop) -> None:
    customers = shop.customers.collect().to_polars()
    assert not set(CONTACT) & set(customers.columns)
    contacts = shop.contacts.collect().to_polars().sort("customer_id")
    assert contacts.columns == ["customer_id", *CONTACT]
    assert contacts.rows() == [  # the latest row per customer: a's new address
        ("a", "a.new@example.com", "07700 900002", "Ann", "Lee", "N1 9GU"),
        ("b", "b@example.org", None, "Bo", "Ng", "10115"),
        ("c", None, "+1 201 555 0100", "Cy", "Oz", "12345"),
    ]


def test_contact_details_never_become_features(shop) -> None:
    features = pl.from_pandas(segml.build_features(shop, as_of="2024-02-15"))
    assert features.height == 3
    named = [c for c in features.columns if c.split("__")[-1] in CONTACT]
    assert named == []
    raw = {v for col in CRM.columns[1:6] for v in CRM[col].dropna()}
    text = features.select(pl.col(pl.String)).to_dicts()
    leaked = [v for row in text for v in row.values() if v in raw]
    assert leaked == []
    assert "attr__email_consent" in features.columns  # the consent flag is a feature, as before


def test_a_customers_table_with_only_contacts_gives_no_attribute_features() -> None:
    crm = CRM[["id", "mail"]].drop_duplicates("id")
    config = DataConfig(customers=CustomersConfig(columns={"customer_id": "id", "email": "mail"}))
    shop = prepare({"orders": ORDERS, "customers": crm}, config=config)
    features = pl.from_pandas(segml.build_features(shop, as_of="2024-02-15"))
    assert not [c for c in features.columns if c.startswith("attr__")]
    assert shop.contacts is not None


def test_a_misspelt_contact_mapping_names_the_contract() -> None:
    config = DataConfig(customers=CustomersConfig(columns={"e_mail": "mail"}))
    with pytest.raises(DataError, match=r"maps unknown canonical names \['e_mail'\].*'email'"):
        prepare({"orders": ORDERS, "customers": CRM}, config=config)

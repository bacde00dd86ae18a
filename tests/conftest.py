"""Shared fixtures: a tiny hand-written shop whose features are worked out by hand in the tests,
shuffled on purpose so every test also proves row-order independence."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pytest

# Idle OpenMP threads spin by default; on a shared 2-core machine that slows LightGBM tenfold.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.datetime(2024, 3, 1)


def _shuffle(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def tiny_orders() -> pd.DataFrame:
    rows = [
        # customer, order, time, qty, price, category, status
        ("a", "o1", "2024-01-01 10:00", 2, 10.0, "home", "completed"),
        ("a", "o1", "2024-01-01 10:00", 1, 5.0, "toys", "completed"),
        ("a", "o2", "2024-01-31 10:00", 1, 30.0, "home", "completed"),
        ("a", "o3", "2024-02-20 10:00", 1, 15.0, "toys", "completed"),
        ("a", "o3r", "2024-02-25 00:00", -1, 15.0, "toys", "returned"),
        ("b", "o4", "2024-02-15 00:00", 4, 25.0, "home", "completed"),
        ("b", "o4", "2024-02-15 00:00", 4, 25.0, "home", "completed"),  # exact duplicate
        ("c", "o5", "2023-03-01 00:00", 1, 8.0, "garden", "completed"),
        (None, "o6", "2024-01-10 00:00", 1, 10.0, "home", "completed"),  # guest
        ("c", "o7", "2024-02-29 12:00", 1, 0.0, "home", "completed"),  # zero price
        ("b", "o8", "2024-03-01 00:00", 1, 99.0, "home", "completed"),  # at the cutoff
        ("d", "o9", "2024-03-05 00:00", 1, 50.0, "toys", "completed"),  # after the cutoff
    ]
    cols = ["customer_id", "order_id", "order_time", "quantity", "unit_price", "category", "status"]
    return _shuffle(pd.DataFrame(rows, columns=cols), 1)


def tiny_events() -> pd.DataFrame:
    rows = [
        ("a", "2024-02-01 00:00", "email_open", None, "e1"),
        ("a", "2024-02-01 01:00", "email_click", None, "e1"),
        ("a", "2024-02-26 00:00", "product_view", "home", "s1"),
        ("a", "2024-02-27 00:00", "add_to_cart", "home", "s1"),
        ("a", "2024-03-02 00:00", "add_to_cart", "home", "s9"),  # after the cutoff
        ("b", "2024-02-10 00:00", "product_view", "toys", "s2"),
        ("b", "2024-02-10 00:05", "add_to_cart", "toys", "s2"),
        ("b", "2024-02-15 00:00", "purchase", "home", "s3"),
        ("b", "2024-02-28 00:00", "email_open", None, "e2"),
        ("d", "2024-02-28 00:00", "page_view", None, "s4"),
        ("d", "2024-02-29 00:00", "ad_click", None, "s5"),
        ("d", "2024-02-29 00:01", "product_view", "toys", "s5"),
    ]
    cols = ["customer_id", "event_time", "event_type", "category", "session_id"]
    return _shuffle(pd.DataFrame(rows, columns=cols), 2)


def tiny_customers() -> pd.DataFrame:
    rows = [
        ("a", "2023-12-01", "UK", "en", "yes", "no"),
        ("b", "2024-02-01", "DE", "de", "yes", "yes"),
        ("c", "2023-01-01", "UK", "en", "no", "no"),
        ("d", "2024-02-27", "FR", "fr", "no", None),
        ("e", "2024-04-01", "UK", "en", "yes", "yes"),  # signs up after the cutoff
    ]
    cols = ["customer_id", "signup_time", "country", "language", "email_consent", "sms_consent"]
    return _shuffle(pd.DataFrame(rows, columns=cols), 3)


@pytest.fixture
def tiny() -> dict[str, pd.DataFrame]:
    return {"orders": tiny_orders(), "events": tiny_events(), "customers": tiny_customers()}


@pytest.fixture(scope="session")
def online_retail_path() -> Path:
    """The real Online Retail file: the shared copy when present, else the shipped one."""
    shared = ROOT.parent / "shared" / "data" / "online-retail" / "online_retail.csv.gz"
    return (
        shared if shared.exists() else ROOT / "segml" / "datasets" / "data" / "online_retail.csv.gz"
    )

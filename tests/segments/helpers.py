"""Shared test data: a scored customer table from the synthetic store, built once per session."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

import segml
from segml.datasets import make_shop

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "configs" / "segments.yaml"


def add_scores(features: pl.DataFrame, *, seed: int = 0) -> pl.DataFrame:
    """Synthetic score columns with the names the scoring step produces."""
    rng = np.random.default_rng(seed)
    n = features.height
    scored = features.with_columns(
        pl.Series("score__purchase", rng.beta(2, 5, n)),
        pl.Series("score__lapse", rng.beta(2, 3, n)),
        pl.Series("score__value", rng.gamma(2.0, 50.0, n)),
        pl.Series("cluster__id", rng.integers(0, 4, n)),
    )
    deciles = [
        (pl.col(f"score__{k}").rank("ordinal") * 10 / (n + 1) + 1)
        .floor()
        .cast(pl.Int8)
        .alias(f"decile__{k}")
        for k in ("purchase", "lapse", "value")
    ]
    names = pl.col("cluster__id").replace_strict(
        {0: "loyal", 1: "bargain", 2: "browsers", 3: "new"}, return_dtype=pl.String
    )
    return scored.with_columns(*deciles, names.alias("cluster__name"))


@functools.cache
def _shop(n: int) -> Any:
    return make_shop(n, seed=0)


@functools.cache
def _scored_store(n: int) -> pl.DataFrame:
    shop = _shop(n)
    tables = {"orders": shop.orders, "events": shop.events, "customers": shop.customers}
    features = pl.from_pandas(segml.build_features(tables, as_of="2024-06-01"))
    return add_scores(features)


def scored_store(n: int = 400) -> pl.DataFrame:
    """Features of the synthetic store as of 2024-06-01 plus synthetic scores (cached)."""
    return _scored_store(n).clone()


def store_orders(n: int = 400) -> pd.DataFrame:
    """The synthetic store's orders (all of them, before and after the cutoff)."""
    return _shop(n).orders.copy()


# -- a hand-written customer table, with its segments worked out by hand in test_segmenter.py --

SALT = "test-salt"
RULESET = {
    "channels": {"email": "attr__email_consent", "sms": "attr__sms_consent", "onsite": None},
    "control": {"salt": SALT, "share": 0.5},
    "thresholds": {
        "lapse_days": {
            "quantile": 0.9,
            "of": "rfm__gap_median_days",
            "where": "rfm__frequency >= 2",
        }
    },
    "segments": [
        {"name": "lapsed", "priority": 2, "when": "rfm__recency_days > @lapse_days",
         "channels": ["email"]},
        {"name": "vip_at_risk", "priority": 1,
         "when": "decile__value >= 9 and decile__lapse >= 8", "channels": ["email", "sms"]},
        {"name": "loyal", "priority": 3, "when": "rfm__frequency >= 5", "channels": ["sms"],
         "control_share": 0.0},
        {"name": "everyone_gb", "priority": 4, "when": "attr__country == 'GB'",
         "channels": ["onsite"]},
    ],
}  # fmt: skip

ROWS = [
    # id, recency, frequency, gap median, decile value, decile lapse, email, sms, country
    ("a", 200.0, 4.0, 30.0, 10, 9, 1.0, 1.0, "GB"),
    ("b", 150.0, 3.0, 20.0, 5, 2, 1.0, 0.0, "DE"),
    ("c", 10.0, 6.0, 10.0, 9, 3, 0.0, 1.0, "GB"),
    ("d", None, 0.0, None, 1, 5, 1.0, 1.0, "GB"),
    ("e", 40.0, 2.0, 50.0, 4, 4, 0.0, 0.0, "FR"),
    ("f", 35.0, 1.0, None, 3, 9, 1.0, None, "US"),
    ("g", 45.0, 1.0, None, 2, 1, 0.0, 1.0, "DE"),
]
COLUMNS = [
    "customer_id", "rfm__recency_days", "rfm__frequency", "rfm__gap_median_days",
    "decile__value", "decile__lapse", "attr__email_consent", "attr__sms_consent", "attr__country",
]  # fmt: skip
# lapse_days: 0.9 quantile of the gaps of customers with 2+ orders (a, b, c, e: 10, 20, 30, 50),
# linear interpolation at position 0.9 * 3 = 2.7 -> 30 + 0.7 * (50 - 30) = 44.
LAPSE_DAYS = 44.0
EXPECTED = {"a": "vip_at_risk", "b": "lapsed", "c": "loyal", "d": "everyone_gb",
            "e": "no_segment", "f": "no_segment", "g": "lapsed"}  # fmt: skip


def tiny(seed: int = 0) -> pl.DataFrame:
    frame = pl.DataFrame(ROWS, schema=COLUMNS, orient="row")
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)

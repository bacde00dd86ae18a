"""The simulated world of ``make_shop``: latent types, catalogue constants and time helpers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from segml.schema.contract import EVENT_TYPES

LATENT_TYPES = (
    "loyal_high_value",
    "regular",
    "bargain_hunter",
    "one_time",
    "window_shopper",
    "lapsing",
)
CATEGORIES = (
    "home_decor",
    "kitchen",
    "fashion",
    "beauty",
    "electronics",
    "toys",
    "garden",
    "stationery",
    "sports",
    "books",
)
CHANNELS = ("organic", "direct", "paid_search", "social", "email", "sms")
_PAGE, _VIEW, _SEARCH, _CART, _CHECKOUT, _PURCHASE, _OPEN, _EMAIL_CLICK, _SMS_CLICK, _AD_CLICK = (
    EVENT_TYPES.index(name)
    for name in (
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
)
_PAID, _SOCIAL, _EMAIL, _SMS = (
    CHANNELS.index(c) for c in ("paid_search", "social", "email", "sms")
)
# One value per latent type, in LATENT_TYPES order; rates are per day.
_TYPE = {
    "share": (0.10, 0.24, 0.16, 0.20, 0.14, 0.16),
    "first_order": (1, 1, 1, 1, 0, 1),  # buys within days of signing up
    "order_rate": (1 / 25, 1 / 60, 1 / 45, 0.0, 0.0, 1 / 25),  # repeat orders while alive
    "lifetime_days": (2000, 700, 500, 0, 400, 110),  # mean time from first order to dropout
    "lines": (2.2, 1.6, 2.0, 1.3, 1.0, 1.6),  # mean lines per order
    "extra_qty": (0.3, 0.2, 0.9, 0.1, 0.0, 0.2),  # quantity per line is 1 + Poisson(this)
    "price_tilt": (1.5, 0.0, -1.5, 0.3, 0.0, 0.0),  # > 0 prefers dearer products
    "season_amp": (0.6, 0.8, 2.0, 1.0, 0.6, 0.8),  # strength of the Nov/Dec peak
    "email_consent": (0.90, 0.75, 0.60, 0.35, 0.55, 0.65),
    "sms_consent": (0.35, 0.25, 0.80, 0.15, 0.20, 0.30),
    "email_open": (0.55, 0.30, 0.12, 0.06, 0.25, 0.30),  # per weekly email while alive
    "email_click": (0.30, 0.20, 0.30, 0.10, 0.35, 0.20),  # given an open
    "sms_click": (0.04, 0.04, 0.20, 0.02, 0.05, 0.06),  # per fortnightly SMS while alive
    "ad_rate": (0.002, 0.004, 0.015, 0.01, 0.012, 0.006),
    "browse_rate": (0.04, 0.025, 0.03, 0.015, 0.08, 0.04),  # sessions while alive
    "dead_browse": (0.10, 0.10, 0.10, 0.30, 0.20, 0.10),  # share of browsing kept after dropout
    "return_prob": (0.03, 0.04, 0.08, 0.05, 0.0, 0.05),  # per order line (dirt only)
}
_P = {key: np.asarray(values, dtype=float) for key, values in _TYPE.items()}
# Category taste per type (rows) over CATEGORIES (columns); each customer varies around it.
_TASTE = np.array([
    [6, 1, 1, 5, 1, 0.5, 1, 0.5, 0.5, 1],
    [1, 6, 0.5, 1, 0.5, 0.5, 1, 1, 0.5, 5],
    [0.5, 1, 6, 1, 1, 5, 0.5, 0.5, 1, 0.5],
    [0.5, 0.5, 1, 0.5, 6, 1, 0.5, 5, 1, 0.5],
    [1, 0.5, 5, 5, 1, 0.5, 0.5, 0.5, 1, 0.5],
    [0.5, 1, 0.5, 0.5, 1, 0.5, 5, 0.5, 6, 1],
])  # fmt: skip
_TASTE = _TASTE / _TASTE.sum(axis=1, keepdims=True)
# Channels of sessions the customer starts, per type, over CHANNELS[:4].
_CHANNEL_MIX = np.array([
    [0.35, 0.45, 0.10, 0.10], [0.45, 0.30, 0.15, 0.10], [0.20, 0.10, 0.35, 0.35],
    [0.20, 0.10, 0.40, 0.30], [0.35, 0.15, 0.20, 0.30], [0.40, 0.30, 0.15, 0.15],
])  # fmt: skip
_MEDIAN_PRICE = np.array([25.0, 20.0, 30.0, 15.0, 60.0, 18.0, 22.0, 6.0, 28.0, 12.0])
_PER_CATEGORY = 30  # products per category
_COUNTRIES = (  # (country, share, language, regions)
    ("GB", 0.45, "en", ("England", "Scotland", "Wales", "Northern Ireland")),
    ("DE", 0.15, "de", ("Bavaria", "Berlin", "Hamburg", "North Rhine-Westphalia")),
    ("FR", 0.12, "fr", ("Ile-de-France", "Occitanie", "Brittany")),
    ("US", 0.12, "en", ("California", "New York", "Texas")),
    ("NL", 0.08, "nl", ("North Holland", "South Holland", "Utrecht")),
    ("ES", 0.08, "es", ("Madrid", "Catalonia", "Andalusia")),
)
_HOURLY = np.array(
    [2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 11, 12, 11, 10, 10, 11, 12, 14, 16, 18, 17, 12, 6],
    dtype=float,
)
_HOURLY /= _HOURLY.sum()  # share of activity by hour of day (UTC)
_WEEKLY = np.array([1.10, 1.00, 0.95, 0.95, 0.90, 0.95, 1.15])  # Monday .. Sunday
_STATUS = np.array(["completed", "cancelled", "returned"], dtype=object)
_MINUTE = 1 / 1440
Arr = np.ndarray
Cols = dict[str, Arr]
Rng = np.random.Generator


@dataclass(frozen=True, eq=False)
class _World:
    """What every step of the simulation reads. Times are float days since ``days[0]``."""

    days: pd.DatetimeIndex
    season: Arr  # daily intensity per latent type (rows), each row averaging 1
    catalog: Cols  # per product: category, price; "cdf": choice per (type, category)
    cust: Cols  # per customer: latent type, times, rates and habits


def _season(days: pd.DatetimeIndex) -> Arr:
    """Daily intensity per latent type: weekly cycle, Nov/Dec peak, summer dip; mean 1 per row."""
    doy = days.dayofyear.to_numpy()
    peak = np.exp(-0.5 * ((doy - 338) / 16) ** 2)
    summer = 0.15 * np.exp(-0.5 * ((doy - 205) / 25) ** 2)
    level = _WEEKLY[days.dayofweek.to_numpy()] * (1 - summer + _P["season_amp"][:, None] * peak)
    return level / level.mean(axis=1, keepdims=True)


def _expand(counts: Arr) -> tuple[Arr, Arr]:
    """For ``counts.sum()`` children: the index of each one's parent and its rank among siblings."""
    parent = np.repeat(np.arange(counts.size), counts)
    return parent, np.arange(parent.size) - (np.cumsum(counts) - counts)[parent]


def _poisson_times(rng: Rng, world: _World, rate: Arr, lo: Arr, hi: Arr) -> tuple[Arr, Arr]:
    """Customer and time of the events of a seasonal Poisson process on each [lo, hi), by thinning.

    ``rate``, ``lo`` and ``hi`` are per customer; ``rate`` is per day at average season.
    """
    typ = world.cust["type"]
    peak = world.season.max(axis=1)[typ]
    row, _ = _expand(rng.poisson(rate * peak * np.clip(hi - lo, 0.0, None)))
    t = lo[row] + rng.random(row.size) * (hi - lo)[row]
    keep = rng.random(row.size) * peak[row] < world.season[typ[row], t.astype(np.int64)]
    row, t = row[keep], t[keep]
    return row, _time_of_day(rng, t, lo[row], hi[row])


def _time_of_day(rng: Rng, t: Arr, lo: Arr, hi: Arr) -> Arr:
    """Move each time to a typical hour of its day, unless that leaves [lo, hi)."""
    moved = np.floor(t) + (rng.choice(24, size=t.size, p=_HOURLY) + rng.random(t.size)) / 24
    return np.where((moved >= lo) & (moved < hi), moved, t)


def _pick(rng: Rng, prob: Arr) -> Arr:
    """One column per row of ``prob``, drawn with that row's probabilities."""
    u = rng.random(prob.shape[0]) * prob.sum(axis=1)
    below = prob.cumsum(axis=1) < u[:, None]
    return np.minimum(below.sum(axis=1), prob.shape[1] - 1)


def _products(rng: Rng, world: _World, typ: Arr, cat: Arr) -> Arr:
    """A product of category ``cat`` for each row, chosen as latent type ``typ`` would."""
    below = world.catalog["cdf"][typ, cat] < rng.random(typ.size)[:, None]
    return cat * _PER_CATEGORY + np.minimum(below.sum(axis=1), _PER_CATEGORY - 1)

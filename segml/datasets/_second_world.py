"""The world of ``make_second_store``: its shopper types, catalogue and calendar.

Written independently of ``make_shop``'s world (``_world.py``): other types, other categories
(with three price tiers each), another hour-of-day profile, promotions every fourth week and
gift seasons instead of one smooth Christmas peak. Nothing here is imported from ``_world.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SHOPPER_TYPES = (
    "one_and_done",
    "window_shopper",
    "loyal_frequent",
    "seasonal_gifter",
    "deal_hunter",
    "lapsed_high_value",
)
DEPARTMENTS = (
    "apparel",
    "footwear",
    "outdoor",
    "pets",
    "pantry",
    "jewellery",
    "gifts",
    "games",
    "wellness",
    "baby",
    "music",
    "crafts",
)
_GIFTY = np.isin(np.array(DEPARTMENTS), ["jewellery", "gifts", "games"])
CHANNELS = ("organic", "direct", "paid_search", "social", "email", "sms")
TIERS = ("budget", "standard", "premium")
_TIER_PRICE = np.array([0.45, 1.0, 2.6])
_DEPT_PRICE = np.array([35.0, 55.0, 48.0, 14.0, 9.0, 70.0, 22.0, 30.0, 18.0, 26.0, 16.0, 12.0])
_PER_TIER = 12  # products per (department, tier)
ACTIVE, DORMANT, GONE = 0, 1, 2
STATES = ("active", "dormant", "gone")

# One value per shopper type, in SHOPPER_TYPES order. Rates are per week.
_TYPE = {
    "share": (0.20, 0.18, 0.14, 0.14, 0.16, 0.18),
    # hidden-state weekly transitions
    "active_to_dormant": (0.10, 0.06, 0.03, 0.60, 0.15, 0.03),
    "dormant_to_active": (0.02, 0.12, 0.30, 0.01, 0.25, 0.20),
    "active_to_gone": (0.45, 0.004, 0.002, 0.002, 0.004, 0.045),
    "dormant_to_gone": (0.08, 0.01, 0.01, 0.004, 0.01, 0.06),
    # sessions the customer starts per week in each state
    "sessions_active": (0.3, 1.0, 0.5, 0.8, 0.5, 0.7),
    "sessions_dormant": (0.05, 0.2, 0.1, 0.03, 0.1, 0.1),
    "sessions_gone": (0.02, 0.05, 0.02, 0.02, 0.03, 0.02),
    # funnel: probability that a session ends in an order (before promo and state effects)
    "conversion": (0.03, 0.012, 0.40, 0.45, 0.18, 0.45),
    "promo_lift": (1.0, 1.5, 1.1, 1.0, 3.0, 1.0),  # conversion multiplier in promo weeks
    "off_promo": (1.0, 1.0, 1.0, 1.0, 0.35, 1.0),  # ... and outside them
    "views": (1.0, 4.0, 1.5, 2.0, 2.5, 1.5),  # mean extra product views per session
    "search": (0.2, 0.5, 0.3, 0.6, 0.5, 0.3),  # share of sessions with a search
    "cart_abandon": (0.05, 0.30, 0.10, 0.10, 0.35, 0.10),  # carts in non-buying sessions
    # baskets: lines are zero-truncated negative binomial (mean before truncation, shape)
    "lines_mean": (1.2, 1.0, 2.2, 2.8, 3.5, 3.2),
    "lines_shape": (2.0, 2.0, 3.0, 1.5, 1.2, 2.0),
    "extra_qty": (0.1, 0.05, 0.3, 0.2, 1.2, 0.3),  # quantity is 1 + Poisson(this)
    "return_prob": (0.06, 0.05, 0.03, 0.04, 0.28, 0.05),  # per line
    "email_consent": (0.40, 0.65, 0.85, 0.50, 0.75, 0.85),
    "email_open": (0.08, 0.35, 0.45, 0.20, 0.30, 0.55),  # per newsletter while not gone
    "email_click": (0.10, 0.40, 0.25, 0.20, 0.35, 0.25),  # given an open
    "sms_consent": (0.10, 0.20, 0.30, 0.15, 0.85, 0.25),
    "sms_click": (0.02, 0.05, 0.04, 0.03, 0.30, 0.04),  # per promo SMS while not gone
    "ad_share": (0.45, 0.30, 0.10, 0.35, 0.40, 0.15),  # sessions that start from an ad
}
P = {key: np.asarray(values, dtype=float) for key, values in _TYPE.items()}
# Price tier preference (budget, standard, premium) per type.
TIER_PREF = np.array([
    [0.40, 0.45, 0.15], [0.35, 0.45, 0.20], [0.15, 0.60, 0.25],
    [0.10, 0.45, 0.45], [0.85, 0.13, 0.02], [0.03, 0.27, 0.70],
])  # fmt: skip
# Share of activity by hour of day (UTC): a lunchtime bump and a late-evening peak.
_HOURS = np.array(
    [3, 2, 1, 1, 1, 1, 2, 4, 5, 6, 7, 9, 12, 11, 8, 7, 7, 8, 10, 13, 16, 17, 14, 8], dtype=float
)
HOURS = _HOURS / _HOURS.sum()
COUNTRIES = (  # (country, share, language, regions)
    ("IE", 0.20, "en", ("Leinster", "Munster", "Connacht")),
    ("IT", 0.18, "it", ("Lombardy", "Lazio", "Campania", "Sicily")),
    ("SE", 0.12, "sv", ("Stockholm", "Skane", "Vastra Gotaland")),
    ("PL", 0.15, "pl", ("Mazovia", "Lesser Poland", "Silesia")),
    ("CA", 0.20, "en", ("Ontario", "Quebec", "British Columbia", "Alberta")),
    ("PT", 0.15, "pt", ("Lisbon", "Porto", "Algarve")),
)
Arr = np.ndarray
Rng = np.random.Generator


def calendar(days: pd.DatetimeIndex) -> tuple[Arr, Arr]:
    """Per week of the window (weeks start on ``days[0]``): a promotion flag (every fourth
    week, plus the week of Black Friday) and a gift-season flag (Nov 15 - Dec 22 and the
    fortnight before Valentine's Day and before Mother's Day in May)."""
    n_weeks = -(-len(days) // 7)
    week = np.arange(len(days)) // 7
    month, day = days.month.to_numpy(), days.day.to_numpy()
    gift_day = (
        ((month == 11) & (day >= 15))
        | ((month == 12) & (day <= 22))
        | ((month == 2) & (day <= 14))
        | ((month == 5) & (day <= 12))
    )
    black_friday = (month == 11) & (day >= 23) & (day <= 29)
    gift = np.bincount(week, weights=gift_day, minlength=n_weeks) >= 3
    promo = (np.arange(n_weeks) % 4 == 2) | (np.bincount(week, black_friday, n_weeks) > 0)
    return promo, gift


def catalogue(rng: Rng) -> dict[str, Arr]:
    """Products by (department, tier, rank): department, tier and list price."""
    n = len(DEPARTMENTS) * len(TIERS) * _PER_TIER
    dept = np.arange(n) // (len(TIERS) * _PER_TIER)
    tier = (np.arange(n) // _PER_TIER) % len(TIERS)
    price = _DEPT_PRICE[dept] * _TIER_PRICE[tier] * rng.lognormal(0.0, 0.2, n)
    return {"dept": dept, "tier": tier, "price": np.round(price, 1) - 0.01}


def product_of(rng: Rng, dept: Arr, tier: Arr) -> Arr:
    """A product of each (department, tier): popular ones more often (weights 1/sqrt(rank))."""
    weight = 1 / np.sqrt(np.arange(1, _PER_TIER + 1))
    rank = rng.choice(_PER_TIER, size=dept.size, p=weight / weight.sum())
    return (dept * len(TIERS) + tier) * _PER_TIER + rank


def pick_rows(rng: Rng, prob: Arr) -> Arr:
    """One column index per row of ``prob`` (rows need not sum to 1)."""
    u = rng.random(prob.shape[0]) * prob.sum(axis=1)
    return np.minimum((prob.cumsum(axis=1) < u[:, None]).sum(axis=1), prob.shape[1] - 1)


def at_hour(rng: Rng, t: Arr) -> Arr:
    """Move each time (float days) to an hour drawn from ``HOURS`` on the same day."""
    return np.floor(t) + (rng.choice(24, size=t.size, p=HOURS) + rng.random(t.size)) / 24


def zt_negbin(rng: Rng, mean: Arr, shape: Arr) -> Arr:
    """Zero-truncated negative binomial draws (mean and shape before truncation)."""
    p = shape / (shape + mean)
    out = rng.negative_binomial(shape, p)
    for _ in range(200):
        zero = out == 0
        if not zero.any():
            break
        out[zero] = rng.negative_binomial(shape[zero], p[zero])
    return np.maximum(out, 1)

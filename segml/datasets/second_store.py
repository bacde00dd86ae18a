"""A second synthetic store, written independently of ``make_shop``, to check that what is tuned
on one simulator holds on another.

``make_second_store`` differs from ``make_shop`` in mechanism, not only in numbers:

- **hidden shopper states**: each week a customer is *active*, *dormant* or *gone* (a Markov
  chain with type-specific transitions; gone is absorbing; seasonal gifters wake up in gift
  seasons); ``make_shop`` has a Poisson purchase stream ended by one exponential dropout time;
- **orders come out of sessions**: each session runs a view -> cart -> checkout -> purchase
  funnel and converts with a probability set by type, state and promotions (``make_shop`` draws
  orders first and lays sessions around them);
- **promotions every fourth week** (25% off; deal hunters visit and convert far more then),
  **gift seasons** (mid-November to Christmas, before Valentine's Day and Mother's Day);
- **baskets**: zero-truncated negative binomial lines; products in three **price tiers** per
  department, chosen by type; twelve departments whose taste is **individual** (a Dirichlet
  draw per customer; only gifters lean to gift departments), not one taste profile per type;
- **returns are behaviour**: deal hunters send back about a quarter of their lines;
- its own countries, hour-of-day profile, newsletter (weekly) and promo-SMS (promotion weeks)
  schedules, and response that fades with the hidden state.

The six planted types (``SHOPPER_TYPES``): one_and_done (one order at signup, gone soon after),
window_shopper (many long sessions, almost never buys), loyal_frequent, seasonal_gifter,
deal_hunter (promotions, budget tier, big baskets, many returns), lapsed_high_value (premium
baskets, signed up in the first 45% of the window, mostly gone by its end).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segml.datasets._contacts import contact_columns
from segml.datasets._second_sessions import Store, funnels, reversals, sessions
from segml.datasets._second_world import (
    _GIFTY,
    ACTIVE,
    CHANNELS,
    COUNTRIES,
    DEPARTMENTS,
    DORMANT,
    GONE,
    SHOPPER_TYPES,
    STATES,
    TIER_PREF,
    TIERS,
    Arr,
    P,
    Rng,
    at_hour,
    calendar,
    catalogue,
)
from segml.datasets.synthetic import Shop, check_window
from segml.schema.contract import EVENT_TYPES

__all__ = ["DEPARTMENTS", "SHOPPER_TYPES", "make_second_store"]

_STATUS = np.array(["completed", "cancelled", "returned"], dtype=object)


def make_second_store(
    n_customers: int = 5000,
    *,
    seed: int = 0,
    start: Any = "2023-01-01",
    end: Any = "2024-12-31",
) -> Shop:
    """Simulate the second store; the same seed gives equal tables.

    Returns a ``Shop`` with the tables and column types of ``make_shop`` (see its docstring):
    ``orders`` (one row per line; returns and cancellations as extra rows with a negative
    quantity), ``events`` (in time order; every order has a purchase event at its
    ``order_time`` naming its first line), ``customers`` and ``truth``. Customer ids are
    ``U000000``, ``U000001``, ...; there are no guest orders.

    ``truth`` has one row per customer: ``customer_id``, ``latent_type`` (one of
    ``SHOPPER_TYPES``), ``state_at_end`` ("active", "dormant" or "gone"), ``weeks_active``
    (weeks spent active), ``session_rate`` (sessions per week when active), ``conversion``
    (per session, before state and promotion effects), ``basket_lines`` (mean lines before
    truncation), ``preferred_tier``, ``return_prob`` (per line), ``favourite_department``.
    """
    first, n_days = check_window(n_customers, start, end, min_days=56)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 2]).spawn(6)]
    days = pd.date_range(first, periods=n_days, freq="D")
    promo, gift = calendar(days)
    cust = _customers(rngs[0], n_customers, n_days)
    states = _hidden_states(rngs[1], cust, gift, n_days)
    store = Store(cust=cust, states=states, promo=promo, catalog=catalogue(rngs[2]), n_days=n_days)
    found, opens = sessions(rngs[3], store)
    events, lines = funnels(rngs[4], store, found, opens)
    undo = reversals(rngs[5], lines, n_days)
    ids = np.array([f"U{i:06d}" for i in range(n_customers)], dtype=object)
    return Shop(
        orders=_order_frame(lines, undo, ids, store.catalog, first),
        events=_event_frame(events, ids, store.catalog, first),
        customers=_customer_frame(cust, ids, first, _contacts(seed, cust["country"])),
        truth=_truth_frame(cust, states, ids),
    )


def _customers(rng: Rng, n: int, n_days: int) -> dict[str, Arr]:
    """Type, signup, habits, taste and consents of each customer."""
    typ = rng.choice(len(SHOPPER_TYPES), size=n, p=P["share"] / P["share"].sum())
    lapsed = typ == SHOPPER_TYPES.index("lapsed_high_value")
    span = np.where(lapsed, 0.45 * n_days, n_days - 1.0)
    signup = at_hour(rng, span * rng.power(0.8, n))
    taste = rng.dirichlet(np.full(len(DEPARTMENTS), 0.5), n)
    gifter = typ == SHOPPER_TYPES.index("seasonal_gifter")
    taste = np.where(gifter[:, None], taste + 0.6 * _GIFTY / _GIFTY.sum(), taste)
    country = rng.choice(len(COUNTRIES), size=n, p=[c[1] for c in COUNTRIES])
    n_regions = np.array([len(c[3]) for c in COUNTRIES])
    region = (np.cumsum(n_regions) - n_regions)[country] + (rng.random(n) * n_regions[country])
    language = np.array([c[2] for c in COUNTRIES], dtype=object)[country]
    return {
        "type": typ,
        "signup": signup,
        "session_mult": rng.gamma(5.0, 1 / 5, n),
        "conv_mult": rng.lognormal(0.0, 0.25, n),
        "taste": taste / taste.sum(axis=1, keepdims=True),
        "email_consent": rng.random(n) < P["email_consent"][typ],
        "sms_consent": rng.random(n) < P["sms_consent"][typ],
        "country": np.array([c[0] for c in COUNTRIES], dtype=object)[country],
        "region": np.array([r for c in COUNTRIES for r in c[3]], dtype=object)[region.astype(int)],
        "language": np.where(rng.random(n) < 0.85, language, "en").astype(object),
    }


def _hidden_states(rng: Rng, cust: dict[str, Arr], gift: Arr, n_days: int) -> Arr:
    """Weekly Markov chain per customer: active from the signup week, then type-specific moves
    between active, dormant and gone (absorbing). Seasonal gifters wake (0.7 a week) and stay
    active (leaving 0.05 a week) in gift seasons, and fall dormant (0.6 a week) outside them."""
    typ, n_weeks = cust["type"], -(-n_days // 7)
    joined = (cust["signup"] // 7).astype(np.int64)
    gifter = typ == SHOPPER_TYPES.index("seasonal_gifter")
    states = np.full((typ.size, n_weeks), -1, dtype=np.int8)
    s = np.full(typ.size, -1, dtype=np.int8)
    for w in range(n_weeks):
        a2d = np.where(gifter, 0.05 if gift[w] else 0.6, P["active_to_dormant"][typ])
        d2a = np.where(gifter, 0.7 if gift[w] else 0.01, P["dormant_to_active"][typ])
        a2g, d2g = P["active_to_gone"][typ], P["dormant_to_gone"][typ]
        u = rng.random(typ.size)
        new = s.copy()
        act, dor = (s == ACTIVE) & (joined < w), (s == DORMANT) & (joined < w)
        new[act & (u < a2g)] = GONE
        new[act & (u >= a2g) & (u < a2g + a2d)] = DORMANT
        new[dor & (u < d2g)] = GONE
        new[dor & (u >= d2g) & (u < d2g + d2a)] = ACTIVE
        new[joined == w] = ACTIVE
        s = new
        states[:, w] = s
    return states


def _timestamps(origin: pd.Timestamp, t: Arr) -> Arr:
    ns = np.round(np.asarray(t, dtype=float) * 86_400e9).astype(np.int64)
    return np.datetime64(origin.to_datetime64(), "ns") + ns.astype("timedelta64[ns]")


def _names(prefix: str, n: int, width: int) -> Arr:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _order_frame(
    lines: dict[str, Arr],
    undo: dict[str, Arr],
    ids: Arr,
    catalog: dict[str, Arr],
    origin: pd.Timestamp,
) -> pd.DataFrame:
    """The orders table of the data contract: lines by time, each reversal after its line."""
    keys = ("order", "who", "t", "product", "quantity", "price", "status")
    both = {k: np.concatenate([lines[k], undo[k]]) for k in keys}
    by_time = np.argsort(both["t"], kind="stable")
    b = {k: v[by_time] for k, v in both.items()}
    product = b["product"]
    return pd.DataFrame({
        "customer_id": ids[b["who"]],
        "order_id": _names("N", int(lines["order"].max(initial=-1)) + 1, 7)[b["order"]],
        "order_time": _timestamps(origin, b["t"]),
        "product_id": _names("SKU", catalog["price"].size, 4)[product],
        "category": np.array(DEPARTMENTS, dtype=object)[catalog["dept"][product]],
        "quantity": b["quantity"].astype(np.int64),
        "unit_price": b["price"].astype(np.float64),
        "status": _STATUS[b["status"]],
    })  # fmt: skip


def _event_frame(
    arrays: list[Arr], ids: Arr, catalog: dict[str, Arr], origin: pd.Timestamp
) -> pd.DataFrame:
    """The events table of the data contract, in time order."""
    by_time = np.argsort(arrays[1], kind="stable")
    who, t, kind, sid, channel, dept, product = (a[by_time] for a in arrays)
    n_products = catalog["price"].size
    sessions = np.where(sid >= 0, sid, sid.max(initial=-1) + 1 + np.arange(sid.size))
    _, session_no = np.unique(sessions, return_inverse=True)  # numbered by first appearance
    first_seen = np.full(session_no.max(initial=-1) + 1, sid.size)
    np.minimum.at(first_seen, session_no, np.arange(sid.size))
    rank = np.argsort(np.argsort(first_seen, kind="stable"), kind="stable")
    return pd.DataFrame({
        "customer_id": ids[who],
        "event_time": _timestamps(origin, t),
        "event_type": np.array(EVENT_TYPES, dtype=object)[kind],
        "category": np.array([*DEPARTMENTS, None], dtype=object)[dept],
        "product_id": np.array([*_names("SKU", n_products, 4), None], dtype=object)[product],
        "session_id": _names("V", rank.size, 8)[rank[session_no]],
        "channel": np.array(CHANNELS, dtype=object)[channel],
    })  # fmt: skip


def _contacts(seed: int, country: Arr) -> dict[str, Arr]:
    """Fake personal details as ``make_shop`` has them (``segml.datasets._contacts``), from a
    seventh random stream, so the six streams above and every other column stay as they were."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]).spawn(7)[6])
    return contact_columns(rng, country)


def _customer_frame(
    cust: dict[str, Arr], ids: Arr, origin: pd.Timestamp, contacts: dict[str, Arr]
) -> pd.DataFrame:
    columns = ("country", "region", "language", "email_consent", "sms_consent")
    return pd.DataFrame({
        "customer_id": ids,
        "signup_time": _timestamps(origin, cust["signup"]),
        **{name: cust[name] for name in columns},
        **contacts,
    })  # fmt: skip


def _truth_frame(cust: dict[str, Arr], states: Arr, ids: Arr) -> pd.DataFrame:
    typ = cust["type"]
    return pd.DataFrame({
        "customer_id": ids,
        "latent_type": np.array(SHOPPER_TYPES, dtype=object)[typ],
        "state_at_end": np.array(STATES, dtype=object)[np.maximum(states[:, -1], 0)],
        "weeks_active": (states == ACTIVE).sum(axis=1).astype(np.int64),
        "session_rate": P["sessions_active"][typ] * cust["session_mult"],
        "conversion": P["conversion"][typ] * cust["conv_mult"],
        "basket_lines": P["lines_mean"][typ],
        "preferred_tier": np.array(TIERS, dtype=object)[TIER_PREF[typ].argmax(axis=1)],
        "return_prob": P["return_prob"][typ],
        "favourite_department": np.array(DEPARTMENTS, dtype=object)[cust["taste"].argmax(axis=1)],
    })  # fmt: skip

"""A synthetic online store with known ground truth, for tests, demos and model checks.

``make_shop`` simulates customers of six latent types. Each customer buys in a Pareto/NBD-like
way: a Poisson stream of orders while alive (the rate drawn from a gamma within the type), ended by
an exponential dropout time; every order is preceded by a browse -> product_view -> add_to_cart ->
begin_checkout -> purchase funnel, often after research sessions in the days before. Browsing
falls off after dropout, so recency, frequency, browsing and cart adds all carry real signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CATEGORIES", "CHANNELS", "EVENT_TYPES", "LATENT_TYPES", "Shop", "make_shop"]

LATENT_TYPES = (
    "loyal_high_value", "regular", "bargain_hunter", "one_time", "window_shopper", "lapsing",
)  # fmt: skip
CATEGORIES = (
    "home_decor", "kitchen", "fashion", "beauty", "electronics",
    "toys", "garden", "stationery", "sports", "books",
)  # fmt: skip
EVENT_TYPES = (
    "page_view", "product_view", "search", "add_to_cart", "begin_checkout",
    "purchase", "email_open", "email_click", "sms_click", "ad_click",
)  # fmt: skip
CHANNELS = ("organic", "direct", "paid_search", "social", "email", "sms")
PAGE, VIEW, SEARCH, CART, CHECKOUT, PURCHASE, OPEN, EMAIL_CLICK, SMS_CLICK, AD_CLICK = range(10)

# One value per latent type, in LATENT_TYPES order. Rates are per day.
_TYPE = {
    "share": (0.10, 0.24, 0.16, 0.20, 0.14, 0.16),
    "order_rate": (1 / 25, 1 / 60, 1 / 45, 0.0, 0.0, 1 / 25),  # repeat orders while alive
    "lifetime_days": (2000, 700, 500, 0, 400, 110),  # mean time from first order to dropout
    "first_order": (1, 1, 1, 1, 0, 1),  # buys soon after signing up
    "lines": (2.2, 1.6, 2.0, 1.3, 1.0, 1.6),  # mean lines per order
    "extra_qty": (0.3, 0.2, 0.9, 0.1, 0.0, 0.2),  # quantity per line is 1 + Poisson(this)
    "price_tilt": (1.0, 0.0, -1.2, 0.3, 0.0, 0.0),  # > 0 prefers dearer products
    "season_amp": (0.6, 0.8, 2.0, 1.0, 0.6, 0.8),  # strength of the Nov/Dec peak
    "email_consent": (0.90, 0.75, 0.60, 0.35, 0.55, 0.65),
    "sms_consent": (0.35, 0.25, 0.80, 0.15, 0.20, 0.30),
    "email_open": (0.55, 0.30, 0.12, 0.06, 0.25, 0.30),  # per weekly email while alive
    "email_click": (0.30, 0.20, 0.30, 0.10, 0.35, 0.20),  # given an open
    "sms_click": (0.04, 0.04, 0.20, 0.02, 0.05, 0.06),  # per fortnightly SMS while alive
    "ad_rate": (0.002, 0.004, 0.015, 0.01, 0.012, 0.006),
    "browse_rate": (0.04, 0.025, 0.03, 0.015, 0.08, 0.04),  # sessions per day while alive
    "dead_browse": (0.10, 0.10, 0.10, 0.30, 0.20, 0.10),  # browsing kept after dropout
    "return_prob": (0.03, 0.04, 0.08, 0.05, 0.0, 0.05),  # per order line (dirt only)
}
_P = {key: np.asarray(values, dtype=float) for key, values in _TYPE.items()}
# Category taste per type (rows) over CATEGORIES (columns); customers vary around it.
_TASTE = np.array([
    [6, 1, 1, 5, 1, 0.5, 1, 0.5, 0.5, 1],
    [1, 6, 0.5, 1, 0.5, 0.5, 1, 1, 0.5, 5],
    [0.5, 1, 6, 1, 1, 5, 0.5, 0.5, 1, 0.5],
    [0.5, 0.5, 1, 0.5, 6, 1, 0.5, 5, 1, 0.5],
    [1, 0.5, 5, 5, 1, 0.5, 0.5, 0.5, 1, 0.5],
    [0.5, 1, 0.5, 0.5, 1, 0.5, 5, 0.5, 6, 1],
])  # fmt: skip
_TASTE = _TASTE / _TASTE.sum(axis=1, keepdims=True)
# Mix of self-initiated session channels per type over CHANNELS[:4].
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
_DIURNAL = np.array([2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 11, 12, 11, 10, 10, 11, 12, 14, 16, 18, 17,
                     12, 6], dtype=float)  # fmt: skip
_DIURNAL /= _DIURNAL.sum()
_WEEKLY = np.array([1.10, 1.00, 0.95, 0.95, 0.90, 0.95, 1.15])  # Monday .. Sunday
_MINUTE = 1 / 1440


@dataclass(frozen=True, eq=False)
class Shop:
    """The tables of a synthetic shop; see ``make_shop`` for their columns."""

    orders: pd.DataFrame
    events: pd.DataFrame
    customers: pd.DataFrame
    truth: pd.DataFrame


def make_shop(
    n_customers: int = 5000,
    *,
    seed: int = 0,
    start: Any = "2023-01-01",
    end: Any = "2024-12-31",
    dirt: bool = True,
) -> Shop:
    """Simulate an online store whose customers follow known latent types.

    Parameters
    ----------
    n_customers : int
        Registered customers; each signs up at some time between ``start`` and ``end``.
    seed : int
        Seed of the numpy Generator; the same seed gives the same tables.
    start, end : str or datetime-like
        First and last day (inclusive) of the simulated window, in UTC.
    dirt : bool
        Add the dirt that real order logs have, each kind documented below.

    Returns
    -------
    Shop
        ``orders``: one row per order line: ``customer_id`` (str, "C000123"; NaN for guests),
        ``order_id`` (str), ``order_time`` (datetime64[ns], naive UTC), ``product_id`` (str),
        ``category`` (str), ``quantity`` (int64, negative for reversals), ``unit_price``
        (float64), ``status`` (str: "completed", "cancelled", "returned").

        ``events``: ``customer_id``, ``event_time`` (datetime64[ns]), ``event_type`` (one of
        ``EVENT_TYPES``), ``category`` and ``product_id`` (set for product_view, add_to_cart,
        begin_checkout and purchase, else None), ``session_id`` (str), ``channel`` (one of
        ``CHANNELS``). Every customer order has a purchase event at exactly its ``order_time``,
        naming the order's first line. No event precedes the customer's signup.

        ``customers``: ``customer_id``, ``signup_time`` (datetime64[ns]), ``country``, ``region``,
        ``language``, ``email_consent`` (bool), ``sms_consent`` (bool).

        ``truth``: one row per customer: ``customer_id``, ``latent_type`` (one of
        ``LATENT_TYPES``), ``purchase_rate`` (repeat orders per day while alive),
        ``dropout_time`` (datetime64[ns]; may lie after ``end``), ``alive_at_end`` (bool),
        ``basket_lines`` (mean lines per order), ``browse_rate`` (sessions per day while
        alive), ``email_open_prob``, ``sms_click_prob`` and ``favourite_category``.

    Notes
    -----
    With ``dirt=True`` the orders table also holds, drawn from a separate random stream (so the
    other tables and the clean lines are the same as with ``dirt=False``):

    - guest checkouts: about 2.5% of orders have no ``customer_id`` (and no events);
    - reversals: about 1% of lines are cancelled within hours and 3-8% (by type) returned within
      30 days; each is a new row with the same ``order_id``, the negated quantity, the time of
      the reversal and status "cancelled" or "returned" (the original row stays "completed");
    - zero prices: about 0.05% of lines (at least 3) have ``unit_price`` 0.0 (free gifts);
    - duplicates: about 0.1% of lines (at least 5) appear twice, exactly.

    With ``dirt=False`` every order has a customer, every line is "completed" with a positive
    quantity and price, and there are no duplicate rows.
    """
    origin, n_days = _window(n_customers, start, end)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    days = pd.date_range(origin, periods=n_days, freq="D")
    season = _season(days)
    catalog = _catalog(streams[0])
    cust = _customers(streams[1], n_customers, n_days)
    owner, t = _orders(streams[2], cust, season, n_days)
    lines = _lines(
        streams[2], catalog, cust["type"][owner], cust["taste"][owner], cust["lines"][owner], t, days
    )
    lines["owner"] = owner[lines["order"]]
    events = _events(streams[3], cust, catalog, season, lines, owner, t, days)
    if dirt:
        lines = _add_dirt(streams[4], lines, catalog, season, days)
    ids = np.array([f"C{i:06d}" for i in range(n_customers)] + [np.nan], dtype=object)
    return Shop(
        orders=_order_frame(lines, ids, catalog, origin),
        events=_event_frame(events, ids, catalog, origin),
        customers=_customer_frame(cust, ids, origin),
        truth=_truth_frame(cust, ids, origin, n_days),
    )


def _window(n_customers: int, start: Any, end: Any) -> tuple[pd.Timestamp, int]:
    """Validate the arguments; return the window's first midnight and its length in days."""
    if isinstance(n_customers, bool) or not isinstance(n_customers, int | np.integer):
        raise TypeError(f"n_customers must be an int; got {n_customers!r}. Pass e.g. 5000.")
    if n_customers < 1:
        raise ValueError(f"n_customers must be at least 1; got {n_customers}. Pass e.g. 5000.")
    try:
        first, last = pd.Timestamp(start), pd.Timestamp(end)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"start and end must be dates such as '2023-01-01'; got {start!r} and {end!r}."
        ) from err
    if first.tz is not None or last.tz is not None:
        raise ValueError("start and end must be naive UTC dates; drop the time zone.")
    n_days = (last.normalize() - first.normalize()).days + 1
    if n_days < 28:
        raise ValueError(f"end must be at least 27 days after start; got {start!r} to {end!r}.")
    return first.normalize(), n_days


def _season(days: pd.DatetimeIndex) -> np.ndarray:
    """Relative daily intensity, one row per latent type: weekly cycle, Nov/Dec peak, summer dip."""
    doy = days.dayofyear.to_numpy()
    peak = np.exp(-0.5 * ((doy - 338) / 16) ** 2)
    summer = 0.15 * np.exp(-0.5 * ((doy - 205) / 25) ** 2)
    weekly = _WEEKLY[days.dayofweek.to_numpy()]
    return weekly * (1 - summer + _P["season_amp"][:, None] * peak)


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ``counts.sum()`` children: the index of each one's parent and its rank among siblings."""
    parent = np.repeat(np.arange(counts.size), counts)
    rank = np.arange(parent.size) - (np.cumsum(counts) - counts)[parent]
    return parent, rank


def _poisson_times(rng, rate, lo, hi, season, curve) -> tuple[np.ndarray, np.ndarray]:
    """Times of an inhomogeneous Poisson process on each row's [lo, hi), by thinning.

    ``rate`` is the per-day rate at average season; ``season[curve]`` scales it by day.
    """
    peak = season.max(axis=1)[curve] / season.mean(axis=1)[curve]
    n = rng.poisson(rate * peak * np.clip(hi - lo, 0.0, None))
    row, _ = _expand(n)
    t = lo[row] + rng.random(row.size) * (hi - lo)[row]
    curve_row = curve[row]
    level = season[curve_row, t.astype(np.int64)] / season.mean(axis=1)[curve_row]
    keep = rng.random(row.size) * peak[row] < level
    return row[keep], _time_of_day(rng, t[keep], lo[row[keep]], hi[row[keep]])


def _time_of_day(rng, t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Move each time to a diurnal hour of its day, unless that leaves [lo, hi)."""
    hour = rng.choice(24, size=t.size, p=_DIURNAL)
    moved = np.floor(t) + (hour + rng.random(t.size)) / 24
    return np.where((moved >= lo) & (moved < hi), moved, t)


def _pick(rng, prob: np.ndarray) -> np.ndarray:
    """One column per row of ``prob``, drawn with that row's probabilities."""
    below = prob.cumsum(axis=1) < rng.random(prob.shape[0])[:, None] * prob.sum(axis=1)[:, None]
    return np.minimum(below.sum(axis=1), prob.shape[1] - 1)


def _catalog(rng) -> dict[str, np.ndarray]:
    """Products: category, price, and per (type, category) cumulative choice probabilities."""
    category = np.repeat(np.arange(len(CATEGORIES)), _PER_CATEGORY)
    raw = _MEDIAN_PRICE[category] * rng.lognormal(0.0, 0.5, category.size)
    price = np.maximum(np.ceil(raw), 1.0) - 0.01
    relative = (price / _MEDIAN_PRICE[category]).reshape(len(CATEGORIES), _PER_CATEGORY)
    popularity = 1.0 / np.arange(1, _PER_CATEGORY + 1)
    weight = popularity * relative[None] ** _P["price_tilt"][:, None, None]
    cdf = weight.cumsum(axis=2) / weight.sum(axis=2, keepdims=True)
    return {"category": category, "price": price, "cdf": cdf}


def _products(rng, catalog, typ: np.ndarray, cat: np.ndarray) -> np.ndarray:
    """A product of category ``cat`` for each row, chosen with the taste of type ``typ``."""
    below = catalog["cdf"][typ, cat] < rng.random(typ.size)[:, None]
    return cat * _PER_CATEGORY + np.minimum(below.sum(axis=1), _PER_CATEGORY - 1)


def _customers(rng, n: int, n_days: int) -> dict[str, np.ndarray]:
    """Latent type, signup, lifetime and habits of each customer, as day offsets and rates."""
    typ = rng.choice(len(LATENT_TYPES), size=n, p=_P["share"] / _P["share"].sum())
    signup = _time_of_day(rng, n_days * rng.beta(1.0, 1.3, n), np.zeros(n), np.full(n, n_days))
    buyer = _P["first_order"][typ] > 0
    first = np.where(buyer, signup + 1 / 24 + rng.exponential(3.0, n), np.inf)
    lifetime = _P["lifetime_days"][typ] / rng.gamma(3.0, 1 / 3, n)
    dropout = np.where(buyer, first, signup) + rng.exponential(1.0, n) * lifetime
    taste = rng.gamma(25.0 * _TASTE[typ])
    return {
        "type": typ,
        "signup": signup,
        "first": first,
        "dropout": dropout,
        "rate": _P["order_rate"][typ] * rng.gamma(2.5, 1 / 2.5, n),
        "lines": 1 + (_P["lines"][typ] - 1) * rng.lognormal(0.0, 0.25, n),
        "browse": _P["browse_rate"][typ] * rng.gamma(4.0, 1 / 4, n),
        "email_open": np.clip(_P["email_open"][typ] * rng.lognormal(0.0, 0.3, n), 0, 0.95),
        "sms_click": np.clip(_P["sms_click"][typ] * rng.lognormal(0.0, 0.3, n), 0, 0.95),
        "email_consent": rng.random(n) < _P["email_consent"][typ],
        "sms_consent": rng.random(n) < _P["sms_consent"][typ],
        "taste": taste / taste.sum(axis=1, keepdims=True),
        **_geography(rng, n),
    }


def _geography(rng, n: int) -> dict[str, np.ndarray]:
    """Country, region and language; nine in ten speak their country's main language."""
    share = np.array([c[1] for c in _COUNTRIES])
    country = rng.choice(len(_COUNTRIES), size=n, p=share / share.sum())
    n_regions = np.array([len(c[3]) for c in _COUNTRIES])
    region = (rng.random(n) * n_regions[country]).astype(np.int64)
    regions = np.array([c[3][r] for c in _COUNTRIES for r in range(len(c[3]))], dtype=object)
    language = np.array([c[2] for c in _COUNTRIES], dtype=object)[country]
    return {
        "country": np.array([c[0] for c in _COUNTRIES], dtype=object)[country],
        "region": regions[(np.cumsum(n_regions) - n_regions)[country] + region],
        "language": np.where(rng.random(n) < 0.9, language, "en").astype(object),
    }


def _orders(rng, cust, season, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Order owners and times (days), sorted by time: a first order, then repeats while alive."""
    has_first = cust["first"] < n_days
    first_owner = np.flatnonzero(has_first)
    lo = np.where(has_first, cust["first"], 0.0)
    hi = np.where(has_first, np.minimum(cust["dropout"], n_days), 0.0)
    repeat_owner, repeat_t = _poisson_times(rng, cust["rate"], lo, hi, season, cust["type"])
    owner = np.concatenate([first_owner, repeat_owner])
    t = np.concatenate([cust["first"][first_owner], repeat_t])
    order = np.argsort(t, kind="stable")
    return owner[order], t[order]


def _lines(rng, catalog, typ, taste, mean_lines, t, days) -> dict[str, np.ndarray]:
    """Lines of orders with the given types, category tastes, mean line counts and times (days)."""
    n_lines = 1 + rng.poisson(np.maximum(mean_lines - 1, 0.0))
    order, rank = _expand(n_lines)
    cat = _pick(rng, taste[order])
    product = _products(rng, catalog, typ[order], cat)
    sale = ((days.month == 11) & (days.day >= 24)) | ((days.month == 1) & (days.day <= 10))
    discount = np.where(np.asarray(sale)[t[order].astype(np.int64)], 0.8, 1.0)
    return {
        "order": order,
        "rank": rank,
        "n_lines": n_lines[order],
        "t": t[order],
        "type": typ[order],
        "product": product,
        "quantity": 1 + rng.poisson(_P["extra_qty"][typ[order]]),
        "price": np.round(catalog["price"][product] * discount, 2),
        "status": np.zeros(order.size, dtype=np.int64),  # index into _STATUS
    }


_STATUS = np.array(["completed", "cancelled", "returned"], dtype=object)


class _EventLog:
    """Collects events as parallel integer/float arrays; sessions get consecutive numbers."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.n_sessions = 0

    def sessions(self, n: int) -> np.ndarray:
        self.n_sessions += n
        return np.arange(self.n_sessions - n, self.n_sessions)

    def add(self, who, t, kind, session, channel, cat=-1, product=-1, mask=None) -> None:
        cols = [np.broadcast_to(x, np.shape(t)) for x in (who, t, kind, session, channel, cat, product)]
        self.parts.append(tuple(c if mask is None else c[mask] for c in cols))

    def arrays(self) -> list[np.ndarray]:
        return [np.concatenate(col) for col in zip(*self.parts, strict=True)]


def _events(rng, cust, catalog, season, lines, owner, t, days) -> list[np.ndarray]:
    """All events: order funnels, research before orders, browsing, campaigns and ads."""
    log = _EventLog()
    n_days = len(days)
    _order_funnels(log, rng, cust, catalog, lines, owner, t)
    _research(log, rng, cust, catalog, lines, owner, t)
    typ, signup = cust["type"], cust["signup"]
    end = np.full(typ.size, float(n_days))
    alive_end = np.minimum(cust["dropout"], n_days)
    for rate, lo, hi in (  # browsing the customer starts, before and after dropout
        (cust["browse"], signup, alive_end),
        (cust["browse"] * _P["dead_browse"][typ], np.maximum(alive_end, signup), end),
    ):
        who, start = _poisson_times(rng, rate, lo, hi, season, typ)
        _sessions(log, rng, cust, catalog, who, start, _self_channel(rng, cust, who), 0.12)
    _campaigns(log, rng, cust, catalog, days)
    who, start = _poisson_times(rng, _P["ad_rate"][typ], signup, end, season, typ)
    channel = np.where(rng.random(who.size) < 0.5, 2, 3)  # paid_search or social
    _sessions(log, rng, cust, catalog, who, start, channel, 0.1, lead=AD_CLICK)
    arrays = log.arrays()
    keep = arrays[1] < n_days  # sessions cut off by the end of the window
    return [a[keep] for a in arrays]


def _self_channel(rng, cust, who: np.ndarray) -> np.ndarray:
    """Channel of sessions the customer starts: organic, direct, paid_search or social."""
    return _pick(rng, _CHANNEL_MIX[cust["type"][who]])


def _sessions(log, rng, cust, catalog, who, start, channel, p_cart, *, cat=None, lead=None):
    """Browse sessions: [a click], a page view, maybe a search, product views, maybe a cart."""
    sid = log.sessions(who.size)
    cat = _pick(rng, cust["taste"][who]) if cat is None else cat
    if lead is not None:
        log.add(who, start, lead, sid, channel)
        start = start + rng.exponential(0.5, who.size) * _MINUTE
    log.add(who, start, PAGE, sid, channel)
    log.add(who, start + _MINUTE, SEARCH, sid, channel, mask=rng.random(who.size) < 0.3)
    n_views = 1 + rng.poisson(1.0, who.size)
    row, rank = _expand(n_views)
    t_view = start[row] + (rank + 1 + rng.random(row.size)) * 1.5 * _MINUTE
    product = _products(rng, catalog, cust["type"][who[row]], cat[row])
    log.add(who[row], t_view, VIEW, sid[row], channel[row], cat[row], product)
    last = np.cumsum(n_views) - 1
    cart = rng.random(who.size) < p_cart
    t_cart, p_last = t_view[last] + _MINUTE, product[last]
    log.add(who, t_cart, CART, sid, channel, cat, p_last, mask=cart)
    checkout = cart & (rng.random(who.size) < 0.2)  # abandoned at checkout
    log.add(who, t_cart + 2 * _MINUTE, CHECKOUT, sid, channel, cat, p_last, mask=checkout)


def _research(log, rng, cust, catalog, lines, owner, t) -> None:
    """Sessions in the ten days before an order, in its category, often with a cart add."""
    parent, _ = _expand(rng.poisson(1.0, t.size))
    start = t[parent] - rng.uniform(0.05, 10.0, parent.size)
    ok = start >= cust["signup"][owner[parent]]
    parent, start, who = parent[ok], start[ok], owner[parent[ok]]
    cat = catalog["category"][lines["product"][lines["rank"] == 0]][parent]
    _sessions(log, rng, cust, catalog, who, start, _self_channel(rng, cust, who), 0.4, cat=cat)


def _order_funnels(log, rng, cust, catalog, lines, owner, t) -> None:
    """The session in front of each order: views and carts of its lines, checkout, purchase."""
    n, typ = t.size, cust["type"][owner]
    sid = log.sessions(n)
    by_email = cust["email_consent"][owner] & (rng.random(n) < 0.5 * _P["email_open"][typ])
    by_sms = cust["sms_consent"][owner] & (rng.random(n) < _P["sms_click"][typ])
    channel = np.where(by_sms, 5, np.where(by_email, 4, _self_channel(rng, cust, owner)))
    span = rng.uniform(8.0, 40.0, n) * _MINUTE
    log.add(owner, t - span, PAGE, sid, channel)
    o, rank, product = lines["order"], lines["rank"], lines["product"]
    cat = catalog["category"][product]
    t_view = t[o] - span[o] + (rank + 0.5) / (lines["n_lines"] + 1) * (span[o] - 4 * _MINUTE)
    log.add(owner[o], t_view, VIEW, sid[o], channel[o], cat, product)
    log.add(owner[o], t_view + 0.3 * _MINUTE, CART, sid[o], channel[o], cat, product)
    cat1, product1 = cat[rank == 0], product[rank == 0]
    extra, _ = _expand(rng.poisson(1.0, n))  # products looked at but not bought
    t_extra = t[extra] - span[extra] * rng.uniform(0.1, 0.9, extra.size)
    p_extra = _products(rng, catalog, typ[extra], cat1[extra])
    log.add(owner[extra], t_extra, VIEW, sid[extra], channel[extra], cat1[extra], p_extra)
    log.add(owner, t - rng.uniform(0.5, 3.0, n) * _MINUTE, CHECKOUT, sid, channel, cat1, product1)
    log.add(owner, t, PURCHASE, sid, channel, cat1, product1)


def _campaigns(log, rng, cust, catalog, days) -> None:
    """Weekly emails (Tuesdays 10:00) and fortnightly SMS (Fridays 17:00) to those who consent."""
    who, sent = _sends(rng, cust, days, 1, 10, 7, "email")
    opened = sent + rng.exponential(4 / 24, who.size)
    log.add(who, opened, OPEN, log.sessions(who.size), 4)
    click = rng.random(who.size) < _P["email_click"][cust["type"][who]]
    who, start = who[click], opened[click] + rng.exponential(2 * _MINUTE, click.sum())
    _sessions(log, rng, cust, catalog, who, start, np.full(who.size, 4), 0.15, lead=EMAIL_CLICK)
    who, sent = _sends(rng, cust, days, 4, 17, 14, "sms")
    start = sent + rng.exponential(1 / 24, who.size)
    _sessions(log, rng, cust, catalog, who, start, np.full(who.size, 5), 0.15, lead=SMS_CLICK)


def _sends(rng, cust, days, weekday, hour, every, medium) -> tuple[np.ndarray, np.ndarray]:
    """Campaign sends after each consenting customer's signup that got a response (open/click)."""
    sends = np.arange((weekday - days[0].dayofweek) % 7, len(days), every) + hour / 24
    first = np.searchsorted(sends, cust["signup"])
    who, rank = _expand(np.where(cust[f"{medium}_consent"], sends.size - first, 0))
    sent = sends[first[who] + rank]
    prob = cust["email_open" if medium == "email" else "sms_click"][who]
    hit = rng.random(who.size) < prob * np.where(sent < cust["dropout"][who], 1.0, 0.3)
    return who[hit], sent[hit]


def _add_dirt(rng, lines, catalog, season, days) -> dict[str, np.ndarray]:
    """Guest orders, zero prices, cancellations and returns, and duplicate lines."""
    lines = _concat(lines, _guest_lines(rng, lines, catalog, season, days))
    n = lines["order"].size
    lines["price"] = lines["price"].copy()
    lines["price"][rng.choice(n, size=max(3, round(0.0005 * n)), replace=False)] = 0.0
    u = rng.random(n)
    cancel = u < 0.01
    returned = ~cancel & (u < 0.01 + _P["return_prob"][lines["type"]])
    delay = np.where(cancel, rng.uniform(5 * _MINUTE, 0.25, n), rng.uniform(2.0, 30.0, n))
    undo = (cancel | returned) & (lines["t"] + delay < len(days))
    reversal = {key: value[undo] for key, value in lines.items()}
    reversal["t"] = reversal["t"] + delay[undo]
    reversal["quantity"] = -reversal["quantity"]
    reversal["status"] = np.where(cancel[undo], 1, 2)
    lines = _concat(lines, reversal)
    n = lines["order"].size
    twice = rng.choice(n, size=max(5, round(0.001 * n)), replace=False)
    return _concat(lines, {key: value[twice] for key, value in lines.items()})


def _guest_lines(rng, lines, catalog, season, days) -> dict[str, np.ndarray]:
    """About 2.5% extra orders without a customer, numbered after the customer orders."""
    n_orders = int(lines["order"].max()) + 1 if lines["order"].size else 0
    n_guest = max(1, round(n_orders * 0.025 / 0.975))
    typ = rng.choice([1, 2, 3], size=4 * n_guest, p=[0.5, 0.25, 0.25])
    t = rng.random(typ.size) * len(days)
    level = season[typ, t.astype(np.int64)] / season.max(axis=1)[typ]
    keep = np.flatnonzero(rng.random(typ.size) < level)[:n_guest]
    order = np.argsort(t[keep], kind="stable")
    typ, t = typ[keep][order], t[keep][order]
    guest = _lines(rng, catalog, typ, _TASTE[typ], _P["lines"][typ], t, days)
    guest["order"] = guest["order"] + n_orders
    guest["owner"] = np.full(guest["order"].size, -1)
    return guest


def _concat(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([a[key], b[key]]) for key in a}


def _timestamps(origin: pd.Timestamp, t: np.ndarray) -> np.ndarray:
    """Day offsets from ``origin`` as naive datetime64[ns]."""
    ns = np.round(np.asarray(t, dtype=float) * 86_400e9).astype(np.int64)
    return np.datetime64(origin.to_datetime64(), "ns") + ns.astype("timedelta64[ns]")


def _names(prefix: str, n: int, width: int) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _order_frame(lines, ids, catalog, origin) -> pd.DataFrame:
    """The orders table of the data contract, from order-line arrays."""
    product = lines["product"]
    return pd.DataFrame({
        "customer_id": ids[lines["owner"]],
        "order_id": _names("O", int(lines["order"].max()) + 1, 7)[lines["order"]],
        "order_time": _timestamps(origin, lines["t"]),
        "product_id": _names("P", catalog["price"].size, 4)[product],
        "category": np.array(CATEGORIES, dtype=object)[catalog["category"][product]],
        "quantity": lines["quantity"].astype(np.int64),
        "unit_price": lines["price"].astype(np.float64),
        "status": _STATUS[lines["status"]],
    })  # fmt: skip


def _event_frame(arrays, ids, catalog, origin) -> pd.DataFrame:
    """The events table of the data contract, in time order."""
    order = np.argsort(arrays[1], kind="stable")
    who, t, kind, session, channel, cat, product = (a[order] for a in arrays)
    sessions = _names("S", int(session.max()) + 1, 8)
    return pd.DataFrame({
        "customer_id": ids[who],
        "event_time": _timestamps(origin, t),
        "event_type": np.array(EVENT_TYPES, dtype=object)[kind],
        "category": np.array([*CATEGORIES, None], dtype=object)[cat],
        "product_id": np.append(_names("P", catalog["price"].size, 4), None)[product],
        "session_id": sessions[session],
        "channel": np.array(CHANNELS, dtype=object)[channel],
    })  # fmt: skip


def _customer_frame(cust, ids, origin) -> pd.DataFrame:
    """The customers table of the data contract."""
    return pd.DataFrame({
        "customer_id": ids[:-1],
        "signup_time": _timestamps(origin, cust["signup"]),
        "country": cust["country"],
        "region": cust["region"],
        "language": cust["language"],
        "email_consent": cust["email_consent"],
        "sms_consent": cust["sms_consent"],
    })  # fmt: skip


def _truth_frame(cust, ids, origin, n_days: int) -> pd.DataFrame:
    """The simulated parameters of each customer (dropout times capped 100 years out)."""
    return pd.DataFrame({
        "customer_id": ids[:-1],
        "latent_type": np.array(LATENT_TYPES, dtype=object)[cust["type"]],
        "purchase_rate": cust["rate"],
        "dropout_time": _timestamps(origin, np.minimum(cust["dropout"], n_days + 36_525)),
        "alive_at_end": cust["dropout"] >= n_days,
        "basket_lines": cust["lines"],
        "browse_rate": cust["browse"],
        "email_open_prob": cust["email_open"],
        "sms_click_prob": cust["sms_click"],
        "favourite_category": np.array(CATEGORIES, dtype=object)[cust["taste"].argmax(axis=1)],
    })  # fmt: skip

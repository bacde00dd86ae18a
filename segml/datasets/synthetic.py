"""A synthetic online store with known ground truth, for tests, demos and model checks.

``make_shop`` simulates customers of six latent types. Each buys in a Pareto/NBD-like way: a first
order soon after signing up, then a Poisson stream of orders while alive (the rate drawn from a
gamma within the type) until an exponential dropout time. Every order is preceded by a page_view ->
product_view -> add_to_cart -> begin_checkout -> purchase session, and often by research sessions
in the days before; browsing falls off after dropout. So recency, frequency, browsing and recent
cart adds all carry real signal about the next purchase and about lapse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from segml.schema.contract import EVENT_TYPES

__all__ = ["CATEGORIES", "CHANNELS", "LATENT_TYPES", "Shop", "make_shop"]

LATENT_TYPES = (
    "loyal_high_value", "regular", "bargain_hunter", "one_time", "window_shopper", "lapsing",
)  # fmt: skip
CATEGORIES = (
    "home_decor", "kitchen", "fashion", "beauty", "electronics",
    "toys", "garden", "stationery", "sports", "books",
)  # fmt: skip
CHANNELS = ("organic", "direct", "paid_search", "social", "email", "sms")
_PAGE, _VIEW, _SEARCH, _CART, _CHECKOUT, _PURCHASE, _OPEN, _EMAIL_CLICK, _SMS_CLICK, _AD_CLICK = (
    EVENT_TYPES.index(name) for name in (
        "page_view", "product_view", "search", "add_to_cart", "begin_checkout",
        "purchase", "email_open", "email_click", "sms_click", "ad_click",
    )
)  # fmt: skip
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
_HOURLY = np.array([2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 11, 12, 11, 10, 10, 11, 12, 14, 16, 18, 17,
                    12, 6], dtype=float)  # fmt: skip
_HOURLY /= _HOURLY.sum()  # share of activity by hour of day (UTC)
_WEEKLY = np.array([1.10, 1.00, 0.95, 0.95, 0.90, 0.95, 1.15])  # Monday .. Sunday
_STATUS = np.array(["completed", "cancelled", "returned"], dtype=object)
_MINUTE = 1 / 1440

Arr = np.ndarray
Cols = dict[str, Arr]
Rng = np.random.Generator


@dataclass(frozen=True, eq=False)
class Shop:
    """The tables of a synthetic shop; ``make_shop`` documents their columns."""

    orders: pd.DataFrame
    events: pd.DataFrame
    customers: pd.DataFrame
    truth: pd.DataFrame


@dataclass(frozen=True, eq=False)
class _World:
    """What every step of the simulation reads. Times are float days since ``days[0]``."""

    days: pd.DatetimeIndex
    season: Arr  # daily intensity per latent type (rows), each row averaging 1
    catalog: Cols  # per product: category, price; "cdf": choice per (type, category)
    cust: Cols  # per customer: latent type, times, rates and habits


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
        Registered customers; each signs up at a time between ``start`` and ``end``.
    seed : int
        Seed of the numpy random Generator: the same seed gives equal tables.
    start, end : str or datetime-like
        First and last day (both included) of the simulated window, naive UTC.
    dirt : bool
        Add the dirt that real order logs have (see Notes).

    Returns
    -------
    Shop
        ``orders``, one row per order line: ``customer_id`` (str such as "C000123"; NaN for a
        guest), ``order_id`` (str), ``order_time`` (datetime64[ns], naive UTC), ``product_id``
        (str), ``category`` (str), ``quantity`` (int64; negative for a reversal),
        ``unit_price`` (float64), ``status`` ("completed", "cancelled" or "returned").

        ``events``, in time order: ``customer_id`` (str), ``event_time`` (datetime64[ns]),
        ``event_type`` (one of ``segml.schema.EVENT_TYPES``), ``category`` and ``product_id``
        (str for product_view, add_to_cart, begin_checkout and purchase, else None),
        ``session_id`` (str), ``channel`` (one of ``CHANNELS``). Each customer order has a
        purchase event at exactly its ``order_time`` naming its first line. No event or order
        precedes the customer's signup.

        ``customers``: ``customer_id``, ``signup_time`` (datetime64[ns]), ``country``, ``region``,
        ``language`` (str), ``email_consent``, ``sms_consent`` (bool). Emails go only to those
        who consent, SMS likewise, so only they have email_open/email_click or sms_click events.

        ``truth``, per customer: ``customer_id``, ``latent_type`` (one of ``LATENT_TYPES``),
        ``purchase_rate`` (repeat orders per day while alive), ``dropout_time``
        (datetime64[ns]; may lie after ``end``, capped 100 years out), ``alive_at_end`` (bool),
        ``basket_lines`` (mean lines per order), ``browse_rate`` (sessions per day while alive),
        ``email_open_prob`` and ``sms_click_prob`` (per message while alive, if consenting),
        ``favourite_category`` (str).

    Notes
    -----
    The dirt comes from a random stream of its own, so events, customers, truth and the clean
    order lines are the same with ``dirt=False``, which leaves all of it out:

    - guest checkouts: about 2.5% of orders have no ``customer_id`` (and no events);
    - reversals: about 1% of lines are cancelled within six hours and 3-8% (by type) returned
      within 30 days, each as a new row with the same ``order_id``, the time of the reversal,
      the negated quantity and status "cancelled" or "returned" (the original stays
      "completed"); reversals that would fall after ``end`` are left out;
    - zero prices: about 0.05% of lines (at least 3) have ``unit_price`` 0.0 (free gifts);
    - duplicates: about 0.1% of lines (at least 5) appear twice, exactly.
    """
    origin, n_days = _window(n_customers, start, end)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    days = pd.date_range(origin, periods=n_days, freq="D")
    world = _World(days, _season(days), _catalog(rngs[0]), _customers(rngs[1], n_customers, n_days))
    owner, t = _orders(rngs[2], world)
    lines = _lines(rngs[2], world, world.cust, owner, t)
    events = _events(rngs[3], world, lines, owner, t)
    if dirt:
        lines = _add_dirt(rngs[4], world, lines)
    ids = np.array([*(f"C{i:06d}" for i in range(n_customers)), np.nan], dtype=object)
    return Shop(
        orders=_order_frame(lines, ids, world.catalog, origin),
        events=_event_frame(events, ids, world.catalog, origin),
        customers=_customer_frame(world.cust, ids, origin),
        truth=_truth_frame(world.cust, ids, origin, n_days),
    )


def _window(n_customers: int, start: Any, end: Any) -> tuple[pd.Timestamp, int]:
    """Check the arguments; return the window's first midnight and its length in days."""
    if isinstance(n_customers, bool) or not isinstance(n_customers, int | np.integer):
        raise TypeError(f"n_customers must be an int; got {n_customers!r}. Pass e.g. 5000.")
    if n_customers < 1:
        raise ValueError(f"n_customers must be at least 1; got {n_customers}. Pass e.g. 5000.")
    try:
        first, last = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"start and end must be dates such as '2023-01-01'; got {start!r} and {end!r}."
        ) from err
    if first.tz is not None or last.tz is not None:
        raise ValueError(f"start and end must be naive UTC dates; got {start!r} and {end!r}.")
    n_days = (last - first).days + 1
    if n_days < 28:
        raise ValueError(
            f"end must be at least 27 days after start; got start={start!r}, end={end!r}."
        )
    return first, n_days


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


def _catalog(rng: Rng) -> Cols:
    """Products: category, price, and per (type, category) cumulative choice probabilities."""
    category = np.repeat(np.arange(len(CATEGORIES)), _PER_CATEGORY)
    price = np.ceil(_MEDIAN_PRICE[category] * rng.lognormal(0.0, 0.5, category.size)) - 0.01
    relative = (price / _MEDIAN_PRICE[category]).reshape(len(CATEGORIES), _PER_CATEGORY)
    weight = relative[None] ** _P["price_tilt"][:, None, None] / np.arange(1, _PER_CATEGORY + 1)
    cdf = weight.cumsum(axis=2) / weight.sum(axis=2, keepdims=True)
    return {"category": category, "price": price, "cdf": cdf}


def _products(rng: Rng, world: _World, typ: Arr, cat: Arr) -> Arr:
    """A product of category ``cat`` for each row, chosen as latent type ``typ`` would."""
    below = world.catalog["cdf"][typ, cat] < rng.random(typ.size)[:, None]
    return cat * _PER_CATEGORY + np.minimum(below.sum(axis=1), _PER_CATEGORY - 1)


def _customers(rng: Rng, n: int, n_days: int) -> Cols:
    """Latent type, signup, first order, dropout and habits of each customer."""
    typ = rng.choice(len(LATENT_TYPES), size=n, p=_P["share"] / _P["share"].sum())
    signup = _time_of_day(rng, n_days * rng.beta(1.0, 1.3, n), np.zeros(n), np.full(n, n_days))
    buyer = _P["first_order"][typ] > 0
    soon = signup + 1 / 24 + rng.exponential(3.0, n)
    first = np.where(buyer, _time_of_day(rng, soon, signup + 1 / 24, np.full(n, np.inf)), np.inf)
    lifetime = _P["lifetime_days"][typ] / rng.gamma(3.0, 1 / 3, n)
    taste = rng.gamma(25.0 * _TASTE[typ])
    return {
        "type": typ,
        "signup": signup,
        "first": first,
        "dropout": np.where(buyer, first, signup) + rng.exponential(1.0, n) * lifetime,
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


def _geography(rng: Rng, n: int) -> Cols:
    """Country, region and language; nine in ten use their country's main language."""
    share = np.array([c[1] for c in _COUNTRIES])
    country = rng.choice(len(_COUNTRIES), size=n, p=share / share.sum())
    n_regions = np.array([len(c[3]) for c in _COUNTRIES])
    region = (np.cumsum(n_regions) - n_regions)[country] + (rng.random(n) * n_regions[country])
    language = np.array([c[2] for c in _COUNTRIES], dtype=object)[country]
    return {
        "country": np.array([c[0] for c in _COUNTRIES], dtype=object)[country],
        "region": np.array([r for c in _COUNTRIES for r in c[3]], dtype=object)[region.astype(int)],
        "language": np.where(rng.random(n) < 0.9, language, "en").astype(object),
    }


def _orders(rng: Rng, world: _World) -> tuple[Arr, Arr]:
    """Customer and time of each order, by time: a first order, then repeats until dropout."""
    cust, n_days = world.cust, len(world.days)
    has_first = cust["first"] < n_days
    lo = np.where(has_first, cust["first"], 0.0)
    hi = np.where(has_first, np.minimum(cust["dropout"], n_days), 0.0)
    repeat_owner, repeat_t = _poisson_times(rng, world, cust["rate"], lo, hi)
    owner = np.concatenate([np.flatnonzero(has_first), repeat_owner])
    t = np.concatenate([cust["first"][has_first], repeat_t])
    by_time = np.argsort(t, kind="stable")
    return owner[by_time], t[by_time]


def _lines(rng: Rng, world: _World, buyers: Cols, owner: Arr, t: Arr) -> Cols:
    """Lines of the orders of ``buyers[owner]`` at times ``t``; "order" numbers them 0, 1, ..."""
    order, _ = _expand(1 + rng.poisson(np.maximum(buyers["lines"][owner] - 1, 0.0)))
    typ = buyers["type"][owner[order]]
    product = _products(rng, world, typ, _pick(rng, buyers["taste"][owner[order]]))
    _, first = np.unique(order * world.catalog["price"].size + product, return_index=True)
    keep = np.sort(first)  # a product drawn twice for one order is one line
    order, typ, product, who = order[keep], typ[keep], product[keep], owner[order[keep]]
    n_lines = np.bincount(order, minlength=owner.size)
    rank = np.arange(order.size) - (np.cumsum(n_lines) - n_lines)[order]
    days = world.days
    sale = ((days.month == 11) & (days.day >= 24)) | ((days.month == 1) & (days.day <= 10))
    discount = np.where(np.asarray(sale)[t[order].astype(np.int64)], 0.8, 1.0)
    return {
        "order": order,
        "rank": rank,
        "n_lines": n_lines[order],
        "owner": who,
        "type": typ,
        "t": t[order],
        "product": product,
        "quantity": 1 + rng.poisson(_P["extra_qty"][typ]),
        "price": np.round(world.catalog["price"][product] * discount, 2),
        "status": np.zeros(order.size, dtype=np.int64),  # index into _STATUS
    }


class _EventLog:
    """Collects events as parallel arrays; sessions get consecutive numbers."""

    def __init__(self) -> None:
        self.parts: list[tuple[Arr, ...]] = []
        self.n_sessions = 0

    def sessions(self, n: int) -> Arr:
        self.n_sessions += n
        return np.arange(self.n_sessions - n, self.n_sessions)

    def add(
        self,
        who: Arr,
        t: Arr,
        kind: int,
        session: Arr,
        channel: Arr | int,
        cat: Arr | int = -1,
        product: Arr | int = -1,
        mask: Arr | None = None,
    ) -> None:
        """Events of one kind; ``cat``/``product`` -1 means none; ``mask`` keeps some rows."""
        raw = (who, t, kind, session, channel, cat, product)
        cols = tuple(np.broadcast_to(c, np.shape(t)) for c in raw)
        self.parts.append(cols if mask is None else tuple(c[mask] for c in cols))

    def arrays(self) -> list[Arr]:
        return [np.concatenate(col) for col in zip(*self.parts, strict=True)]


def _events(rng: Rng, world: _World, lines: Cols, owner: Arr, t: Arr) -> list[Arr]:
    """All events: order funnels, research before orders, browsing, campaigns and ads."""
    log, cust, n_days = _EventLog(), world.cust, len(world.days)
    _order_funnels(log, rng, world, lines, owner, t)
    _research(log, rng, world, lines, owner, t)
    end = np.full(cust["type"].size, float(n_days))
    alive_end = np.minimum(cust["dropout"], n_days)
    dead_rate = cust["browse"] * _P["dead_browse"][cust["type"]]
    for rate, lo, hi in (  # browsing the customer starts, before and after dropout
        (cust["browse"], cust["signup"], alive_end),
        (dead_rate, np.maximum(alive_end, cust["signup"]), end),
    ):
        who, start = _poisson_times(rng, world, rate, lo, hi)
        _sessions(log, rng, world, who, start, _self_channel(rng, world, who), 0.12)
    _campaigns(log, rng, world)
    who, start = _poisson_times(rng, world, _P["ad_rate"][cust["type"]], cust["signup"], end)
    channel = np.where(rng.random(who.size) < 0.5, _PAID, _SOCIAL)
    _sessions(log, rng, world, who, start, channel, 0.1, lead=_AD_CLICK)
    arrays = log.arrays()
    return [a[arrays[1] < n_days] for a in arrays]  # sessions cut off by the window's end


def _self_channel(rng: Rng, world: _World, who: Arr) -> Arr:
    """Channel of sessions the customer starts: organic, direct, paid_search or social."""
    return _pick(rng, _CHANNEL_MIX[world.cust["type"][who]])


def _sessions(
    log: _EventLog,
    rng: Rng,
    world: _World,
    who: Arr,
    start: Arr,
    channel: Arr,
    p_cart: float,
    *,
    cat: Arr | None = None,
    lead: int | None = None,
) -> None:
    """Browse sessions: [a click], a page view, maybe a search, product views, maybe a cart."""
    sid, typ = log.sessions(who.size), world.cust["type"][who]
    cat = _pick(rng, world.cust["taste"][who]) if cat is None else cat
    if lead is not None:
        log.add(who, start, lead, sid, channel)
        start = start + rng.exponential(0.5, who.size) * _MINUTE
    log.add(who, start, _PAGE, sid, channel)
    log.add(who, start + _MINUTE, _SEARCH, sid, channel, mask=rng.random(who.size) < 0.3)
    n_views = 1 + rng.poisson(1.0, who.size)
    row, rank = _expand(n_views)
    t_view = start[row] + (rank + 1 + rng.random(row.size)) * 1.5 * _MINUTE
    product = _products(rng, world, typ[row], cat[row])
    log.add(who[row], t_view, _VIEW, sid[row], channel[row], cat[row], product)
    last = np.cumsum(n_views) - 1
    cart = rng.random(who.size) < p_cart
    t_cart, p_last = t_view[last] + _MINUTE, product[last]
    log.add(who, t_cart, _CART, sid, channel, cat, p_last, mask=cart)
    checkout = cart & (rng.random(who.size) < 0.2)  # then abandoned
    log.add(who, t_cart + 2 * _MINUTE, _CHECKOUT, sid, channel, cat, p_last, mask=checkout)


def _research(log: _EventLog, rng: Rng, world: _World, lines: Cols, owner: Arr, t: Arr) -> None:
    """Sessions in the ten days before an order, in its category, often with a cart add."""
    parent, _ = _expand(rng.poisson(1.0, t.size))
    start = t[parent] - rng.uniform(0.05, 10.0, parent.size)
    ok = start >= world.cust["signup"][owner[parent]]
    parent, start, who = parent[ok], start[ok], owner[parent[ok]]
    cat = world.catalog["category"][lines["product"][lines["rank"] == 0]][parent]
    _sessions(log, rng, world, who, start, _self_channel(rng, world, who), 0.4, cat=cat)


def _order_funnels(
    log: _EventLog, rng: Rng, world: _World, lines: Cols, owner: Arr, t: Arr
) -> None:
    """The session of each order: views and carts of its lines, checkout, purchase."""
    n, cust, typ = t.size, world.cust, world.cust["type"][owner]
    sid = log.sessions(n)
    by_email = cust["email_consent"][owner] & (rng.random(n) < 0.5 * _P["email_open"][typ])
    by_sms = cust["sms_consent"][owner] & (rng.random(n) < _P["sms_click"][typ])
    channel = np.where(by_sms, _SMS, np.where(by_email, _EMAIL, _self_channel(rng, world, owner)))
    span = rng.uniform(8.0, 40.0, n) * _MINUTE
    log.add(owner, t - span, _PAGE, sid, channel)
    o, rank, product = lines["order"], lines["rank"], lines["product"]
    cat = world.catalog["category"][product]
    t_view = t[o] - span[o] + (rank + 0.5) / (lines["n_lines"] + 1) * (span[o] - 4 * _MINUTE)
    log.add(owner[o], t_view, _VIEW, sid[o], channel[o], cat, product)
    log.add(owner[o], t_view + 0.3 * _MINUTE, _CART, sid[o], channel[o], cat, product)
    cat1, product1 = cat[rank == 0], product[rank == 0]
    extra, _ = _expand(rng.poisson(1.0, n))  # products looked at but not bought
    t_extra = t[extra] - span[extra] * rng.uniform(0.1, 0.9, extra.size)
    p_extra = _products(rng, world, typ[extra], cat1[extra])
    log.add(owner[extra], t_extra, _VIEW, sid[extra], channel[extra], cat1[extra], p_extra)
    log.add(owner, t - rng.uniform(0.5, 3.0, n) * _MINUTE, _CHECKOUT, sid, channel, cat1, product1)
    log.add(owner, t, _PURCHASE, sid, channel, cat1, product1)


def _campaigns(log: _EventLog, rng: Rng, world: _World) -> None:
    """Weekly emails (Tuesdays 10:00) and fortnightly SMS (Fridays 17:00) to those who consent."""
    who, sent = _responses(rng, world, weekday=1, hour=10, every=7, medium="email")
    opened = sent + rng.exponential(4 / 24, who.size)
    log.add(who, opened, _OPEN, log.sessions(who.size), _EMAIL)
    click = rng.random(who.size) < _P["email_click"][world.cust["type"][who]]
    who, start = who[click], opened[click] + rng.exponential(2 * _MINUTE, click.sum())
    _sessions(log, rng, world, who, start, np.full(who.size, _EMAIL), 0.15, lead=_EMAIL_CLICK)
    who, sent = _responses(rng, world, weekday=4, hour=17, every=14, medium="sms")
    start = sent + rng.exponential(1 / 24, who.size)
    _sessions(log, rng, world, who, start, np.full(who.size, _SMS), 0.15, lead=_SMS_CLICK)


def _responses(
    rng: Rng, world: _World, *, weekday: int, hour: int, every: int, medium: str
) -> tuple[Arr, Arr]:
    """Customer and send time of messages opened (email) or clicked (SMS); less after dropout."""
    cust, days = world.cust, world.days
    sends = np.arange((weekday - days[0].dayofweek) % 7, len(days), every) + hour / 24
    first = np.searchsorted(sends, cust["signup"])
    who, rank = _expand(np.where(cust[f"{medium}_consent"], sends.size - first, 0))
    sent = sends[first[who] + rank]
    prob = cust["email_open" if medium == "email" else "sms_click"][who]
    hit = rng.random(who.size) < prob * np.where(sent < cust["dropout"][who], 1.0, 0.3)
    return who[hit], sent[hit]


def _add_dirt(rng: Rng, world: _World, lines: Cols) -> Cols:
    """Guest orders, zero prices, cancellations and returns, and duplicate lines."""
    lines = _concat(lines, _guest_lines(rng, world, lines))
    n = lines["order"].size
    lines["price"][rng.choice(n, size=min(n, max(3, round(0.0005 * n))), replace=False)] = 0.0
    u = rng.random(n)
    cancel = u < 0.01
    returned = ~cancel & (u < 0.01 + _P["return_prob"][lines["type"]])
    delay = np.where(cancel, rng.uniform(5 * _MINUTE, 0.25, n), rng.uniform(2.0, 30.0, n))
    undo = (cancel | returned) & (lines["t"] + delay < len(world.days))
    reversal = {key: value[undo] for key, value in lines.items()}
    reversal["t"] = reversal["t"] + delay[undo]
    reversal["quantity"] = -reversal["quantity"]
    reversal["status"] = np.where(cancel[undo], 1, 2)
    lines = _concat(lines, reversal)
    n_twice = min(lines["order"].size, max(5, round(0.001 * n)))
    twice = rng.choice(lines["order"].size, size=n_twice, replace=False)
    return _concat(lines, {key: value[twice] for key, value in lines.items()})


def _guest_lines(rng: Rng, world: _World, lines: Cols) -> Cols:
    """About 2.5% more orders, by guests of regular-like types, numbered after the others."""
    n_orders, n_days = int(lines["order"].max(initial=-1)) + 1, len(world.days)
    level = world.season[1]  # the regular type's seasonality
    t = rng.random(max(10, round(0.025 / 0.975 * n_orders * level.max()))) * n_days
    t = np.sort(t[rng.random(t.size) * level.max() < level[t.astype(np.int64)]])
    t = _time_of_day(rng, t, np.zeros(t.size), np.full(t.size, n_days))
    typ = rng.choice([1, 2, 3], size=t.size, p=[0.5, 0.25, 0.25])
    guests = {"type": typ, "taste": _TASTE[typ], "lines": _P["lines"][typ]}
    guest = _lines(rng, world, guests, np.arange(t.size), t)
    guest["order"] += n_orders
    guest["owner"][:] = -1  # the missing customer_id
    return guest


def _concat(a: Cols, b: Cols) -> Cols:
    return {key: np.concatenate([a[key], b[key]]) for key in a}


def _timestamps(origin: pd.Timestamp, t: Arr) -> Arr:
    """Days since ``origin`` as naive datetime64[ns]."""
    ns = np.round(np.asarray(t, dtype=float) * 86_400e9).astype(np.int64)
    return np.datetime64(origin.to_datetime64(), "ns") + ns.astype("timedelta64[ns]")


def _names(prefix: str, n: int, width: int) -> Arr:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _order_frame(lines: Cols, ids: Arr, catalog: Cols, origin: pd.Timestamp) -> pd.DataFrame:
    """The orders table of the data contract."""
    product = lines["product"]
    return pd.DataFrame({
        "customer_id": ids[lines["owner"]],
        "order_id": _names("O", int(lines["order"].max(initial=-1)) + 1, 7)[lines["order"]],
        "order_time": _timestamps(origin, lines["t"]),
        "product_id": _names("P", catalog["price"].size, 4)[product],
        "category": np.array(CATEGORIES, dtype=object)[catalog["category"][product]],
        "quantity": lines["quantity"].astype(np.int64),
        "unit_price": lines["price"].astype(np.float64),
        "status": _STATUS[lines["status"]],
    })  # fmt: skip


def _event_frame(arrays: list[Arr], ids: Arr, catalog: Cols, origin: pd.Timestamp) -> pd.DataFrame:
    """The events table of the data contract, in time order."""
    by_time = np.argsort(arrays[1], kind="stable")
    who, t, kind, session, channel, cat, product = (a[by_time] for a in arrays)
    return pd.DataFrame({
        "customer_id": ids[who],
        "event_time": _timestamps(origin, t),
        "event_type": np.array(EVENT_TYPES, dtype=object)[kind],
        "category": np.array([*CATEGORIES, None], dtype=object)[cat],
        "product_id": np.array([*_names("P", catalog["price"].size, 4), None])[product],
        "session_id": _names("S", session.max(initial=-1) + 1, 8)[session],
        "channel": np.array(CHANNELS, dtype=object)[channel],
    })  # fmt: skip


def _customer_frame(cust: Cols, ids: Arr, origin: pd.Timestamp) -> pd.DataFrame:
    """The customers table of the data contract."""
    columns = ("country", "region", "language", "email_consent", "sms_consent")
    return pd.DataFrame({
        "customer_id": ids[:-1],
        "signup_time": _timestamps(origin, cust["signup"]),
        **{name: cust[name] for name in columns},
    })  # fmt: skip


def _truth_frame(cust: Cols, ids: Arr, origin: pd.Timestamp, n_days: int) -> pd.DataFrame:
    """The simulated parameters of each customer."""
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

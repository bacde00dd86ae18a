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

from segml.datasets._contacts import contact_columns
from segml.datasets._events import _events
from segml.datasets._world import (
    _COUNTRIES,
    _MEDIAN_PRICE,
    _MINUTE,
    _P,
    _PER_CATEGORY,
    _STATUS,
    _TASTE,
    CATEGORIES,
    CHANNELS,
    LATENT_TYPES,
    Arr,
    Cols,
    Rng,
    _expand,
    _pick,
    _poisson_times,
    _products,
    _season,
    _time_of_day,
    _World,
)
from segml.schema.contract import EVENT_TYPES

__all__ = ["CATEGORIES", "CHANNELS", "LATENT_TYPES", "Shop", "make_shop"]


@dataclass(frozen=True, eq=False)
class Shop:
    """The tables of a synthetic shop; ``make_shop`` documents their columns."""

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
    contacts: bool = True,
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
        With ``contacts`` (the default) also fake personal details: ``email``, ``phone``,
        ``first_name``, ``last_name``, ``postal_code`` (str or None), on reserved example
        domains and fictional phone ranges, with the dirt of real CRM exports
        (``segml.datasets._contacts``); they come from a random stream of their own, so every
        other column is the same with ``contacts=False``.

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
    origin, n_days = check_window(n_customers, start, end)
    # the sixth stream (contact details) was added last: the first five are as they were
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
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
        customers=_customer_frame(
            world.cust,
            ids,
            origin,
            contact_columns(rngs[5], world.cust["country"]) if contacts else {},
        ),
        truth=_truth_frame(world.cust, ids, origin, n_days),
    )


def check_window(
    n_customers: int, start: Any, end: Any, *, min_days: int = 28
) -> tuple[pd.Timestamp, int]:
    """Check a generator's arguments; return the window's first midnight and its length in
    days (at least ``min_days``)."""
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
    if n_days < min_days:
        raise ValueError(
            f"end must be at least {min_days - 1} days after start; got start={start!r}, "
            f"end={end!r}."
        )
    return first, n_days


def _catalog(rng: Rng) -> Cols:
    """Products: category, price, and per (type, category) cumulative choice probabilities."""
    category = np.repeat(np.arange(len(CATEGORIES)), _PER_CATEGORY)
    price = np.ceil(_MEDIAN_PRICE[category] * rng.lognormal(0.0, 0.5, category.size)) - 0.01
    relative = (price / _MEDIAN_PRICE[category]).reshape(len(CATEGORIES), _PER_CATEGORY)
    weight = relative[None] ** _P["price_tilt"][:, None, None] / np.arange(1, _PER_CATEGORY + 1)
    cdf = weight.cumsum(axis=2) / weight.sum(axis=2, keepdims=True)
    return {"category": category, "price": price, "cdf": cdf}


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


def _customer_frame(cust: Cols, ids: Arr, origin: pd.Timestamp, contacts: Cols) -> pd.DataFrame:
    """The customers table of the data contract (``contacts``: the fake personal details)."""
    columns = ("country", "region", "language", "email_consent", "sms_consent")
    return pd.DataFrame({
        "customer_id": ids[:-1],
        "signup_time": _timestamps(origin, cust["signup"]),
        **{name: cust[name] for name in columns},
        **contacts,
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

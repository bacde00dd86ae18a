"""The event log of ``make_shop``: order funnels, research, browsing, campaigns and ads."""

from __future__ import annotations

import numpy as np

from segml.datasets._world import (
    _AD_CLICK,
    _CART,
    _CHANNEL_MIX,
    _CHECKOUT,
    _EMAIL,
    _EMAIL_CLICK,
    _MINUTE,
    _OPEN,
    _P,
    _PAGE,
    _PAID,
    _PURCHASE,
    _SEARCH,
    _SMS,
    _SMS_CLICK,
    _SOCIAL,
    _VIEW,
    Arr,
    Cols,
    Rng,
    _expand,
    _pick,
    _poisson_times,
    _products,
    _World,
)


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

"""Sessions, funnels, orders and messages of ``make_second_store``.

Here orders come *out of* sessions: every session runs a browse -> cart -> checkout -> purchase
funnel and converts with a probability set by the shopper's type, hidden state and the week's
promotion. (In ``make_shop`` it is the other way round: orders are drawn first and sessions are
laid around them.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segml.datasets._second_world import (
    ACTIVE,
    CHANNELS,
    TIER_PREF,
    Arr,
    P,
    Rng,
    at_hour,
    pick_rows,
    product_of,
    zt_negbin,
)
from segml.schema.contract import EVENT_TYPES

__all__ = ["Log", "Store", "funnels", "reversals", "sessions"]

_KIND = {name: EVENT_TYPES.index(name) for name in EVENT_TYPES}
_CH = {name: CHANNELS.index(name) for name in CHANNELS}
_MIN = 1 / 1440
_STATE_CONVERSION = np.array([1.0, 0.5, 0.15])  # active, dormant, gone
_STATE_MESSAGES = np.array([1.0, 0.5, 0.05])  # response to email and SMS by state


@dataclass(frozen=True, eq=False)
class Store:
    """What the session step reads: customers, their weekly hidden states and the calendar."""

    cust: dict[str, Arr]
    states: Arr  # (customers, weeks) int8: -1 before signup, else ACTIVE / DORMANT / GONE
    promo: Arr  # per week
    catalog: dict[str, Arr]
    n_days: int


class Log:
    """Events as parallel arrays: customer, time, kind, session, channel, department, product."""

    def __init__(self) -> None:
        self.parts: list[tuple[Arr, ...]] = []

    def add(
        self,
        who: Arr,
        t: Arr,
        kind: str | Arr,
        sid: Arr | int,
        ch: Arr | int,
        dept: Arr | int = -1,
        product: Arr | int = -1,
        mask: Arr | None = None,
    ) -> None:
        code = _KIND[kind] if isinstance(kind, str) else kind
        raw = (who, t, code, sid, ch, dept, product)
        cols = tuple(np.broadcast_to(c, np.shape(t)) for c in raw)
        self.parts.append(cols if mask is None else tuple(c[mask] for c in cols))

    def arrays(self) -> list[Arr]:
        return [np.concatenate(col) for col in zip(*self.parts, strict=True)]


def sessions(rng: Rng, store: Store) -> tuple[dict[str, Arr], tuple[Arr, Arr]]:
    """Every session (the signup visit, self-started visits, email and SMS clicks), by time,
    and the customer and time of every newsletter open."""
    who, t, ad = _own_sessions(rng, store)
    n = store.cust["type"].size
    own = np.where(
        ad,
        np.where(rng.random(who.size) < 0.5, _CH["paid_search"], _CH["social"]),
        np.where(rng.random(who.size) < 0.6, _CH["organic"], _CH["direct"]),
    )
    email, opens = _messages(rng, store, medium="email")
    sms, _ = _messages(rng, store, medium="sms")
    parts = [
        (np.arange(n), store.cust["signup"], np.full(n, _CH["direct"]), np.full(n, -1),
         np.ones(n, bool)),
        (who, t, own, np.where(ad, _KIND["ad_click"], -1), np.zeros(who.size, bool)),
        email,
        sms,
    ]  # fmt: skip
    out = {
        k: np.concatenate([p[i] for p in parts])
        for i, k in enumerate(("who", "t", "channel", "lead", "signup"))
    }
    keep = out["t"] < store.n_days - 1 / 24
    by_time = np.flatnonzero(keep)[np.argsort(out["t"][keep], kind="stable")]
    return {k: v[by_time] for k, v in out.items()}, opens


def _own_sessions(rng: Rng, store: Store) -> tuple[Arr, Arr, Arr]:
    """Sessions the customers start: Poisson per week at the rate of the week's hidden state
    (deal hunters visit twice as often in promotion weeks); customer, time, from-an-ad flag."""
    typ, states = store.cust["type"], store.states
    n_weeks = states.shape[1]
    rates = np.stack([P[f"sessions_{s}"] for s in ("active", "dormant", "gone")], axis=1)
    rate = rates[typ[:, None], np.maximum(states, 0)] * store.cust["session_mult"][:, None]
    deal = (typ == 4)[:, None] & store.promo[None, :] & (states == ACTIVE)
    rate = np.where(deal, 2.0 * rate, rate)
    weeks = np.arange(n_weeks)[None, :]
    lo = np.maximum(weeks * 7.0, store.cust["signup"][:, None])
    hi = np.broadcast_to(np.minimum((weeks + 1) * 7.0, float(store.n_days)), lo.shape)
    exposure = np.where(states >= 0, np.clip(hi - lo, 0, None) / 7, 0.0)
    count = rng.poisson(rate * exposure)
    who, week = np.nonzero(count)
    k = count[who, week]
    who, week = np.repeat(who, k), np.repeat(week, k)
    span_lo, span_hi = lo[who, week], hi[who, week]
    t = span_lo + rng.random(who.size) * (span_hi - span_lo)
    moved = at_hour(rng, t)
    t = np.where((moved >= span_lo) & (moved < span_hi), moved, t)
    return who, t, rng.random(who.size) < P["ad_share"][typ[who]]


def _messages(rng: Rng, store: Store, *, medium: str) -> tuple[tuple[Arr, ...], tuple[Arr, Arr]]:
    """Sessions started by a newsletter click (weekly, Thursdays 08:00) or a promo SMS click
    (Mondays 18:00 of promotion weeks), and the opens (emails only). Consent is required;
    responses fall with the hidden state (active, dormant, gone)."""
    cust, states = store.cust, store.states
    if medium == "email":
        sends = np.arange(3, store.n_days, 7) + 8 / 24
    else:
        sends = np.flatnonzero(store.promo) * 7.0 + 18 / 24
    sends = sends[sends < store.n_days]
    first = np.searchsorted(sends, cust["signup"])
    who, rank = _expand(np.where(cust[f"{medium}_consent"], sends.size - first, 0))
    sent = sends[first[who] + rank]
    state = states[who, (sent // 7).astype(np.int64)]
    prob = (P["email_open"] if medium == "email" else P["sms_click"])[cust["type"][who]]
    hit = rng.random(who.size) < prob * _STATE_MESSAGES[np.maximum(state, 0)]
    who, sent = who[hit], sent[hit]
    if medium == "email":
        opened = sent + rng.exponential(6 / 24, who.size)
        click = rng.random(who.size) < P["email_click"][cust["type"][who]]
        opens = (who, opened)
        who, t = who[click], opened[click] + rng.exponential(3 * _MIN, click.sum())
    else:
        opens = (who[:0], sent[:0])
        t = sent + rng.exponential(1 / 24, who.size)
    lead = _KIND[f"{medium}_click"]
    session = (
        who,
        t,
        np.full(who.size, _CH[medium]),
        np.full(who.size, lead),
        np.zeros(who.size, bool),
    )
    return session, opens


def _expand(counts: Arr) -> tuple[Arr, Arr]:
    parent = np.repeat(np.arange(counts.size), counts)
    return parent, np.arange(parent.size) - (np.cumsum(counts) - counts)[parent]


def funnels(
    rng: Rng, store: Store, s: dict[str, Arr], opens: tuple[Arr, Arr]
) -> tuple[list[Arr], dict[str, Arr]]:
    """Events of every session (and the email opens) and the lines of the orders placed."""
    cust, log = store.cust, Log()
    who, t, typ = s["who"], s["t"], store.cust["type"][s["who"]]
    week = (t // 7).astype(np.int64)
    state = np.maximum(store.states[who, week], 0)
    promo = store.promo[week]
    conv = P["conversion"][typ] * cust["conv_mult"][who] * _STATE_CONVERSION[state]
    conv = conv * np.where(promo, P["promo_lift"][typ], P["off_promo"][typ])
    conv = np.where(s["signup"] & (typ == 0), 1.0, np.minimum(conv, 0.95))
    buy = rng.random(who.size) < conv
    sid = np.arange(who.size)
    ch = s["channel"]
    lead = s["lead"] >= 0
    log.add(who[lead], t[lead] - 0.5 * _MIN, s["lead"][lead], sid[lead], ch[lead])
    log.add(who, t, "page_view", sid, ch)
    log.add(who, t + _MIN, "search", sid, ch, mask=rng.random(who.size) < P["search"][typ])
    n_views = 1 + rng.poisson(P["views"][typ])
    row, rank = _expand(n_views)
    dept = pick_rows(rng, cust["taste"][who[row]])
    product = product_of(rng, dept, pick_rows(rng, TIER_PREF[typ[row]]))
    t_view = t[row] + (2 + 1.5 * rank + rng.random(row.size)) * _MIN
    log.add(who[row], t_view, "product_view", sid[row], ch[row], dept, product)
    last = np.cumsum(n_views) - 1
    t_end = t_view[last] + _MIN
    cart = ~buy & (rng.random(who.size) < P["cart_abandon"][typ])
    log.add(who, t_end, "add_to_cart", sid, ch, dept[last], product[last], mask=cart)
    checkout = cart & (rng.random(who.size) < 0.3)
    log.add(
        who, t_end + 2 * _MIN, "begin_checkout", sid, ch, dept[last], product[last], mask=checkout
    )
    lines = _baskets(rng, store, who[buy], t_end[buy], typ[buy], promo[buy])
    _checkout_events(log, lines, sid[buy], ch[buy])
    log.add(opens[0], opens[1], "email_open", -1, _CH["email"])
    arrays = log.arrays()
    keep = arrays[1] < store.n_days
    return [a[keep] for a in arrays], lines


def _baskets(rng: Rng, store: Store, who: Arr, t: Arr, typ: Arr, promo: Arr) -> dict[str, Arr]:
    """Order lines: zero-truncated negative binomial lines, department by the customer's
    taste, tier by the type's preference; promotions take 25% off."""
    n_lines = zt_negbin(rng, P["lines_mean"][typ], P["lines_shape"][typ])
    order, _ = _expand(n_lines)
    dept = pick_rows(rng, store.cust["taste"][who[order]])
    product = product_of(rng, dept, pick_rows(rng, TIER_PREF[typ[order]]))
    n_products = store.catalog["price"].size
    _, first = np.unique(order * n_products + product, return_index=True)
    keep = np.sort(first)  # the same product twice in one order is one line
    order, dept, product = order[keep], dept[keep], product[keep]
    rank = np.arange(order.size) - np.searchsorted(order, order)
    n_lines = np.bincount(order, minlength=who.size)
    price = store.catalog["price"][product] * np.where(promo[order], 0.75, 1.0)
    return {
        "order": order,
        "rank": rank,
        "who": who[order],
        "type": typ[order],
        "t_cart": t[order] + 0.5 * rank * _MIN,
        "t": t[order] + (2 + 0.5 * n_lines[order]) * _MIN,  # the order time
        "dept": dept,
        "product": product,
        "quantity": 1 + rng.poisson(P["extra_qty"][typ[order]]),
        "price": np.round(price, 2),
        "status": np.zeros(order.size, dtype=np.int64),
    }


def _checkout_events(log: Log, lines: dict[str, Arr], sid: Arr, ch: Arr) -> None:
    """Cart adds of every line, then checkout and purchase (at the order time, first line)."""
    o, who = lines["order"], lines["who"]
    log.add(who, lines["t_cart"], "add_to_cart", sid[o], ch[o], lines["dept"], lines["product"])
    first = lines["rank"] == 0
    f, t = o[first], lines["t"][first]
    dept, product = lines["dept"][first], lines["product"][first]
    log.add(who[first], t - _MIN, "begin_checkout", sid[f], ch[f], dept, product)
    log.add(who[first], t, "purchase", sid[f], ch[f], dept, product)


def reversals(rng: Rng, lines: dict[str, Arr], n_days: int) -> dict[str, Arr]:
    """Returns (by type, 3-21 days later) and cancellations (0.8%, within two hours)."""
    n = lines["order"].size
    u = rng.random(n)
    cancel = u < 0.008
    back = ~cancel & (u < 0.008 + P["return_prob"][lines["type"]])
    delay = np.where(cancel, rng.uniform(5 * _MIN, 2 / 24, n), rng.uniform(3.0, 21.0, n))
    undo = (cancel | back) & (lines["t"] + delay < n_days)
    out = {k: v[undo] for k, v in lines.items()}
    out["t"] = out["t"] + delay[undo]
    out["quantity"] = -out["quantity"]
    out["status"] = np.where(cancel[undo], 1, 2)
    return out

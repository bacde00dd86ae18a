"""Synthetic event logs at benchmark scale: Parquet folders, generated in chunks, cached on disk.

``ensure_store(n_events, seed=...)`` returns a folder holding three tables, each a folder of
Parquet files in segml's canonical column names:

- ``events/``: exactly ``n_events`` rows: customer_id (int64), event_time (timestamp[us], naive
  UTC), event_type (the ten contract types plus a rare unknown one), category, product_id
  (int64, only on product events), session_id (int64; null on email/SMS/ad events), channel.
- ``orders/``: about ``n_events / 10`` order lines: customer_id, order_id (int64), order_time,
  quantity (int64), unit_price (float64), product_id, category, status.
- ``customers/``: about ``n_events / per_customer`` rows (100 events per customer by default):
  customer_id, signup_time, country, region, language, email_consent, sms_consent (bool).

Activity is heavy tailed (a customer's rate is log-normal times the length of their active
spell), events come in sessions of a few minutes, product views lean to each customer's
favourite category, and timestamps cover 2023-01-01 to 2025-01-01. The dirt segml's hygiene
rules exist for is there too: guest rows without a customer id, exact duplicate order lines,
returns as negative-quantity lines (or a return status), zero and negative prices, null
categories and sessions, customers missing from the customers table, an unknown event type.

Every chunk has its own random stream derived from (seed, table, chunk), so a store depends only
on its size and seed, and memory stays bounded by one chunk (5M events) whatever the size. A
finished store is cached under ``benchmarks/data/`` (git-ignored); it is written to a temporary
folder first and renamed, so an interrupted run never leaves a half store behind.

    python benchmarks/generate.py --sizes 10M,50M --seed 0 [--per-customer 5]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA_DIR = Path(__file__).resolve().parent / "data"
VERSION = 2  # bump when the generator changes, so cached stores are regenerated
START = np.datetime64("2023-01-01T00:00:00", "us")
DAYS = 731  # 2023-01-01 .. 2025-01-01
AS_OF = "2024-10-01"  # the cutoff the benchmark uses: about 3 months of data lie after it
US_PER_DAY = 86_400_000_000
EVENTS_PER_FILE = 5_000_000
PER_CUSTOMER = 100  # events per customer of the default stores (their paths carry no shape)

WEB_TYPES = ("page_view", "product_view", "search", "add_to_cart", "begin_checkout", "purchase")
WEB_P = (0.36, 0.34, 0.12, 0.10, 0.05, 0.03)
PRODUCT_TYPES = (1, 3, 4, 5)  # indices into WEB_TYPES of events that name a product
CONTACT_TYPES = ("email_open", "email_click", "sms_click", "ad_click")
CONTACT_P = (0.55, 0.20, 0.10, 0.15)
CONTACT_CHANNEL = ("email", "email", "sms", "ads")
UNKNOWN_TYPE = "video_play"  # not in the contract: kept by segml, used by no feature
WEB_CHANNELS = ("organic", "direct", "paid_search", "social", "app")
WEB_CHANNEL_P = (0.30, 0.25, 0.20, 0.10, 0.15)
CATEGORIES = (
    "home_decor", "kitchen", "fashion", "beauty", "electronics", "toys", "garden", "stationery",
    "sports", "books", "pets", "baby", "jewellery", "shoes", "outdoor", "music", "games",
    "health", "grocery", "automotive",
)  # fmt: skip
PER_CATEGORY = 2500  # products per category
STATUSES = ("completed", "returned", "cancelled", "refunded", "pending", "Cancelled")
STATUS_P = (0.955, 0.015, 0.012, 0.005, 0.008, 0.005)
COUNTRIES = (  # code, share, language, regions
    ("GB", 0.35, "en", ("England", "Scotland", "Wales", "Northern Ireland")),
    ("DE", 0.15, "de", ("Bavaria", "Berlin", "Hamburg", "Hesse")),
    ("FR", 0.12, "fr", ("Ile-de-France", "Occitanie", "Brittany")),
    ("US", 0.15, "en", ("California", "New York", "Texas", "Florida")),
    ("NL", 0.06, "nl", ("North Holland", "South Holland", "Utrecht")),
    ("ES", 0.07, "es", ("Madrid", "Catalonia", "Andalusia")),
    ("IT", 0.06, "it", ("Lombardy", "Lazio", "Veneto")),
    ("SE", 0.04, "sv", ("Stockholm", "Skane")),
)


def parse_size(text: str) -> int:
    """'200k' -> 200_000, '10M' -> 10_000_000, '1.5M' -> 1_500_000, '12345' -> 12345."""
    text = text.strip().upper().replace("_", "")
    scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000, "B": 1_000_000_000}
    try:
        if text[-1:] in scale:
            return round(float(text[:-1]) * scale[text[-1]])
        return int(text)
    except ValueError as err:
        raise ValueError(f"size {text!r} is not a row count; use e.g. 200k, 10M or 1.5M") from err


def size_label(n: int) -> str:
    """10_000_000 -> '10M', 200_000 -> '200k'; other counts as digits."""
    for div, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{n // div}{suffix}"
    return str(n)


def store_path(n_events: int, seed: int = 0, per_customer: int = PER_CUSTOMER) -> Path:
    shape = "" if per_customer == PER_CUSTOMER else f"_pc{per_customer}"
    return DATA_DIR / f"events_{size_label(n_events)}{shape}_seed{seed}_v{VERSION}"


@dataclass(frozen=True)
class Population:
    """Per customer: id, active spell (days since START), sampling CDF, taste and sign-up."""

    ids: np.ndarray
    start: np.ndarray
    span: np.ndarray
    cdf: np.ndarray
    favourite: np.ndarray
    signup: np.ndarray  # days since START; NaN for a missing sign-up time

    def sample(self, rng: np.random.Generator, k: int) -> np.ndarray:
        """``k`` customer indices, each drawn with probability proportional to activity."""
        idx = np.searchsorted(self.cdf, rng.random(k), side="right")
        return np.minimum(idx, len(self.cdf) - 1)

    def times(self, rng: np.random.Generator, who: np.ndarray) -> np.ndarray:
        """A uniform moment in each customer's active spell, as float days since START."""
        return self.start[who] + rng.random(len(who)) * self.span[who]


def make_population(n_customers: int, seed: int) -> Population:
    rng = np.random.default_rng([seed, 0])
    first = rng.uniform(-365.0, DAYS, n_customers)
    life = rng.exponential(300.0, n_customers)
    start = np.clip(first, 0.0, DAYS)
    span = np.clip(first + life, 0.0, DAYS) - start
    weight = rng.lognormal(0.0, 1.3, n_customers) * span  # heavy-tailed activity
    cdf = np.cumsum(weight)
    cdf /= cdf[-1]
    signup = first - rng.exponential(15.0, n_customers)
    signup[rng.random(n_customers) < 0.01] = np.nan
    favourite = rng.choice(len(CATEGORIES), n_customers, p=_category_p())
    ids = 1_000_000 + np.arange(n_customers, dtype=np.int64)
    return Population(ids, start, span, cdf, favourite, signup)


def _category_p() -> np.ndarray:
    p = 1.0 / np.arange(1, len(CATEGORIES) + 1) ** 0.8  # Zipf-like category popularity
    return p / p.sum()


def _prices(seed: int) -> np.ndarray:
    """A fixed base price per product (category median times a log-normal spread)."""
    rng = np.random.default_rng([seed, 9])
    median = rng.uniform(5.0, 80.0, len(CATEGORIES)).repeat(PER_CATEGORY)
    price = median * rng.lognormal(0.0, 0.6, len(median))
    return np.maximum(np.round(price, 2), 0.5)


def _products(rng: np.random.Generator, pop: Population, who: np.ndarray) -> np.ndarray:
    """Product index per row: half from the customer's favourite category, Zipf within it."""
    cat = rng.choice(len(CATEGORIES), len(who), p=_category_p())
    cat = np.where(rng.random(len(who)) < 0.5, pop.favourite[who], cat)
    within = (PER_CATEGORY * rng.random(len(who)) ** 3).astype(np.int64)
    return cat * PER_CATEGORY + within


def _timestamps(days: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    micros = START.astype(np.int64) + np.round(np.nan_to_num(days) * US_PER_DAY).astype(np.int64)
    return pa.array(micros.view("datetime64[us]"), mask=null)


def _text(codes: np.ndarray, values: tuple[str, ...], null: np.ndarray | None = None) -> pa.Array:
    """Strings from integer codes (written as plain strings; Parquet dictionary-encodes them)."""
    indices = pa.array(codes.astype(np.int32), mask=null)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values)).dictionary_decode()


def _ints(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype(np.int64), mask=null)


def events_chunk(pop: Population, seed: int, chunk: int, n: int) -> pa.Table:
    rng = np.random.default_rng([seed, 1, chunk])
    n_contact = int(n * 0.15)
    n_web = n - n_contact
    # Web events come in sessions of geometric length (mean 4), a minute or so apart.
    lengths = rng.geometric(0.25, n_web // 4 + n_web // 50 + 1000)
    while lengths.sum() < n_web:  # (practically never) too few sessions: draw more
        lengths = np.concatenate([lengths, rng.geometric(0.25, 1000)])
    ends = np.cumsum(lengths)
    n_sess = int(np.searchsorted(ends, n_web)) + 1
    lengths = lengths[:n_sess]
    lengths[-1] -= ends[n_sess - 1] - n_web
    first_row = np.cumsum(lengths) - lengths
    sess_cust = pop.sample(rng, n_sess)
    sess_day = pop.times(rng, sess_cust)
    sess_id = np.int64(chunk) * EVENTS_PER_FILE * 2 + np.arange(n_sess, dtype=np.int64)
    sess_null = rng.random(n_sess) < 0.01  # lost session cookie
    sess_channel = rng.choice(len(WEB_CHANNELS), n_sess, p=WEB_CHANNEL_P)
    of = np.repeat(np.arange(n_sess), lengths)
    position = np.arange(n_web) - first_row[of]
    web_day = sess_day[of] + (position + rng.random(n_web)) * (75.0 / 86_400)
    web_type = rng.choice(len(WEB_TYPES), n_web, p=WEB_P)
    # Contact events (email, SMS, ads) have no session.
    con_cust = pop.sample(rng, n_contact)
    con_day = pop.times(rng, con_cust)
    con_type = rng.choice(len(CONTACT_TYPES), n_contact, p=CONTACT_P)

    who = np.concatenate([sess_cust[of], con_cust])
    day = np.concatenate([web_day, con_day])
    types = np.concatenate([web_type, len(WEB_TYPES) + con_type])
    types[rng.random(n) < 0.002] = len(WEB_TYPES) + len(CONTACT_TYPES)  # unknown type
    is_product = np.isin(types, PRODUCT_TYPES)
    product = _products(rng, pop, who)
    channel = np.concatenate([
        sess_channel[of], len(WEB_CHANNELS) + np.array([0, 0, 1, 2])[con_type]
    ])  # fmt: skip
    session = np.concatenate([sess_id[of], np.zeros(n_contact, dtype=np.int64)])
    no_session = np.concatenate([sess_null[of], np.ones(n_contact, dtype=bool)])
    guest = rng.random(n) < 0.02
    order = np.argsort(day, kind="stable")  # logs are written in time order
    type_names = WEB_TYPES + CONTACT_TYPES + (UNKNOWN_TYPE,)
    return pa.table({
        "customer_id": _ints(pop.ids[who][order], guest[order]),
        "event_time": _timestamps(day[order]),
        "event_type": _text(types[order], type_names),
        "category": _text(product[order] // PER_CATEGORY, CATEGORIES, ~is_product[order]),
        "product_id": _ints(100_000 + product[order], ~is_product[order]),
        "session_id": _ints(session[order], no_session[order]),
        "channel": _text(channel[order], (*WEB_CHANNELS, "email", "sms", "ads")),
    })  # fmt: skip


def orders_chunk(pop: Population, prices: np.ndarray, seed: int, chunk: int, n: int) -> pa.Table:
    """About ``n`` order lines (purchases, then returns, dirt and duplicates appended)."""
    rng = np.random.default_rng([seed, 2, chunk])
    n_orders = max(int(n / 2.2 / 1.04), 1)
    lines = 1 + rng.poisson(1.2, n_orders)
    order_cust = pop.sample(rng, n_orders)
    order_day = pop.times(rng, order_cust)
    order_id = np.int64(chunk + 1) * 1_000_000_000 + np.arange(n_orders, dtype=np.int64)
    guest = rng.random(n_orders) < 0.02
    status = rng.choice(len(STATUSES), n_orders, p=STATUS_P)
    of = np.repeat(np.arange(n_orders), lines)
    k = len(of)
    cols = {
        "who": order_cust[of],
        "guest": guest[of],
        "order_id": order_id[of],
        "day": order_day[of],
        "quantity": 1 + rng.poisson(0.35, k),
        "product": _products(rng, pop, order_cust[of]),
        "status": status[of],
    }
    cols["price"] = prices[cols["product"]]
    cols["status"][rng.random(k) < 0.004] = 1  # a single line returned
    dirt = rng.random(k)
    cols["price"] = np.where(dirt < 0.003, 0.0, cols["price"])  # free gifts
    cols["price"] = np.where((dirt >= 0.003) & (dirt < 0.0035), -5.0, cols["price"])  # adjustment
    no_category = rng.random(k) < 0.005
    # Returns: a new order id, later, negated quantity; half say "returned", half nothing.
    back = np.flatnonzero((rng.random(k) < 0.03) & (cols["quantity"] > 0))
    ret = {name: col[back].copy() for name, col in cols.items()}
    ret["order_id"] = ret["order_id"] + 500_000_000
    ret["day"] = ret["day"] + rng.uniform(1.0, 40.0, len(back))
    ret["quantity"] = -ret["quantity"]
    ret["status"] = np.where(rng.random(len(back)) < 0.5, 1, 0)
    cols = {name: np.concatenate([col, ret[name]]) for name, col in cols.items()}
    no_category = np.concatenate([no_category, no_category[back]])
    dup = np.flatnonzero(rng.random(len(no_category)) < 0.005)  # exact duplicate lines
    cols = {name: np.concatenate([col, col[dup]]) for name, col in cols.items()}
    no_category = np.concatenate([no_category, no_category[dup]])
    order = np.argsort(cols["day"], kind="stable")
    c = {name: col[order] for name, col in cols.items()}
    return pa.table({
        "customer_id": _ints(pop.ids[c["who"]], c["guest"]),
        "order_id": _ints(c["order_id"]),
        "order_time": _timestamps(c["day"]),
        "quantity": _ints(c["quantity"]),
        "unit_price": pa.array(c["price"]),
        "product_id": _ints(100_000 + c["product"]),
        "category": _text(c["product"] // PER_CATEGORY, CATEGORIES, no_category[order]),
        "status": _text(c["status"], STATUSES),
    })  # fmt: skip


def customers_table(pop: Population, seed: int) -> pa.Table:
    rng = np.random.default_rng([seed, 3])
    n = len(pop.ids)
    keep = rng.random(n) >= 0.01  # 1% of active ids are missing from the customers table
    shares = np.array([c[1] for c in COUNTRIES])
    country = rng.choice(len(COUNTRIES), n, p=shares / shares.sum())
    region_names = tuple(r for c in COUNTRIES for r in c[3])
    offsets = np.cumsum([0] + [len(c[3]) for c in COUNTRIES])
    n_regions = np.diff(offsets)[country]
    region = offsets[country] + (rng.random(n) * n_regions).astype(np.int64)
    languages = tuple(sorted({c[2] for c in COUNTRIES}))
    language = np.array([languages.index(c[2]) for c in COUNTRIES])[country]
    email = rng.random(n) < 0.6
    sms = rng.random(n) < 0.25
    return pa.table({
        "customer_id": _ints(pop.ids[keep]),
        "signup_time": _timestamps(pop.signup[keep], np.isnan(pop.signup[keep])),
        "country": _text(country[keep], tuple(c[0] for c in COUNTRIES)),
        "region": _text(region[keep], region_names),
        "language": _text(language[keep], languages),
        "email_consent": pa.array(email[keep], mask=rng.random(n)[keep] < 0.03),
        "sms_consent": pa.array(sms[keep], mask=rng.random(n)[keep] < 0.03),
    })  # fmt: skip


def generate(n_events: int, seed: int, out: Path, per_customer: int = PER_CUSTOMER) -> None:
    """Write a store of ``n_events`` events into ``out`` (which must not exist), with about
    ``per_customer`` events per customer (n_events / per_customer customers)."""
    n_files = max(4, math.ceil(n_events / EVENTS_PER_FILE))
    sizes = [n_events // n_files + (i < n_events % n_files) for i in range(n_files)]
    pop = make_population(max(n_events // per_customer, 100), seed)
    prices = _prices(seed)
    for name in ("events", "orders", "customers"):
        (out / name).mkdir(parents=True)
    for i, n in enumerate(sizes):
        pq.write_table(events_chunk(pop, seed, i, n), out / "events" / f"part-{i:04d}.parquet")
        pq.write_table(
            orders_chunk(pop, prices, seed, i, max(n // 10, 1)),
            out / "orders" / f"part-{i:04d}.parquet",
        )
    customers = customers_table(pop, seed)
    step = math.ceil(customers.num_rows / 2)
    for i in range(2):
        pq.write_table(customers.slice(i * step, step), out / "customers" / f"part-{i:04d}.parquet")


def ensure_store(
    n_events: int, seed: int = 0, *, per_customer: int = PER_CUSTOMER, verbose: bool = True
) -> Path:
    """The cached store for (size, seed, shape), generated first if it is not there yet."""
    path = store_path(n_events, seed, per_customer)
    if path.is_dir():
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.perf_counter()
    if verbose:
        what = f"{size_label(n_events)} events, ~{per_customer} per customer (seed {seed})"
        print(f"generating {what} into {path} ...", flush=True)
    try:
        generate(n_events, seed, tmp, per_customer)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if verbose:
        gb = sum(f.stat().st_size for f in path.rglob("*.parquet")) / 1e9
        print(f"  done in {time.perf_counter() - started:.0f}s, {gb:.2f} GB on disk", flush=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10M,50M,200M", help="events per store, e.g. 200k,10M")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--per-customer", type=int, default=PER_CUSTOMER, help="events per customer (100)"
    )
    args = parser.parse_args(argv)
    for size in args.sizes.split(","):
        print(ensure_store(parse_size(size), args.seed, per_customer=args.per_customer))
    return 0


if __name__ == "__main__":
    sys.exit(main())

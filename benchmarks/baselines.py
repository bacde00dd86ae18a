"""The feature build four ways: segml, and hand-written pandas, Polars and DuckDB SQL.

Each ``*_features(store)`` reads the Parquet store written by ``generate.py`` and returns the
table ``segml.build_features`` returns with default parameters: one row per customer known at
the cutoff, the same columns in the same order, the same values. The hand-written versions apply
segml's data hygiene (guest rows dropped, exact duplicate order lines dropped, zero/negative/null
prices dropped, returns flagged by negative quantity or a return status, top-8 categories learned
from spend before the cutoff, repeated customer rows merged by taking each column's largest value)
and its definitions (gaps between orders in whole seconds for their median and standard
deviation, the mean gap as the span over the number of gaps), but skip its validation
(unparseable values, empty tables) and its text normalisation (trimming, lower-casing event
types): the generated text is already clean. Money is summed in floating point rather than in
segml's exact integer micro-units; for amounts in cents the two agree to the last digit or so.
They group on the stored int64 ids and give ``customer_id`` as text at the end, as segml does.
``check_equal.py`` proves the four agree.

Imports (numpy aside) happen inside the functions on purpose: each benchmark child process
loads only the engine it measures, so its peak memory is its own (``run.py`` imports that engine
before it starts the clock).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np

AS_OF = "2024-10-01"
US_PER_DAY = 86_400_000_000
# Polars divides a column by a constant by multiplying with the reciprocal, which differs from a
# true division in the last bit for about a fifth of timestamps; segml's epoch days carry those
# bits, and its gaps rounded to whole seconds can flip at a half second on them. pandas and
# DuckDB multiply by the same reciprocal so that all four agree exactly.
DAYS_PER_US = 1 / US_PER_DAY
WINDOWS = (7, 30, 90, 365)  # FeatureBuilder defaults
TOP_K = 8
ENGAGEMENT_WINDOW = 90
INTENT_WINDOWS = (7, 30)  # sorted({7, intent_window_days=30})
RETURN_STATUSES = ("cancelled", "canceled", "returned", "refunded")  # OrdersConfig default
CONTACTS = ("email_open", "email_click", "sms_click", "ad_click")
ENGAGEMENT_COUNTS = {
    "email_opens": "email_open",
    "email_clicks": "email_click",
    "sms_clicks": "sms_click",
    "ad_clicks": "ad_click",
}
INTENT_COUNTS = {"product_views": "product_view", "cart_adds": "add_to_cart", "searches": "search"}
SECONDS = 86_400  # gaps between orders are whole seconds
NO_PURCHASE = -1e9  # segml's "never purchased" time for the since-purchase counts


def cutoff_days(as_of: str) -> float:
    """The cutoff as float epoch days: integer microseconds over a day's microseconds."""
    micros = (dt.datetime.fromisoformat(as_of) - dt.datetime(1970, 1, 1)) // dt.timedelta(
        microseconds=1
    )
    return micros / US_PER_DAY


def slugs(categories: list[str]) -> dict[str, str]:
    """category -> column-safe, unique name (as segml.features.affinity.category_columns)."""
    out: dict[str, str] = {}
    for cat in categories:
        name = re.sub(r"[^0-9a-z]+", "_", str(cat).lower()).strip("_") or "blank"
        while name in out.values() or name == "other":
            name += "_"
        out[cat] = name
    return out


def feature_columns(categories: list[str]) -> list[str]:
    """segml's output columns, in its order, for the given top categories."""
    cols = ["customer_id", "rfm__recency_days", "rfm__frequency", "rfm__monetary_total"]
    cols += ["rfm__monetary_mean", "rfm__monetary_max", "rfm__tenure_days"]
    cols += [f"rfm__gap_{s}_days" for s in ("mean", "median", "std")]
    cols += ["rfm__recency_gap_ratio", "rfm__returns", "rfm__return_value_ratio"]
    cols += [f"rfm__{k}_{w}d" for w in WINDOWS for k in ("orders", "revenue")]
    names = list(slugs(categories).values())
    cols += [f"affinity__spend_share_{s}" for s in names]
    cols += ["affinity__spend_share_other", "affinity__category_entropy"]
    cols += ["affinity__categories_bought", *[f"affinity__view_share_{s}" for s in names]]
    cols += [f"engagement__{k}_{ENGAGEMENT_WINDOW}d" for k in ENGAGEMENT_COUNTS]
    cols += ["engagement__email_click_rate", "engagement__days_since_engagement"]
    cols += [f"engagement__{k}_{ENGAGEMENT_WINDOW}d" for k in ("sessions", "active_days")]
    cols += [f"intent__{k}_{w}d" for w in INTENT_WINDOWS for k in INTENT_COUNTS]
    cols += ["intent__views_since_purchase", "intent__cart_adds_since_purchase"]
    cols += ["intent__abandoned_cart", "intent__abandoned_checkout"]
    cols += ["intent__days_since_cart_add", "intent__days_since_product_view"]
    cols += [f"attr__{c}" for c in ("country", "region", "language")]
    cols += ["attr__email_consent", "attr__sms_consent", "attr__signup_tenure_days"]
    return cols


def _files(store: Path, table: str) -> str:
    return str(Path(store) / table / "*.parquet")


# --- segml -------------------------------------------------------------------------------------


def segml_features(store: Path, as_of: str = AS_OF) -> Any:
    """segml's public API on the three Parquet folders (returns pandas, as for any file input)."""
    import segml

    tables = {t: str(Path(store) / t) for t in ("orders", "events", "customers")}
    return segml.build_features(tables, as_of=as_of)


def segml_table_features(store: Path, as_of: str = AS_OF) -> Any:
    """What ``segml features`` (the CLI) runs: the same build, kept as a Polars table."""
    import segml
    from segml.schema import prepare

    tables = {t: str(Path(store) / t) for t in ("orders", "events", "customers")}
    shop = prepare(tables)
    builder = segml.FeatureBuilder().fit(shop, as_of=as_of)
    return builder.transform_table(shop, as_of=as_of)


# --- the one-pass limit --------------------------------------------------------------------------

ONEPASS_WINDOWS = (7, 30, 90)
ONEPASS_TYPES = {
    "events": None,
    "views": "product_view",
    "carts": "add_to_cart",
    "searches": "search",
}


def onepass_features(store: Path, as_of: str = AS_OF) -> Any:
    """The physical limit: a minimal customer table, each table read once, one hash aggregation.

    Not segml's features: a lighter table of 46 columns (recency, frequency, monetary, tenure,
    order and revenue counts and event counts by type in 7/30/90-day windows, the spend share
    of each of the generator's 20 categories (known in advance, so no pass learns them), click
    rate). No validation, no deduplication, no returns, no sessions or distinct days, plain
    floating-point sums: one streaming group_by per table and a join of the two small results.
    """
    import polars as pl
    from generate import CATEGORIES

    cut = cutoff_days(as_of)
    cut_ts = dt.datetime.fromisoformat(as_of)
    t, et = pl.col("t"), pl.col("event_type")

    def days(col: str) -> pl.Expr:
        return (pl.col(col).dt.epoch("us").cast(pl.Float64) * DAYS_PER_US).alias("t")

    orders = (
        pl.scan_parquet(_files(store, "orders"))
        .filter((pl.col("order_time") < cut_ts) & pl.col("customer_id").is_not_null())
        .filter(pl.col("unit_price") > 0)
        .select(
            "customer_id", "order_id", "category", days("order_time"),
            (pl.col("quantity") * pl.col("unit_price")).alias("revenue"),
        )
        .group_by("customer_id")
        .agg(
            (cut - t.max()).alias("recency_days"),
            pl.col("order_id").n_unique().cast(pl.Float64).alias("frequency"),
            pl.col("revenue").sum().alias("monetary"),
            (cut - t.min()).alias("tenure_days"),
            *[e for w in ONEPASS_WINDOWS for e in (
                (t >= cut - w).sum().cast(pl.Float64).alias(f"order_lines_{w}d"),
                pl.col("revenue").filter(t >= cut - w).sum().alias(f"revenue_{w}d"),
            )],
            *[pl.col("revenue").filter(pl.col("category") == c).sum().alias(f"_spend_{c}")
              for c in CATEGORIES],
        )
    )  # fmt: skip
    events = (
        pl.scan_parquet(_files(store, "events"))
        .filter(pl.col("customer_id").is_not_null() & (pl.col("event_time") < cut_ts))
        .select("customer_id", days("event_time"), "event_type")
        .group_by("customer_id")
        .agg(
            *[((t >= cut - w) & (True if e is None else et == e)).sum().cast(pl.Float64)
              .alias(f"{k}_{w}d") for w in ONEPASS_WINDOWS for k, e in ONEPASS_TYPES.items()],
            pl.len().cast(pl.Float64).alias("events_all"),
            (cut - t.max()).alias("days_since_event"),
            (et == "email_open").sum().alias("_opens"),
            (et == "email_click").sum().alias("_clicks"),
        )
    )  # fmt: skip
    o, e = pl.collect_all([orders, events], engine="streaming")
    share = [
        (pl.col(f"_spend_{c}") / pl.col("monetary")).alias(f"spend_share_{c}") for c in CATEGORIES
    ]
    click_rate = pl.when(pl.col("_opens") > 0).then(pl.col("_clicks") / pl.col("_opens"))
    return (
        o.join(e, on="customer_id", how="full", coalesce=True)
        .with_columns(*share, click_rate.alias("email_click_rate"))
        .drop(pl.selectors.starts_with("_"))
        .with_columns(pl.col("customer_id").cast(pl.String))
    )


# --- Polars ------------------------------------------------------------------------------------


def polars_features(store: Path, as_of: str = AS_OF) -> Any:
    """Lazy Polars queries on scan_parquet, run on the streaming engine.

    Three small results are collected first (the top categories, each customer's last
    purchase, the per-customer aggregates); the joins then run on those small tables. One query
    that reuses the events scan both to build the last-purchase table and to probe it makes
    Polars buffer the whole events stream until the build side is done (memory grows with the
    data), so the last purchase is its own query.
    """
    import polars as pl

    cut = cutoff_days(as_of)
    cut_ts = dt.datetime.fromisoformat(as_of)
    t, et, cat = pl.col("t"), pl.col("event_type"), pl.col("category")

    def days(col: str) -> pl.Expr:
        return (pl.col(col).dt.epoch("us").cast(pl.Float64) / US_PER_DAY).alias("t")

    orders = (
        pl.scan_parquet(_files(store, "orders"))
        .filter(pl.col("order_time") < cut_ts)
        .filter(pl.col("customer_id").is_not_null() & (pl.col("unit_price") > 0))
        .filter(pl.col("quantity").is_not_null())
        .unique()
        .select(
            "customer_id", "order_id", "category", days("order_time"),
            (pl.col("quantity") * pl.col("unit_price")).alias("revenue"),
            ((pl.col("quantity") < 0) | pl.col("status").str.to_lowercase()
             .is_in(RETURN_STATUSES).fill_null(False)).alias("is_return"),
        )
    )  # fmt: skip
    bought = orders.filter(~pl.col("is_return"))
    spend = bought.filter(pl.col("revenue") > 0)
    top = (
        spend.filter(cat.is_not_null()).group_by("category").agg(pl.col("revenue").sum())
        .sort(["revenue", "category"], descending=[True, False]).head(TOP_K)
        .collect(engine="streaming").get_column("category").to_list()
    )  # fmt: skip
    names = slugs(top)
    events = (
        pl.scan_parquet(_files(store, "events"))
        .filter(pl.col("customer_id").is_not_null() & (pl.col("event_time") < cut_ts))
        .select("customer_id", days("event_time"), "event_type", "category", "session_id")
    )
    customers = (
        pl.scan_parquet(_files(store, "customers"))
        .filter(pl.col("customer_id").is_not_null())
        .with_columns(pl.col("email_consent", "sms_consent").fill_null(False))
        .group_by("customer_id")
        .agg(pl.all().max())
    )

    per_order = bought.group_by("customer_id", "order_id").agg(t.min(), pl.col("revenue").sum())
    gap_s = (t.sort().diff() * SECONDS).round(0).cast(pl.Int64)  # whole seconds
    rfm = per_order.group_by("customer_id").agg(
        (cut - t.max()).alias("rfm__recency_days"),
        pl.len().cast(pl.Float64).alias("rfm__frequency"),
        pl.col("revenue").sum().alias("rfm__monetary_total"),
        pl.col("revenue").max().alias("rfm__monetary_max"),
        (cut - t.min()).alias("rfm__tenure_days"),
        (t.max() - t.min()).alias("_span"),
        (gap_s.median() / SECONDS).alias("rfm__gap_median_days"),
        gap_s.sum().alias("_gap_s1"),
        (gap_s * gap_s).sum().alias("_gap_s2"),
        t.max().alias("_last_order"),
        *[e for w in WINDOWS for e in (
            (t >= cut - w).sum().cast(pl.Float64).alias(f"rfm__orders_{w}d"),
            pl.col("revenue").filter(t >= cut - w).sum().alias(f"rfm__revenue_{w}d"),
        )],
    )  # fmt: skip
    returns = (
        orders.filter(pl.col("is_return"))
        .group_by("customer_id")
        .agg(
            pl.col("order_id").n_unique().cast(pl.Float64).alias("rfm__returns"),
            pl.col("revenue").abs().sum().alias("_returned"),
        )
    )
    per_cat = (
        spend.with_columns(cat.fill_null("unknown"))
        .group_by("customer_id", "category").agg(pl.col("revenue").sum().alias("s"))
    )  # fmt: skip
    p = pl.col("s") / pl.col("s").sum()
    affinity = per_cat.group_by("customer_id").agg(
        pl.col("s").sum().alias("_spend_total"),
        (-(p * p.log(2))).sum().alias("affinity__category_entropy"),
        pl.len().cast(pl.Float64).alias("affinity__categories_bought"),
        *[pl.col("s").filter(cat == c).sum().alias(f"_spend_{s}") for c, s in names.items()],
    )
    last_purchase = (
        pl.concat([
            bought.select("customer_id", "t"),
            events.filter(et == "purchase").select("customer_id", "t"),
        ])
        .group_by("customer_id").agg(t.max().alias("_last_purchase"))
        .collect(engine="streaming")
    )  # fmt: skip
    activity = _polars_event_agg(
        events.join(last_purchase.lazy(), on="customer_id", how="left"), cut, names
    )
    distinct = _polars_distinct(events, cut)
    frames = pl.collect_all(
        [rfm, returns, affinity, activity, *distinct, customers], engine="streaming"
    )
    signed_up = frames[-1].filter(pl.col("signup_time") < cut_ts)
    known = pl.concat([f.select("customer_id") for f in [*frames[:-1], signed_up]]).unique()
    plan = known.lazy()
    for frame in frames:
        plan = plan.join(frame.lazy(), on="customer_id", how="left")
    out = plan.select(_polars_finish(cut, cut_ts, names)).collect()
    return out.select(feature_columns(top))


def _polars_distinct(events: Any, cut: float) -> list[Any]:
    """Active days and sessions in the engagement window, as distinct (customer, key) pairs.

    (``n_unique`` inside the big group_by makes Polars hold the whole input in memory.)
    A session is its id, or for events without one the day they happened on.
    """
    import polars as pl

    recent = events.filter(pl.col("t") >= cut - ENGAGEMENT_WINDOW).with_columns(
        pl.col("t").floor().alias("day")
    )
    web = recent.filter(~pl.col("event_type").is_in(CONTACTS))
    with_id = web.filter(pl.col("session_id").is_not_null())
    without = web.filter(pl.col("session_id").is_null())

    def count(frame: Any, key: str, name: str) -> Any:
        pairs = frame.select("customer_id", key).unique()
        return pairs.group_by("customer_id").agg(pl.len().alias(name))

    sessions = pl.concat([count(with_id, "session_id", "n"), count(without, "day", "n")])
    return [
        count(recent, "day", "_active_days"),
        sessions.group_by("customer_id").agg(pl.col("n").sum().alias("_sessions")),
    ]


def _polars_event_agg(ev: Any, cut: float, names: dict[str, str]) -> Any:
    import polars as pl

    t, et, cat = pl.col("t"), pl.col("event_type"), pl.col("category")
    recent = t >= cut - ENGAGEMENT_WINDOW
    after = t > pl.col("_last_purchase").fill_null(NO_PURCHASE)
    view = et == "product_view"
    return ev.group_by("customer_id").agg(
        *[(recent & (et == e)).sum().cast(pl.Float64).alias(f"engagement__{k}_{ENGAGEMENT_WINDOW}d")
          for k, e in ENGAGEMENT_COUNTS.items()],
        (et == "email_open").sum().alias("_opens_all"),
        (et == "email_click").sum().alias("_clicks_all"),
        t.filter(et.is_in(CONTACTS)).max().alias("_last_contact"),
        *[((t >= cut - w) & (et == e)).sum().cast(pl.Float64).alias(f"intent__{k}_{w}d")
          for w in INTENT_WINDOWS for k, e in INTENT_COUNTS.items()],
        (after & view).sum().cast(pl.Float64).alias("intent__views_since_purchase"),
        (after & (et == "add_to_cart")).sum().cast(pl.Float64)
        .alias("intent__cart_adds_since_purchase"),
        (after & (et == "begin_checkout")).sum().alias("_checkouts_since"),
        t.filter(et == "add_to_cart").max().alias("_last_cart"),
        t.filter(view).max().alias("_last_view"),
        view.sum().alias("_views_total"),
        *[(view & (cat == c)).sum().alias(f"_views_{s}") for c, s in names.items()],
    )  # fmt: skip


def _polars_finish(cut: float, cut_ts: dt.datetime, names: dict[str, str]) -> list[Any]:
    import polars as pl

    def share(num: str, den: str) -> pl.Expr:
        return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den))

    zero = [f"rfm__{k}_{w}d" for w in WINDOWS for k in ("orders", "revenue")]
    zero += ["rfm__frequency", "rfm__monetary_total", "rfm__returns", "affinity__categories_bought"]
    zero += [f"engagement__{k}_{ENGAGEMENT_WINDOW}d" for k in ENGAGEMENT_COUNTS]
    zero += [f"intent__{k}_{w}d" for w in INTENT_WINDOWS for k in INTENT_COUNTS]
    zero += ["intent__views_since_purchase", "intent__cart_adds_since_purchase"]
    spend_sum = pl.sum_horizontal([pl.col(f"_spend_{s}") for s in names.values()])
    n_gaps = pl.col("rfm__frequency") - 1
    gap_mean = pl.when(n_gaps > 0).then(pl.col("_span") / n_gaps)
    s1, s2 = pl.col("_gap_s1").cast(pl.Float64), pl.col("_gap_s2").cast(pl.Float64)
    gap_var = (s2 - s1 * s1 / n_gaps) / (n_gaps - 1)
    return [
        pl.col("customer_id").cast(pl.String),
        *[pl.col(c).fill_null(0.0) for c in zero],
        "rfm__recency_days", "rfm__monetary_max", "rfm__tenure_days", "rfm__gap_median_days",
        share("rfm__monetary_total", "rfm__frequency").alias("rfm__monetary_mean"),
        gap_mean.alias("rfm__gap_mean_days"),
        pl.when(n_gaps > 1).then(gap_var.clip(lower_bound=0.0).sqrt() / SECONDS)
        .alias("rfm__gap_std_days"),
        pl.when(gap_mean > 0).then(pl.col("rfm__recency_days") / gap_mean)
        .alias("rfm__recency_gap_ratio"),
        share("_returned", "rfm__monetary_total").alias("rfm__return_value_ratio"),
        *[share(f"_spend_{s}", "_spend_total").alias(f"affinity__spend_share_{s}")
          for s in names.values()],
        pl.when(pl.col("_spend_total") > 0)
        .then((1.0 - spend_sum / pl.col("_spend_total")).clip(0.0, 1.0))
        .alias("affinity__spend_share_other"),
        "affinity__category_entropy",
        *[share(f"_views_{s}", "_views_total").alias(f"affinity__view_share_{s}")
          for s in names.values()],
        share("_clicks_all", "_opens_all").alias("engagement__email_click_rate"),
        (cut - pl.col("_last_contact")).alias("engagement__days_since_engagement"),
        pl.col("_sessions").fill_null(0).cast(pl.Float64)
        .alias(f"engagement__sessions_{ENGAGEMENT_WINDOW}d"),
        pl.col("_active_days").fill_null(0).cast(pl.Float64)
        .alias(f"engagement__active_days_{ENGAGEMENT_WINDOW}d"),
        (pl.col("intent__cart_adds_since_purchase").fill_null(0) > 0).cast(pl.Float64)
        .alias("intent__abandoned_cart"),
        (pl.col("_checkouts_since").fill_null(0) > 0).cast(pl.Float64)
        .alias("intent__abandoned_checkout"),
        (cut - pl.col("_last_cart")).alias("intent__days_since_cart_add"),
        (cut - pl.col("_last_view")).alias("intent__days_since_product_view"),
        *[pl.col(c).alias(f"attr__{c}") for c in ("country", "region", "language")],
        *[pl.col(c).fill_null(False).cast(pl.Float64).alias(f"attr__{c}")
          for c in ("email_consent", "sms_consent")],
        pl.when(pl.col("signup_time") < cut_ts)
        .then(cut - pl.col("signup_time").dt.epoch("us").cast(pl.Float64) / US_PER_DAY)
        .alias("attr__signup_tenure_days"),
    ]  # fmt: skip


# --- DuckDB ------------------------------------------------------------------------------------


def duckdb_features(store: Path, as_of: str = AS_OF) -> Any:
    """Hand-written SQL over read_parquet (an in-memory database, default settings)."""
    import duckdb

    cut = repr(cutoff_days(as_of))
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(
        _SQL_ORDERS.format(
            orders=_files(store, "orders"),
            as_of=as_of,
            cut=cut,
            statuses=_sql_list(RETURN_STATUSES),
            days_per_us=repr(DAYS_PER_US),
        )
    )
    top = [r[0] for r in con.execute(_SQL_TOP.format(k=TOP_K)).fetchall()]
    sql = _duckdb_query(store, as_of, cut, slugs(top))
    out = con.sql(sql).to_arrow_table()
    con.close()
    return out.select(feature_columns(top))


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


# Cleaned order lines before the cutoff, as a view (scanned by each query that uses it).
_SQL_ORDERS = """
CREATE VIEW orders AS
SELECT customer_id, order_id, category,
       epoch_us(order_time)::DOUBLE * {days_per_us} AS t,
       quantity * unit_price AS revenue,
       quantity < 0 OR coalesce(lower(status) IN ({statuses}), false) AS is_return
FROM (
    SELECT DISTINCT * FROM read_parquet('{orders}')
    WHERE order_time < TIMESTAMP '{as_of}' AND customer_id IS NOT NULL AND unit_price > 0
      AND quantity IS NOT NULL
)
"""

_SQL_TOP = """
SELECT category FROM orders
WHERE NOT is_return AND revenue > 0 AND category IS NOT NULL
GROUP BY category ORDER BY sum(revenue) DESC, category LIMIT {k}
"""


def _duckdb_query(store: Path, as_of: str, cut: str, names: dict[str, str]) -> str:
    ew = ENGAGEMENT_WINDOW
    contacts = _sql_list(CONTACTS)
    windows = ",\n".join(
        f"count(*) FILTER (t >= {cut} - {w})::DOUBLE AS rfm__orders_{w}d, "
        f"coalesce(sum(revenue) FILTER (t >= {cut} - {w}), 0)::DOUBLE AS rfm__revenue_{w}d"
        for w in WINDOWS
    )
    spend = ",\n".join(
        f"coalesce(sum(s) FILTER (category = '{c}'), 0) AS _spend_{s}" for c, s in names.items()
    )
    engagement = ",\n".join(
        f"count(*) FILTER (t >= {cut} - {ew} AND event_type = '{e}')::DOUBLE "
        f"AS engagement__{k}_{ew}d"
        for k, e in ENGAGEMENT_COUNTS.items()
    )
    intent = ",\n".join(
        f"count(*) FILTER (t >= {cut} - {w} AND event_type = '{e}')::DOUBLE AS intent__{k}_{w}d"
        for w in INTENT_WINDOWS
        for k, e in INTENT_COUNTS.items()
    )
    views = ",\n".join(
        f"count(*) FILTER (event_type = 'product_view' AND category = '{c}') AS _views_{s}"
        for c, s in names.items()
    )
    shares = ",\n".join(
        f"CASE WHEN _spend_total > 0 THEN _spend_{s} / _spend_total END "
        f"AS affinity__spend_share_{s}"
        for s in names.values()
    )
    spend_sum = " + ".join(f"_spend_{s}" for s in names.values()) or "0"
    view_shares = ",\n".join(
        f"CASE WHEN _views_total > 0 THEN _views_{s} / _views_total END AS affinity__view_share_{s}"
        for s in names.values()
    )
    zero = [f"rfm__{k}_{w}d" for w in WINDOWS for k in ("orders", "revenue")]
    zero += [f"engagement__{k}_{ew}d" for k in ENGAGEMENT_COUNTS]
    zero += [f"intent__{k}_{w}d" for w in INTENT_WINDOWS for k in INTENT_COUNTS]
    zero += ["intent__views_since_purchase", "intent__cart_adds_since_purchase"]
    zeros = ",\n".join(f"coalesce({c}, 0)::DOUBLE AS {c}" for c in zero)
    return f"""
WITH events AS NOT MATERIALIZED (
    SELECT customer_id, epoch_us(event_time)::DOUBLE * {DAYS_PER_US!r} AS t, event_type, category,
           session_id
    FROM read_parquet('{_files(store, "events")}')
    WHERE customer_id IS NOT NULL AND event_time < TIMESTAMP '{as_of}'
),
per_order AS (
    SELECT customer_id, order_id, min(t) AS t, sum(revenue) AS revenue
    FROM orders WHERE NOT is_return GROUP BY customer_id, order_id
),
gaps AS (
    SELECT *, round_even((t - lag(t) OVER (PARTITION BY customer_id ORDER BY t, order_id))
                         * 86400, 0)::BIGINT AS gap_s
    FROM per_order
),
rfm AS (
    SELECT customer_id,
           {cut} - max(t) AS rfm__recency_days,
           count(*)::DOUBLE AS rfm__frequency,
           sum(revenue) AS rfm__monetary_total,
           max(revenue) AS rfm__monetary_max,
           {cut} - min(t) AS rfm__tenure_days,
           max(t) - min(t) AS _span,
           median(gap_s) / 86400 AS rfm__gap_median_days,
           sum(gap_s)::DOUBLE AS _s1,
           sum(gap_s * gap_s)::DOUBLE AS _s2,
           {windows}
    FROM gaps GROUP BY customer_id
),
returns AS (
    SELECT customer_id, count(DISTINCT order_id)::DOUBLE AS rfm__returns,
           sum(abs(revenue)) AS _returned
    FROM orders WHERE is_return GROUP BY customer_id
),
per_cat AS (
    SELECT customer_id, coalesce(category, 'unknown') AS category, sum(revenue) AS s
    FROM orders WHERE NOT is_return AND revenue > 0 GROUP BY ALL
),
affinity AS (
    SELECT customer_id, sum(s) AS _spend_total,
           sum(-(s / total) * log2(s / total)) AS affinity__category_entropy,
           count(*)::DOUBLE AS affinity__categories_bought,
           {spend}
    FROM (SELECT *, sum(s) OVER (PARTITION BY customer_id) AS total FROM per_cat)
    GROUP BY customer_id
),
last_purchase AS (
    SELECT customer_id, max(t) AS _last_purchase FROM (
        SELECT customer_id, t FROM orders WHERE NOT is_return
        UNION ALL
        SELECT customer_id, t FROM events WHERE event_type = 'purchase'
    ) GROUP BY customer_id
),
activity AS MATERIALIZED (
    SELECT customer_id,
           {engagement},
           count(*) FILTER (event_type = 'email_open') AS _opens_all,
           count(*) FILTER (event_type = 'email_click') AS _clicks_all,
           max(t) FILTER (event_type IN ({contacts})) AS _last_contact,
           count(DISTINCT floor(t)) FILTER (t >= {cut} - {ew}) AS _active_days,
           count(DISTINCT session_id) FILTER (t >= {cut} - {ew}
               AND event_type NOT IN ({contacts}))
           + count(DISTINCT floor(t)) FILTER (t >= {cut} - {ew}
               AND event_type NOT IN ({contacts}) AND session_id IS NULL) AS _sessions,
           {intent},
           count(*) FILTER (event_type = 'product_view' AND t > _lp)
               AS intent__views_since_purchase,
           count(*) FILTER (event_type = 'add_to_cart' AND t > _lp)
               AS intent__cart_adds_since_purchase,
           count(*) FILTER (event_type = 'begin_checkout' AND t > _lp) AS _checkouts_since,
           max(t) FILTER (event_type = 'add_to_cart') AS _last_cart,
           max(t) FILTER (event_type = 'product_view') AS _last_view,
           count(*) FILTER (event_type = 'product_view') AS _views_total,
           {views}
    FROM (
        SELECT e.*, coalesce(_last_purchase, {NO_PURCHASE}) AS _lp
        FROM events e LEFT JOIN last_purchase USING (customer_id)
    ) GROUP BY customer_id
),
customers AS (
    SELECT customer_id, max(signup_time) AS signup_time, max(country) AS country,
           max(region) AS region, max(language) AS language,
           max(coalesce(email_consent, false)) AS email_consent,
           max(coalesce(sms_consent, false)) AS sms_consent
    FROM read_parquet('{_files(store, "customers")}')
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
),
known AS (
    SELECT customer_id FROM orders
    UNION SELECT customer_id FROM activity
    UNION SELECT customer_id FROM customers WHERE signup_time < TIMESTAMP '{as_of}'
)
SELECT
    customer_id::VARCHAR AS customer_id,
    {zeros},
    rfm__recency_days, coalesce(rfm__frequency, 0) AS rfm__frequency,
    coalesce(rfm__monetary_total, 0) AS rfm__monetary_total,
    CASE WHEN rfm__frequency > 0 THEN rfm__monetary_total / rfm__frequency END
        AS rfm__monetary_mean,
    rfm__monetary_max, rfm__tenure_days,
    CASE WHEN rfm__frequency > 1 THEN _span / (rfm__frequency - 1) END AS rfm__gap_mean_days,
    rfm__gap_median_days,
    CASE WHEN rfm__frequency > 2
         THEN sqrt(greatest((_s2 - _s1 * _s1 / (rfm__frequency - 1)) / (rfm__frequency - 2), 0))
              / 86400 END AS rfm__gap_std_days,
    CASE WHEN rfm__frequency > 1 AND _span > 0
         THEN rfm__recency_days / (_span / (rfm__frequency - 1)) END AS rfm__recency_gap_ratio,
    coalesce(rfm__returns, 0) AS rfm__returns,
    CASE WHEN rfm__monetary_total > 0 THEN _returned / rfm__monetary_total END
        AS rfm__return_value_ratio,
    {shares},
    CASE WHEN _spend_total > 0 THEN least(greatest(1.0 - ({spend_sum}) / _spend_total, 0), 1) END
        AS affinity__spend_share_other,
    affinity__category_entropy,
    coalesce(affinity__categories_bought, 0) AS affinity__categories_bought,
    {view_shares},
    CASE WHEN _opens_all > 0 THEN _clicks_all / _opens_all END AS engagement__email_click_rate,
    {cut} - _last_contact AS engagement__days_since_engagement,
    coalesce(_sessions, 0)::DOUBLE AS engagement__sessions_{ew}d,
    coalesce(_active_days, 0)::DOUBLE AS engagement__active_days_{ew}d,
    (coalesce(intent__cart_adds_since_purchase, 0) > 0)::DOUBLE AS intent__abandoned_cart,
    (coalesce(_checkouts_since, 0) > 0)::DOUBLE AS intent__abandoned_checkout,
    {cut} - _last_cart AS intent__days_since_cart_add,
    {cut} - _last_view AS intent__days_since_product_view,
    country AS attr__country, region AS attr__region, language AS attr__language,
    coalesce(email_consent, false)::DOUBLE AS attr__email_consent,
    coalesce(sms_consent, false)::DOUBLE AS attr__sms_consent,
    CASE WHEN signup_time < TIMESTAMP '{as_of}'
         THEN {cut} - epoch_us(signup_time)::DOUBLE * {DAYS_PER_US!r} END
        AS attr__signup_tenure_days
FROM known
LEFT JOIN rfm USING (customer_id)
LEFT JOIN returns USING (customer_id)
LEFT JOIN affinity USING (customer_id)
LEFT JOIN activity USING (customer_id)
LEFT JOIN customers USING (customer_id)
"""


# --- pandas ------------------------------------------------------------------------------------


def pandas_features(store: Path, as_of: str = AS_OF) -> Any:
    """Plain pandas: read the needed columns into memory, then groupby (categoricals for text)."""
    import pandas as pd

    cut = cutoff_days(as_of)
    before = [("order_time", "<", pd.Timestamp(as_of))]
    o = pd.read_parquet(
        Path(store) / "orders", filters=before, read_dictionary=["category", "status"]
    )
    o = o[o["customer_id"].notna() & (o["unit_price"] > 0) & o["quantity"].notna()]
    o = o.drop_duplicates()
    statuses = [s for s in o["status"].cat.categories if s.lower() in RETURN_STATUSES]
    o = pd.DataFrame({
        "customer_id": o["customer_id"].astype("int64"),
        "order_id": o["order_id"],
        "category": o["category"],
        "t": _pandas_days(o["order_time"]),
        "revenue": o["quantity"] * o["unit_price"],
        "is_return": (o["quantity"] < 0) | o["status"].isin(statuses),
    })  # fmt: skip
    bought = o[~o["is_return"]]
    spend = bought[bought["revenue"] > 0]
    top_spend = spend.groupby("category", observed=True)["revenue"].sum().reset_index()
    top_spend["category"] = top_spend["category"].astype(str)
    top = top_spend.sort_values(["revenue", "category"], ascending=[False, True])
    top = top["category"].head(TOP_K).tolist()
    names = slugs(top)
    frames = [_pandas_rfm(bought, cut), _pandas_returns(o), _pandas_affinity(spend, names)]
    last_order = bought.groupby("customer_id")["t"].max()
    known = [o["customer_id"].unique()]
    del o, bought, spend

    e = pd.read_parquet(
        Path(store) / "events",
        columns=["customer_id", "event_time", "event_type", "category", "session_id"],
        filters=[("event_time", "<", pd.Timestamp(as_of))],
        read_dictionary=["event_type", "category"],
    )
    e = e[e["customer_id"].notna()]
    e = pd.DataFrame({
        "customer_id": e["customer_id"].astype("int64"),
        "t": _pandas_days(e["event_time"]),
        "event_type": e["event_type"],
        "category": e["category"],
        "session_id": e["session_id"],
    })  # fmt: skip
    frames += [_pandas_engagement(e, cut), _pandas_intent(e, cut, last_order)]
    frames.append(_pandas_views(e, names))
    known.append(e["customer_id"].unique())
    del e

    c = pd.read_parquet(Path(store) / "customers")
    c = c[c["customer_id"].notna()].astype({"customer_id": "int64"})
    c[["email_consent", "sms_consent"]] = c[["email_consent", "sms_consent"]].eq(True)
    c = c.groupby("customer_id").max()  # a repeated id: each column's largest value
    known.append(c.index[c["signup_time"] < pd.Timestamp(as_of)].to_numpy())
    frames.append(_pandas_attributes(c, cut, as_of))

    ids = pd.Index(np.unique(np.concatenate(known)), name="customer_id")
    out = pd.DataFrame(index=ids).join(frames, how="left")
    out = _pandas_finish(out, cut, names)
    out.insert(0, "customer_id", ids.astype(str))
    return out[feature_columns(top)].reset_index(drop=True)


def _pandas_days(ts: Any) -> Any:
    return ts.to_numpy().astype("datetime64[us]").astype(np.int64) * DAYS_PER_US


def _pandas_rfm(bought: Any, cut: float) -> Any:
    import pandas as pd

    per_order = (
        bought.groupby(["customer_id", "order_id"], sort=False)
        .agg(t=("t", "min"), revenue=("revenue", "sum"))
        .reset_index()
        .sort_values(["customer_id", "t"])
    )  # fmt: skip
    by = per_order.groupby("customer_id")
    gap_s = np.round(by["t"].diff().to_numpy() * SECONDS)  # whole seconds, half to even
    gaps = per_order.loc[~np.isnan(gap_s), ["customer_id"]].assign(
        s=gap_s[~np.isnan(gap_s)].astype(np.int64)
    )
    gaps["s2"] = gaps["s"] * gaps["s"]
    by_gap = gaps.groupby("customer_id")
    out = pd.DataFrame({
        "rfm__recency_days": cut - by["t"].max(),
        "rfm__frequency": by.size().astype(float),
        "rfm__monetary_total": by["revenue"].sum(),
        "rfm__monetary_max": by["revenue"].max(),
        "rfm__tenure_days": cut - by["t"].min(),
        "_span": by["t"].max() - by["t"].min(),
        "rfm__gap_median_days": by_gap["s"].median() / SECONDS,
        "_gap_s1": by_gap["s"].sum().astype(float),
        "_gap_s2": by_gap["s2"].sum().astype(float),
    })  # fmt: skip
    for w in WINDOWS:
        inside = per_order["t"] >= cut - w
        out[f"rfm__orders_{w}d"] = inside.groupby(per_order["customer_id"]).sum().astype(float)
        revenue = per_order["revenue"].where(inside, 0.0)
        out[f"rfm__revenue_{w}d"] = revenue.groupby(per_order["customer_id"]).sum()
    return out


def _pandas_returns(o: Any) -> Any:
    ret = o.loc[o["is_return"], ["customer_id", "order_id", "revenue"]]
    by = ret.groupby("customer_id")
    out = by.agg(rfm__returns=("order_id", "nunique"))
    out["rfm__returns"] = out["rfm__returns"].astype(float)
    out["_returned"] = ret["revenue"].abs().groupby(ret["customer_id"]).sum()
    return out


def _pandas_affinity(spend: Any, names: dict[str, str]) -> Any:
    import pandas as pd

    category = spend["category"]
    if "unknown" not in category.cat.categories:
        category = category.cat.add_categories("unknown")
    per_cat = (
        spend.groupby(["customer_id", category.fillna("unknown")], observed=True)["revenue"]
        .sum().rename("s").reset_index()
    )  # fmt: skip
    by = per_cat.groupby("customer_id")
    p = per_cat["s"] / by["s"].transform("sum")
    out = pd.DataFrame({
        "_spend_total": by["s"].sum(),
        "affinity__category_entropy": (-(p * np.log2(p))).groupby(per_cat["customer_id"]).sum(),
        "affinity__categories_bought": by.size().astype(float),
    })  # fmt: skip
    wide = per_cat[per_cat["category"].isin(list(names))]
    wide = wide.pivot_table(index="customer_id", columns="category", values="s", observed=True,
                            aggfunc="sum")  # fmt: skip
    wide.columns = wide.columns.astype(str)
    for c, s in names.items():
        col = wide[c] if c in wide.columns else pd.Series(dtype=float)
        out[f"_spend_{s}"] = col.reindex(out.index).fillna(0.0)
    return out


def _type_counts(e: Any, mask: Any) -> Any:
    """customers x event types: how many events of each type among the rows in ``mask``."""
    sub = e.loc[mask, ["customer_id", "event_type"]]
    counts = sub.groupby(["customer_id", "event_type"], observed=True).size().unstack(fill_value=0)
    counts.columns = counts.columns.astype(str)
    return counts


def _col(frame: Any, name: str) -> Any:
    import pandas as pd

    return frame[name] if name in frame.columns else pd.Series(0, index=frame.index)


def _pandas_engagement(e: Any, cut: float) -> Any:
    import pandas as pd

    ew = ENGAGEMENT_WINDOW
    recent = e["t"] >= cut - ew
    contact = e["event_type"].isin(CONTACTS)
    window = _type_counts(e, recent)
    alltime = _type_counts(e, slice(None))
    out = pd.DataFrame(index=alltime.index)
    for k, typ in ENGAGEMENT_COUNTS.items():
        out[f"engagement__{k}_{ew}d"] = _col(window, typ).astype(float)
    out["_opens_all"] = _col(alltime, "email_open")
    out["_clicks_all"] = _col(alltime, "email_click")
    out["_views_total"] = _col(alltime, "product_view")
    out["_last_contact"] = e.loc[contact, "t"].groupby(e.loc[contact, "customer_id"]).max()
    day = np.floor(e["t"])
    out["_active_days"] = day[recent].groupby(e.loc[recent, "customer_id"]).nunique()
    web = recent & ~contact
    has_session = web & e["session_id"].notna()
    no_session = web & e["session_id"].isna()
    sessions = e.loc[has_session, "session_id"].groupby(e.loc[has_session, "customer_id"]).nunique()
    days = day[no_session].groupby(e.loc[no_session, "customer_id"]).nunique()
    out["_sessions"] = sessions.add(days, fill_value=0).astype(float)
    return out


def _pandas_intent(e: Any, cut: float, last_order: Any) -> Any:
    import pandas as pd

    etype = e["event_type"]
    out = []
    for w in INTENT_WINDOWS:
        counts = _type_counts(e, e["t"] >= cut - w)
        out += [_col(counts, typ).astype(float).rename(f"intent__{k}_{w}d")
                for k, typ in INTENT_COUNTS.items()]  # fmt: skip
    purchase = etype == "purchase"
    last_event = e.loc[purchase, "t"].groupby(e.loc[purchase, "customer_id"]).max()
    last = pd.concat([last_order, last_event], axis=1).max(axis=1)
    marked = etype.isin(["product_view", "add_to_cart", "begin_checkout"])
    sub = e.loc[marked, ["customer_id", "t", "event_type"]]
    after = sub["t"] > sub["customer_id"].map(last).fillna(NO_PURCHASE)
    since = _type_counts(sub, after)
    out += [
        _col(since, "product_view").astype(float).rename("intent__views_since_purchase"),
        _col(since, "add_to_cart").astype(float).rename("intent__cart_adds_since_purchase"),
        _col(since, "begin_checkout").rename("_checkouts_since"),
    ]
    for typ, name in (("add_to_cart", "_last_cart"), ("product_view", "_last_view")):
        rows = etype == typ
        out.append(e.loc[rows, "t"].groupby(e.loc[rows, "customer_id"]).max().rename(name))
    return pd.concat(out, axis=1)


def _pandas_views(e: Any, names: dict[str, str]) -> Any:
    import pandas as pd

    views = e.loc[e["event_type"] == "product_view", ["customer_id", "category"]]
    counts = views.groupby(["customer_id", "category"], observed=True).size().unstack(fill_value=0)
    counts.columns = counts.columns.astype(str)
    return pd.DataFrame({f"_views_{s}": _col(counts, c) for c, s in names.items()})


def _pandas_attributes(c: Any, cut: float, as_of: str) -> Any:
    import pandas as pd

    out = pd.DataFrame(index=c.index)
    for col in ("country", "region", "language"):
        out[f"attr__{col}"] = c[col]
    for col in ("email_consent", "sms_consent"):
        out[f"attr__{col}"] = c[col].eq(True).astype(float)  # missing means no consent
    signup = c["signup_time"]
    tenure = cut - signup.dt.as_unit("us").astype("int64") * DAYS_PER_US
    out["attr__signup_tenure_days"] = tenure.where(signup < pd.Timestamp(as_of))
    return out


def _pandas_finish(out: Any, cut: float, names: dict[str, str]) -> Any:
    def share(num: Any, den: Any) -> Any:
        return (num / den).where(den > 0)

    ew = ENGAGEMENT_WINDOW
    zero = [f"rfm__{k}_{w}d" for w in WINDOWS for k in ("orders", "revenue")]
    zero += ["rfm__frequency", "rfm__monetary_total", "rfm__returns", "affinity__categories_bought"]
    zero += [f"engagement__{k}_{ew}d" for k in ENGAGEMENT_COUNTS]
    zero += [f"intent__{k}_{w}d" for w in INTENT_WINDOWS for k in INTENT_COUNTS]
    zero += ["intent__views_since_purchase", "intent__cart_adds_since_purchase"]
    n_gaps = out["rfm__frequency"] - 1
    gap_mean = (out["_span"] / n_gaps).where(n_gaps > 0)
    s1, s2 = out["_gap_s1"].fillna(0.0), out["_gap_s2"].fillna(0.0)
    gap_var = (s2 - s1 * s1 / n_gaps) / (n_gaps - 1)
    new = {
        "rfm__monetary_mean": share(out["rfm__monetary_total"], out["rfm__frequency"]),
        "rfm__gap_mean_days": gap_mean,
        "rfm__gap_std_days": np.sqrt(gap_var.clip(lower=0.0)).where(n_gaps > 1) / SECONDS,
        "rfm__recency_gap_ratio": share(out["rfm__recency_days"], gap_mean),
        "rfm__return_value_ratio": share(out["_returned"], out["rfm__monetary_total"]),
        "affinity__spend_share_other": (
            1.0 - sum(out[f"_spend_{s}"] for s in names.values()) / out["_spend_total"]
        )
        .clip(0.0, 1.0)
        .where(out["_spend_total"] > 0),
        "engagement__email_click_rate": share(out["_clicks_all"], out["_opens_all"]),
        "engagement__days_since_engagement": cut - out["_last_contact"],
        f"engagement__sessions_{ew}d": out["_sessions"].fillna(0.0),
        f"engagement__active_days_{ew}d": out["_active_days"].fillna(0.0).astype(float),
        "intent__abandoned_cart": (out["intent__cart_adds_since_purchase"].fillna(0) > 0).astype(
            float
        ),
        "intent__abandoned_checkout": (out["_checkouts_since"].fillna(0) > 0).astype(float),
        "intent__days_since_cart_add": cut - out["_last_cart"],
        "intent__days_since_product_view": cut - out["_last_view"],
    }
    for s in names.values():
        new[f"affinity__spend_share_{s}"] = share(out[f"_spend_{s}"], out["_spend_total"])
        new[f"affinity__view_share_{s}"] = share(out[f"_views_{s}"], out["_views_total"])
    for c in zero:
        new[c] = out[c].fillna(0.0).astype(float)
    for c in ("attr__email_consent", "attr__sms_consent"):
        new[c] = out[c].fillna(0.0)
    return out.assign(**new)

"""Benchmark: the 15-segment rule set (configs/segments.yaml) over N synthetic customers.

    .venv/bin/python benchmarks/segments_bench.py --customers 5000000 [--hash-compare]

Builds a customer table in memory (features + scores with realistic shapes: ~45 columns, missing
recency for never-buyers, 0/1 consent flags), then times, each once: ``Segmenter.fit_transform``
(thresholds, conditions, priorities, control draws, consent, report) and writing the run folder
(members.parquet, audiences as Parquet and CSV with the qualifying
scores, report, manifest). ``--hash-compare`` also times the control-draw
hash both ways: DuckDB's vectorised md5 against Python's hashlib in a loop.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from segml.exports import write_segment_run  # noqa: E402
from segml.segments import Segmenter, control_draws  # noqa: E402

CATEGORIES = ("home_decor", "electronics", "beauty", "sports", "kitchen", "fashion")


def customers(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frequency = rng.poisson(2.5, n).astype(float)
    bought = frequency > 0

    def where(mask: np.ndarray, values: np.ndarray) -> pl.Series:
        return pl.Series(np.where(mask, values, np.nan)).fill_nan(None)

    score = {k: rng.beta(a, b, n) for k, a, b in (("purchase", 2, 5), ("lapse", 2, 3))}
    score["value"] = rng.gamma(2.0, 50.0, n)
    columns = {
        "rfm__recency_days": where(bought, rng.exponential(120, n)),
        "rfm__frequency": frequency,
        "rfm__monetary_total": frequency * rng.gamma(2.0, 30.0, n),
        "rfm__tenure_days": where(bought, rng.uniform(1, 700, n)),
        "rfm__gap_median_days": where(frequency >= 2, rng.gamma(2.0, 20.0, n)),
        "rfm__monetary_mean": where(bought, rng.gamma(2.0, 30.0, n)),
        "rfm__orders_30d": np.minimum(frequency, rng.poisson(0.3, n)).astype(float),
        "rfm__orders_90d": np.minimum(frequency, rng.poisson(0.8, n)).astype(float),
        "intent__abandoned_cart": (rng.random(n) < 0.3).astype(float),
        "intent__abandoned_checkout": (rng.random(n) < 0.1).astype(float),
        "intent__days_since_cart_add": rng.exponential(60, n),
        "intent__product_views_7d": rng.poisson(0.8, n).astype(float),
        "engagement__sms_clicks_90d": rng.poisson(0.15, n).astype(float),
        "engagement__email_clicks_90d": rng.poisson(0.5, n).astype(float),
        "engagement__sessions_90d": rng.poisson(4, n).astype(float),
        "attr__email_consent": (rng.random(n) < 0.6).astype(float),
        "attr__sms_consent": (rng.random(n) < 0.3).astype(float),
        "attr__country": rng.choice(["GB", "DE", "FR", "NL", "US"], n),
        **{f"score__{k}": v for k, v in score.items()},
        **{f"affinity__spend_share_c{i}": rng.random(n) for i in range(14)},
        **{f"affinity__view_share_{c}": rng.random(n) / 2 for c in CATEGORIES},
    }
    frame = pl.DataFrame(columns).with_columns(
        pl.format("C{}", pl.int_range(n).cast(pl.String).str.zfill(9)).alias("customer_id")
    )
    deciles = [
        (pl.col(f"score__{k}").rank("ordinal") * 10 / (n + 1) + 1)
        .floor()
        .cast(pl.Int8)
        .alias(f"decile__{k}")
        for k in score
    ]
    return frame.with_columns(*deciles).select("customer_id", pl.exclude("customer_id"))


def hash_compare(n: int) -> None:
    frame = pl.select(
        pl.format("C{}", pl.int_range(n).cast(pl.String).str.zfill(9)).alias("customer_id"),
        pl.lit("lapsed_repeat").alias("segment"),
    )
    started = time.perf_counter()
    fast = control_draws(frame, salt="bench")
    duck = time.perf_counter() - started
    started = time.perf_counter()
    slow = [
        int(hashlib.md5(f"{c}|lapsed_repeat|bench".encode()).hexdigest()[:13], 16) / 2**52
        for c in frame.get_column("customer_id").to_list()
    ]
    loop = time.perf_counter() - started
    assert fast.to_list()[:1000] == slow[:1000]
    print(f"control draws for {n:,} ids: DuckDB md5 {duck:.2f} s, hashlib loop {loop:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=5_000_000)
    parser.add_argument("--hash-compare", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    table = customers(args.customers)
    print(f"built {table.height:,} x {table.width} customer table in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    started = time.perf_counter()
    seg = Segmenter(rules=ROOT / "configs" / "segments.yaml")
    members = seg.fit_transform(table)
    seconds = time.perf_counter() - started
    print(seg.report_)
    print(f"segment: {table.height:,} customers, 15 segments: {seconds:.2f} s wall")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        manifest = write_segment_run(
            members,
            seg.report_,
            rule_set=seg.rule_set_,
            out=Path(tmp) / "run",
            customers=table,
            qualifying=seg.qualifying_,
        )
        print(f"write run folder ({len(manifest['files'])} files): "
              f"{time.perf_counter() - started:.2f} s wall")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS {peak:.2f} GB")
    if args.hash_compare:
        hash_compare(args.customers)


if __name__ == "__main__":
    main()

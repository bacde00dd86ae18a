"""Benchmark: the 15-segment rule set (configs/segments.yaml) over N synthetic customers.

    .venv/bin/python benchmarks/segments_bench.py --customers 5000000 [--hash-compare]

Builds a customer table in memory (features + scores with realistic shapes: ~45 columns, missing
recency for never-buyers, 0/1 consent flags), then times, each once: ``Segmenter.fit_segment``
(thresholds, conditions, priorities, control draws, consent, report, and the qualifying values
the audiences carry, read in the same pass) and writing the run folder (``write_exports``,
members.parquet, audiences as Parquet and CSV with the qualifying
scores, report, manifest), first as segml writes it now, then with the audiences built as before
issue 5's speed-up (the wide members frame joined to every qualifying column, then filtered and
sorted once per audience), checking that both give the same bytes in every file.
``--hash-compare`` also times the control-draw
hash both ways: DuckDB's vectorised md5 against Python's hashlib in a loop.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import segml.exports.audiences as audiences  # noqa: E402
from segml.exports import Audience, write_exports  # noqa: E402
from segml.segments import RuleSet, Segmenter, SegmentResult, control_draws  # noqa: E402

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


def audience_frames_before(
    members: pl.DataFrame,
    *,
    rule_set: RuleSet,
    customers: pl.DataFrame,
    qualifying: dict[str, list[str]],
) -> dict[str, pl.DataFrame]:
    """The audiences as segml built them before issue 5's speed-up: the members filtered once
    per segment and again per channel, each audience sorted on its own."""
    flags = [f"eligible__{c}" for c in rule_set.channels]
    eligible = members.filter(pl.any_horizontal(flags))
    wanted = sorted({c for cols in qualifying.values() for c in cols})
    values = customers.select(pl.col("customer_id").cast(pl.String), *wanted)
    eligible = eligible.join(values, on="customer_id", how="left")
    out = {}
    for rule in rule_set.ordered():
        mine = eligible.filter(pl.col("segment") == rule.name)
        window = rule.window
        start = None if window is None or window.start is None else str(window.start)
        end = None if window is None or window.end is None else str(window.end)
        scores = [c for c in qualifying.get(rule.name, []) if c in mine.columns]
        for channel in rule.channels:
            out[f"{rule.name}/{channel}"] = (
                mine.filter(pl.col(f"eligible__{channel}"))
                .select(
                    "customer_id",
                    "segment",
                    pl.lit(channel).alias("channel"),
                    (pl.col("group") == "control").alias("control"),
                    pl.lit(rule.message, pl.String).alias("message"),
                    pl.lit(rule.offer, pl.String).alias("offer"),
                    pl.lit(start, pl.String).alias("window_start"),
                    pl.lit(end, pl.String).alias("window_end"),
                    *scores,
                )
                .sort("customer_id")
            )
    return out


def frames_before(
    members: pl.DataFrame,
    *,
    rule_set: RuleSet,
    values: pl.DataFrame | None,
    qualifying: dict[str, list[str]],
) -> list[Audience]:
    """``audience_frames_before`` in the shape ``write_exports`` reads."""
    assert values is not None
    built = audience_frames_before(
        members, rule_set=rule_set, customers=values.drop("_row"), qualifying=qualifying
    )
    rules = {r.name: r for r in rule_set.ordered()}
    out = []
    for key, frame in built.items():
        segment, channel = key.rsplit("/", 1)
        out.append(Audience(segment, channel, rules[segment], frame))
    return out


def time_writes(result: SegmentResult) -> None:
    """Write the run folder the current way, then the previous way; same bytes in every file."""
    files = {}
    for label in ("now", "before"):
        current = audiences._frames
        if label == "before":
            audiences._frames = frames_before
        try:
            with tempfile.TemporaryDirectory() as tmp:
                started, cpu = time.perf_counter(), sum(os.times()[:2])
                manifest = write_exports(result, out=Path(tmp) / "run").manifest
                wall, cpu = time.perf_counter() - started, sum(os.times()[:2]) - cpu
        finally:
            audiences._frames = current
        files[label] = manifest["files"]
        print(f"write run folder, {label} ({len(manifest['files'])} files): {wall:.2f} s wall, "
              f"{cpu:.2f} s CPU, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    same = files["now"] == files["before"]
    print(f"same rows and SHA-256 in every file, now and before: {same}")
    assert same


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
    result = Segmenter(rules=ROOT / "configs" / "segments.yaml").fit_segment(table)
    seconds = time.perf_counter() - started
    print(result.report)
    print(f"segment: {table.height:,} customers, 15 segments: {seconds:.2f} s wall, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    time_writes(result)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS {peak:.2f} GB")
    if args.hash_compare:
        hash_compare(args.customers)


if __name__ == "__main__":
    main()

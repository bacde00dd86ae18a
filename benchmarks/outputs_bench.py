"""Overhead of the scoring job's lifetime outputs (issue 15: ``clv__*``, ``churn__tier``) at 1M
customers, in one process.

    env OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/outputs_bench.py \
        [--customers 1000000] [--repeats 3]

1. An order log of ``--customers`` customers drawn from a BG/NBD process (purchase rate
   Gamma(0.8, 60 days), drop-out after each purchase Beta(0.6, 2.5), first orders spread over
   two years before the cutoff 2024-10-01, spend Gamma(2, 30) per order), prepared with
   ``segml.schema.prepare``; plus 10% more customers without any order (they have scores).
2. In this process, ``--repeats`` times each, alternating:
   - the job's features + BG/NBD step, what ``segml score`` runs before predicting
     (``model_inputs`` on the same shop: ``CutoffCache.features`` with the default features and
     the default targets' BG/NBD horizons 30/63/90 days);
   - the outputs step exactly as the job calls it (``segml.jobs.outputs.score_outputs`` with the
     default ``scoring.outputs``, the Polars backend, a value model of horizon 90 days), over the
     model-input table with random ``score__value`` and ``score__lapse`` columns.
3. Prints the median seconds of each, the peak RSS added by the outputs step (sampled every
   20 ms), and writes ``benchmarks/out/outputs.json``.

The outputs step does not depend on how the scores were computed, only on the customers and
their orders, so the two steps run on the same shop give the ratio the job sees; the whole job's
time at 1M customers is in the scoring-job section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import psutil

from segml.config import Config
from segml.features import FeatureBuilder
from segml.jobs.outputs import score_outputs
from segml.models.dataset import CutoffCache, materialize
from segml.schema import prepare
from segml.scores.backend import PolarsBackend

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.datetime(2024, 10, 1)
HORIZONS = [30.0, 63.0, 90.0]


def make_orders(n: int, seed: int = 0) -> pd.DataFrame:
    """One line per order of ``n`` customers following BG/NBD, up to the cutoff."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.8, 1 / 60.0, n)  # purchases a day while alive
    drop = rng.beta(0.6, 2.5, n)
    start = rng.uniform(0, 730, n)  # days before the cutoff of the first order
    ids, times = [np.arange(n)], [start]
    t, alive, who = start.copy(), np.ones(n, dtype=bool), np.arange(n)
    for _ in range(200):
        alive &= rng.uniform(size=n) >= drop
        t = t - rng.exponential(1 / np.maximum(rate, 1e-9))
        keep = alive & (t > 0)
        if not keep.any():
            break
        ids.append(who[keep])
        times.append(t[keep])
        alive = keep
    customer = np.concatenate(ids)
    days_before = np.concatenate(times)
    order_time = pd.Timestamp(AS_OF) - pd.to_timedelta(days_before, unit="D")
    return pd.DataFrame(
        {
            "customer_id": customer.astype(str),
            "order_id": np.arange(len(customer)).astype(str),
            "order_time": order_time,
            "quantity": 1,
            "unit_price": rng.gamma(2.0, 30.0, len(customer)).round(2),
        }
    )


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 20 ms)."""

    def __enter__(self) -> PeakRSS:
        self.proc, self.start, self.peak, self.cpu = psutil.Process(), 0, 0, 0.0
        self.start = self.peak = self.proc.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc: Any) -> None:
        self.done.set()
        self.thread.join()


def _timed(fn: Any) -> tuple[float, Any, PeakRSS]:
    """Wall seconds, the result, the memory; ``rss.cpu``: CPU seconds of all threads (the
    machine may be shared: CPU time is what the step costs, wall what it took)."""
    with PeakRSS() as rss:
        started, cpu = time.perf_counter(), time.process_time()
        result = fn()
        seconds = time.perf_counter() - started
        rss.cpu = time.process_time() - cpu
    return seconds, result, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    orders = make_orders(args.customers)
    shop = materialize(prepare({"orders": orders}))
    made = time.perf_counter() - started
    print(f"{args.customers:,} customers, {len(orders):,} orders (made in {made:.0f}s)", flush=True)
    builder = FeatureBuilder().fit(shop, as_of=AS_OF)
    cfg = Config()
    champions = SimpleNamespace(models={"value": SimpleNamespace(metadata_={"horizon_days": 90})})
    rng = np.random.default_rng(1)
    features_s, outputs_s, added, cpu = [], [], [], {"features": [], "outputs": []}
    for _ in range(args.repeats):
        seconds, frame, used = _timed(
            lambda: CutoffCache(shop, builder, horizons=HORIZONS).features(AS_OF)
        )
        features_s.append(seconds)
        cpu["features"].append(used.cpu)
        extra = [f"none-{i}" for i in range(args.customers // 10)]
        ids = pl.concat([frame["customer_id"], pl.Series("customer_id", extra)])
        table = pl.DataFrame({"customer_id": ids}).join(frame, on="customer_id", how="left")
        table = table.with_columns(
            pl.Series("score__value", rng.gamma(2.0, 50.0, table.height)),
            pl.Series("score__lapse", rng.uniform(0, 1, table.height)),
        )
        seconds, (out, summary), rss = _timed(
            lambda t=table: score_outputs(
                t,
                shop,
                backend=PolarsBackend(),
                champions=champions,
                cfg=cfg,
                as_of=AS_OF,  # type: ignore[arg-type]
            )
        )
        outputs_s.append(seconds)
        cpu["outputs"].append(rss.cpu)
        added.append((rss.peak - rss.start) / 1e9)
        print(f"  features + BG/NBD {features_s[-1]:.1f}s ({used.cpu:.1f}s CPU), outputs "
              f"{seconds:.1f}s ({rss.cpu:.1f}s CPU) "
              f"(+{added[-1]:.2f} GB peak), {out.height:,} rows", flush=True)  # fmt: skip
    result = {
        "customers": out.height,
        "customers_with_orders": frame.height,
        "orders": len(orders),
        "features_btyd_seconds": round(statistics.median(features_s), 2),
        "outputs_seconds": round(statistics.median(outputs_s), 2),
        "outputs_over_features": round(
            statistics.median(outputs_s) / statistics.median(features_s), 3
        ),
        "features_btyd_cpu_seconds": round(statistics.median(cpu["features"]), 2),
        "outputs_cpu_seconds": round(statistics.median(cpu["outputs"]), 2),
        "outputs_peak_added_gb": round(max(added), 2),
        "notes": summary["notes"],
        "p_alive_iqr": summary["btyd"]["p_alive"].get("iqr"),
        "load": [round(x, 1) for x in psutil.getloadavg()],
    }
    print(json.dumps(result, indent=2))
    out_dir = ROOT / "benchmarks" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "outputs.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
